// Type-checked (tsc --strict, NodeNext) by test-package.sh inside an empty
// project that installed the npm tarball: the package's own declarations
// must resolve and describe the API as a TypeScript user calls it.
import { Client, CoordError, LockTimeoutError, type LeaderInfo, type Stat, type WatchEvent } from 'coord'

export async function main(servers: string): Promise<void> {
  const client: Client = await Client.connect({ servers, sessionTimeoutMs: 5_000 })
  const path: string = await client.create('/typed/node', 'v1', { makeParents: true })
  const stat: Stat | null = await client.exists(path)
  const names: string[] = await client.children('/typed')
  console.log(stat?.version, names.length)

  const controller = new AbortController()
  try {
    const lock = await client.lock('/typed/lock', { timeoutMs: 1_000, signal: controller.signal })
    const token: bigint = lock.token
    await lock.release()
    console.log(token)
  } catch (err) {
    if (err instanceof LockTimeoutError) console.log('busy')
    else if (err instanceof CoordError) console.log(err.code)
    else throw err
  }

  const term: LeaderInfo = await client.election('/typed/leader').campaign()
  console.log(term.identity, term.token)

  const watch = client.watch('/typed', { recursive: true })
  for await (const event of watch) {
    const e: WatchEvent = event
    if (e.type === 'dataChanged') break
  }
  await client.close()
}
