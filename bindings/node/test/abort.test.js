'use strict'
// AbortSignal on every blocking call: an aborted call rejects with the
// signal's reason (AbortError) promptly and leaves no waiting node behind.
const test = require('node:test')
const assert = require('node:assert/strict')
const { startServer, connect, uniquePath, sleep, deadline, eventually } = require('./helpers.js')

let server
let client
let other
test.before(async () => {
  server = startServer()
  client = await connect(server)
  other = await connect(server)
})
test.after(async () => {
  await other.close()
  await client.close()
  server.stop()
})

// Names under `path` (none when the node is gone: lock directories are
// containers the server may remove once empty).
async function namesUnder(path) {
  try {
    return await client.children(path)
  } catch (e) {
    if (e.code === 'NO_NODE') return []
    throw e
  }
}

/**
 * Starts `call(signal)`, waits until `path` has `waiting` children (the
 * call's node is there), aborts, and checks: AbortError within 1 s, and
 * `path` back to `after` children within 3 s.
 */
async function abortWhileWaiting({ path, call, waiting, after }) {
  const ac = new AbortController()
  const pending = call(ac.signal)
  pending.catch(() => {})
  await eventually(async () => (await namesUnder(path)).length === waiting, 3000, `${waiting} nodes under ${path}`)
  const at = Date.now()
  ac.abort()
  await assert.rejects(Promise.race([pending, deadline(1000, 'the aborted call')]), { name: 'AbortError' })
  assert.ok(Date.now() - at < 1000, 'rejected promptly')
  await eventually(async () => (await namesUnder(path)).length === after, 3000, `${after} nodes under ${path}`)
  // An already aborted signal rejects at once and creates nothing.
  await assert.rejects(call(AbortSignal.abort()), { name: 'AbortError' })
  await sleep(50)
  assert.equal((await namesUnder(path)).length, after)
}

test('semaphore acquire', async () => {
  const path = uniquePath('sem')
  const held = await other.semaphore(path, 1).acquire()
  const sem = client.semaphore(path, 1)
  const before = (await namesUnder(path)).length
  await abortWhileWaiting({ path, call: (signal) => sem.acquire({ signal }), waiting: before + 1, after: before })
  await held.release()
  const lease = await sem.acquire({ timeoutMs: 3000 })
  await lease.release()
})

test('read and write sides of a read-write lock', async () => {
  const path = uniquePath('rw')
  const writer = await other.rwlock(path).write()
  const rw = client.rwlock(path)
  await abortWhileWaiting({ path, call: (signal) => rw.read({ signal }), waiting: 2, after: 1 })
  await abortWhileWaiting({ path, call: (signal) => rw.write({ signal }), waiting: 2, after: 1 })
  await writer.release()
})

test('multiLock', async () => {
  const base = uniquePath('multi')
  const held = await other.lock(`${base}/b`)
  await abortWhileWaiting({
    path: `${base}/b`,
    call: (signal) => client.multiLock([`${base}/a`, `${base}/b`], { signal }),
    waiting: 2,
    after: 1,
  })
  await eventually(async () => (await namesUnder(`${base}/a`)).length === 0, 3000, 'the lock taken first given back')
  await held.release()
})

test('lock and campaign (with the same helper)', async () => {
  const path = uniquePath('lock')
  const held = await other.lock(path)
  await abortWhileWaiting({ path, call: (signal) => client.lock(path, { signal }), waiting: 2, after: 1 })
  await held.release()

  const epath = uniquePath('election')
  const leader = other.election(epath, { identity: 'a' })
  await leader.campaign()
  const candidate = client.election(epath, { identity: 'b' })
  await abortWhileWaiting({ path: epath, call: (signal) => candidate.campaign({ signal }), waiting: 2, after: 1 })
  await leader.close()
})

test('double barrier enter', async () => {
  const path = uniquePath('dbar')
  const db = client.doubleBarrier(path, { memberId: 'm1', count: 2 })
  await abortWhileWaiting({ path, call: (signal) => db.enter({ signal }), waiting: 1, after: 0 })
  // The same handle still enters once the barrier fills.
  const peer = other.doubleBarrier(path, { memberId: 'm2', count: 2 })
  await Promise.race([Promise.all([db.enter(), peer.enter()]), deadline(5000, 'both enter')])
})

test('barrier wait and queue take', async () => {
  const path = uniquePath('barrier')
  await client.barrier(path).set()
  const ac = new AbortController()
  const waiting = client.barrier(path).wait({ signal: ac.signal })
  await sleep(100)
  ac.abort()
  await assert.rejects(Promise.race([waiting, deadline(1000, 'barrier wait')]), { name: 'AbortError' })

  const qpath = uniquePath('queue')
  const q = client.queue(qpath)
  const qc = new AbortController()
  const take = q.take({ signal: qc.signal })
  await sleep(100)
  qc.abort()
  await assert.rejects(Promise.race([take, deadline(1000, 'queue take')]), { name: 'AbortError' })
  // Another take on the same queue object is not affected by that abort.
  const next = q.take({ timeoutMs: 3000 })
  await other.queue(qpath).put('item')
  assert.equal((await next).toString(), 'item')
  assert.equal(await q.size(), 0)
})
