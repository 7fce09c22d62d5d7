'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const { startServer, connect, uniquePath, sleep, deadline, eventually, worker } = require('./helpers.js')
const { LockTimeoutError, LockLostError } = require('../lib/index.js')

// The nodes in a lock's line. A lock's directory is a container node, which
// the server removes once it is empty: after a release it may be gone, and
// then the line is empty too.
async function lineOf(path) {
  try {
    return await client.children(path)
  } catch (e) {
    if (e.code === 'NO_NODE') return []
    throw e
  }
}

let server
let client
test.before(async () => {
  server = startServer()
  client = await connect(server)
})
test.after(async () => {
  await client.close()
  server.stop()
})

test('four processes incrementing under withLock count exactly, with increasing tokens', async () => {
  const root = uniquePath('inc')
  await client.create(`${root}/data`, JSON.stringify({ count: 0, token: '0' }), { makeParents: true })
  const children = [1, 2, 3, 4].map(() => worker(server, ['increment', root, '100']))
  const results = await Promise.race([
    Promise.all(children.map((c) => c.exited)),
    deadline(90_000, 'the four workers'),
  ])
  for (const r of results) assert.deepEqual(r, { code: 0, signal: null })
  const all = []
  for (const c of children) {
    const line = c.lines.find((l) => l.startsWith('DONE '))
    const tokens = JSON.parse(line.slice(5)).map(BigInt)
    assert.equal(tokens.length, 100)
    for (let i = 1; i < tokens.length; i++) assert.ok(tokens[i] > tokens[i - 1], 'tokens increase per process')
    all.push(...tokens)
  }
  assert.equal(new Set(all.map(String)).size, 400, 'every hold has its own token')
  const final = JSON.parse(await client.getString(`${root}/data`))
  assert.equal(final.count, 400)
})

test('fifty concurrent acquires in one process never block the event loop', async () => {
  const path = uniquePath('fifty')
  let ticks = 0
  let maxGap = 0
  let last = Date.now()
  const timer = setInterval(() => {
    const now = Date.now()
    maxGap = Math.max(maxGap, now - last)
    last = now
    ticks++
  }, 5)
  const started = Date.now()
  try {
    let holders = 0
    const tokens = await Promise.all(
      Array.from({ length: 50 }, () =>
        client.withLock(path, async (token) => {
          holders++
          assert.equal(holders, 1, 'one holder at a time')
          await sleep(2)
          holders--
          return token
        }),
      ),
    )
    assert.equal(new Set(tokens.map(String)).size, 50)
  } finally {
    clearInterval(timer)
  }
  const elapsed = Date.now() - started
  assert.ok(ticks >= Math.floor(elapsed / 5 / 4), `interval ticked ${ticks} times in ${elapsed} ms`)
  assert.ok(maxGap < 250, `longest gap between ticks ${maxGap} ms`)
})

test('aborting a waiting acquire rejects with the reason and leaves no node', async () => {
  const path = uniquePath('abort')
  const held = await client.lock(path)
  const ac = new AbortController()
  const waiting = client.lock(path, { signal: ac.signal })
  await eventually(async () => (await client.children(path)).length === 2, 3000, 'waiter node')
  ac.abort()
  await assert.rejects(waiting, (err) => err.name === 'AbortError')
  await eventually(async () => (await client.children(path)).length === 1, 3000, 'waiter node deleted')
  await held.release()
  assert.deepEqual(await lineOf(path), [])
  // An already aborted signal never creates a node.
  await assert.rejects(client.lock(path, { signal: AbortSignal.abort() }), { name: 'AbortError' })
  assert.deepEqual(await lineOf(path), [])
})

test('asyncDispose releases the lock on scope exit, also when the body throws', async () => {
  const path = uniquePath('dispose')
  // Node 20 has Symbol.asyncDispose but not `await using`; this is what the
  // syntax compiles to (the TypeScript example uses the syntax itself).
  const body = async () => {
    const lock = await client.lock(path)
    try {
      assert.equal((await client.children(path)).length, 1)
      throw new Error('boom')
    } finally {
      await lock[Symbol.asyncDispose]()
    }
  }
  await assert.rejects(body, /boom/)
  assert.deepEqual(await lineOf(path), [])
  const again = await client.lock(path, { timeoutMs: 1000 })
  await again.release()
  await again.release() // idempotent
})

