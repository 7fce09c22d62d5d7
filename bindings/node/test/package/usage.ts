// Type-checked (tsc --strict, NodeNext) by test-package.sh inside an empty
// project that installed the npm tarball: the package's own declarations
// must resolve and describe the API as a TypeScript user calls it.
import {
  Client,
  CoordError,
  LockTimeoutError,
  type ChildStat,
  type LeaderInfo,
  type SessionState,
  type Stat,
  type WatchEvent,
} from 'coord'

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

  const { data, watch: once } = await client.getWatch(path)
  const fired: WatchEvent = await once.wait({ signal: AbortSignal.timeout(1_000) })
  const kids: ChildStat[] = (await client.childrenWithStats('/typed')).children
  console.log(data.length, fired.type, kids[0]?.stat.version)
  await client.removeWatches('/typed', 'persistentRecursive')
  for await (const state of client.stateChanges({ signal: controller.signal })) {
    const s: SessionState = state
    if (s === 'connected') break
  }
  const item: Buffer = await client.queue('/typed/q').take({ timeoutMs: 10, signal: controller.signal })
  await client.doubleBarrier('/typed/db', { memberId: 'a', count: 2 }).enter({ signal: controller.signal })
  console.log(item.length)

  const watch = client.watch('/typed', { recursive: true })
  for await (const event of watch) {
    const e: WatchEvent = event
    if (e.type === 'dataChanged') break
  }
  await client.close()
}
