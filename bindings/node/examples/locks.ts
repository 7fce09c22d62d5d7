// A worked example of the public API, type-checked by `tsc --noEmit` in the
// test command (run it with a TypeScript runner against a live server).
import { Client, CoordError, LockTimeoutError, NoNodeError, type WatchEvent } from 'coord'

export async function main(): Promise<void> {
  await using client = await Client.connect({ sessionTimeoutMs: 5_000 })

  await client.create('/app/config', JSON.stringify({ workers: 4 }), { makeParents: true })
  const text: string = await client.getString('/app/config')
  console.log('config', JSON.parse(text))

  // `await using` releases the lock when the block exits, also on throw.
  {
    await using lock = await client.lock('/app/locks/report', { timeoutMs: 2_000 })
    const token: bigint = lock.token
    lock.signal.addEventListener('abort', () => console.log('lost the lock'))
    await client.set('/app/config', `written under token ${token}`)
  }

  const total = await client.withLock('/app/locks/counter', async (token, signal) => {
    if (signal.aborted) throw new Error('lost')
    return Number(token)
  })
  console.log('total', total)

  const ac = new AbortController()
  setTimeout(() => ac.abort(), 100)
  try {
    await client.lock('/app/locks/busy', { signal: ac.signal })
  } catch (err) {
    if (err instanceof LockTimeoutError) console.log('timed out:', err.code)
  }

  const election = client.election('/app/leader', { identity: 'worker-1' })
  election.on('elected', (term) => console.log('elected with token', term.token))
  election.on('leader', (identity) => console.log('leader is', identity))
  election.on('revoked', ({ reason }) => console.log('revoked:', reason))
  await election.campaign({ timeoutMs: 5_000 })
  console.log('leading:', election.isLeader)
  await election.resign()

  const ac2 = new AbortController()
  setTimeout(() => ac2.abort(), 1_000)
  for await (const ev of client.watch('/app', { recursive: true, signal: ac2.signal })) {
    const e: WatchEvent = ev
    console.log(e.type, e.path, e.zxid)
  }

  const results = await client.transaction().create('/app/a', 'x').check('/app/config').commit()
  console.log(results.map((r) => r.op))

  try {
    await client.get('/missing')
  } catch (err) {
    if (err instanceof NoNodeError) console.log(err.code === 'NO_NODE')
    else if (err instanceof CoordError) console.log('other', err.code)
  }

  const counter = client.counter('/app/hits')
  const hits: number = await counter.increment()
  const q = client.queue('/app/jobs')
  await q.put('job-1')
  const job: Buffer = await q.take({ timeoutMs: 1_000 })
  console.log(hits, job.toString())
}