test('withLock releases when the callback throws', async () => {
  const path = uniquePath('withthrow')
  await assert.rejects(
    client.withLock(path, async () => {
      throw new Error('inside')
    }),
    /inside/,
  )
  assert.deepEqual(await lineOf(path), [])
})

test('a timed-out acquire fails with LockTimeoutError and deletes its node', async () => {
  const path = uniquePath('timeout')
  const held = await client.lock(path)
  await assert.rejects(client.lock(path, { timeoutMs: 100 }), (err) => {
    assert.ok(err instanceof LockTimeoutError)
    assert.equal(err.code, 'LOCK_TIMEOUT')
    return true
  })
  await eventually(async () => (await client.children(path)).length === 1, 3000, 'node deleted')
  await held.release()
})

test('a lock whose node is deleted resolves lost and aborts its signal', async () => {
  const path = uniquePath('lost')
  const lock = await client.lock(path)
  const signal = lock.signal
  const [node] = await client.children(path)
  await client.delete(`${path}/${node}`)
  const err = await Promise.race([lock.lost, deadline(3000, 'loss')])
  assert.ok(err instanceof LockLostError)
  assert.ok(signal.aborted)
  assert.ok(signal.reason instanceof LockLostError)
  await lock.release()
})

test('status calls of a lock handle answer at once while its acquire waits', async () => {
  const path = uniquePath('status')
  const held = await client.lock(path)
  const native = client._native.lockHandle(path)
  let settled = false
  const pending = native.acquire(10_000).finally(() => {
    settled = true
  })
  await eventually(async () => (await client.children(path)).length === 2, 3000, 'second in line')
  const at = Date.now()
  // Promise.resolve: the old addon answered with Promises that waited for the acquire.
  assert.equal(await Promise.race([Promise.resolve(native.isHeld()), deadline(1000, 'isHeld')]), false)
  assert.equal(await Promise.race([native.waitLost(), deadline(1000, 'waitLost')]), false)
  assert.ok(Date.now() - at < 1000)
  assert.equal(settled, false, 'the acquire still waits')
  await held.release()
  await Promise.race([pending, deadline(5000, 'the acquire')])
  assert.equal(native.isHeld(), true)
  await native.release()
})

test('a lease whose node is deleted resolves lost and aborts its signal', async () => {
  const path = uniquePath('lease-lost')
  const lease = await client.semaphore(path, 2).acquire()
  const signal = lease.signal
  assert.equal(lease.isHeld(), true)
  await client.delete(lease.node)
  const err = await Promise.race([lease.lost, deadline(3000, 'lease loss')])
  assert.ok(err instanceof LockLostError)
  assert.ok(signal.aborted)
  assert.equal(lease.isHeld(), false)
  await lease.release()
})

test('read-write lock: readers share, a writer excludes', async () => {
  const rw = client.rwlock(uniquePath('rw'))
  const r1 = await rw.read()
  const r2 = await rw.read({ timeoutMs: 1000 })
  await assert.rejects(rw.write({ timeoutMs: 100 }), LockTimeoutError)
  await r1.release()
  await r2.release()
  const out = await rw.withWrite(async (token) => token)
  assert.equal(typeof out, 'bigint')
})

test('semaphore hands out at most N leases', async () => {
  const sem = client.semaphore(uniquePath('sem'), 2)
  const a = await sem.acquire()
  const b = await sem.acquire()
  assert.equal(await sem.tryAcquire(), null)
  await assert.rejects(sem.acquire({ timeoutMs: 100 }), LockTimeoutError)
  await a.release()
  const c = await sem.acquire({ timeoutMs: 1000 })
  assert.ok(c.token > b.token)
  await b.release()
  await c.release()
})

test('multi-lock takes every lock or none', async () => {
  const p1 = uniquePath('m1')
  const p2 = uniquePath('m2')
  const m = await client.multiLock([p2, p1])
  assert.equal(m.tokens.length, 2)
  await assert.rejects(client.multiLock([p1], { timeoutMs: 100 }), LockTimeoutError)
  await m.release()
  const again = await client.multiLock([p1, p2], { timeoutMs: 1000 })
  await again[Symbol.asyncDispose]()
})
