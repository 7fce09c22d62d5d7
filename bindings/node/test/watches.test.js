'use strict'
// One-shot watches, children with stats, watch removal and session state
// changes (issue 17: the Node gaps against the Rust client).
const test = require('node:test')
const assert = require('node:assert/strict')
const { startServer, connect, uniquePath, sleep, deadline } = require('./helpers.js')
const { CancelledError, NoWatcherError } = require('../lib/index.js')

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

const within = (p, ms, what) => Promise.race([p, deadline(ms, what)])

test('getWatch returns the data and fires once on the next change', async () => {
  const path = uniquePath('get')
  await client.create(path, 'v1', { makeParents: true })
  const { data, stat, watch } = await client.getWatch(path)
  assert.equal(data.toString(), 'v1')
  assert.equal(stat.version, 0)
  await client.set(path, 'v2')
  const ev = await within(watch.wait(), 3000, 'data watch')
  assert.deepEqual([ev.type, ev.path], ['dataChanged', path])
  // wait() keeps answering the first event.
  await client.set(path, 'v3')
  assert.equal(await watch.wait(), ev)
})

test('existsWatch fires on creation of a missing node; childrenWatch on a new child', async () => {
  const path = uniquePath('exists')
  const { stat, watch } = await client.existsWatch(path)
  assert.equal(stat, null)
  await client.create(path, '', { makeParents: true })
  const ev = await within(watch.wait(), 3000, 'exists watch')
  assert.deepEqual([ev.type, ev.path], ['created', path])

  const kids = await client.childrenWatch(path)
  assert.deepEqual(kids.children, [])
  await client.create(`${path}/a`)
  const cev = await within(kids.watch.wait(), 3000, 'children watch')
  assert.deepEqual([cev.type, cev.path], ['childrenChanged', path])
})

test('a one-shot watch does not fire twice', async () => {
  const path = uniquePath('once')
  await client.create(path, 'a', { makeParents: true })
  const { watch } = await client.getWatch(path)
  let fired = 0
  const counted = watch.wait().then(() => fired++)
  await client.set(path, 'b')
  await within(counted, 3000, 'first change')
  await client.set(path, 'c')
  await sleep(200)
  assert.equal(fired, 1)
})

test('childrenWithStats lists each child with its stat and the parent stat', async () => {
  const path = uniquePath('stats')
  await client.create(`${path}/b`, 'bb', { makeParents: true })
  await client.create(`${path}/a`, 'a')
  await client.set(`${path}/a`, 'aaa')
  const { children, stat } = await client.childrenWithStats(path)
  assert.deepEqual(children.map((c) => c.name), ['a', 'b'])
  assert.deepEqual(children.map((c) => [c.stat.dataLength, c.stat.version]), [[3, 1], [2, 0]])
  assert.equal(stat.numChildren, 2)
})

test('removeWatches cancels a one-shot watch and ends a persistent one', async () => {
  const path = uniquePath('remove')
  await client.create(path, 'x', { makeParents: true })
  const { watch } = await client.getWatch(path)
  const waiting = watch.wait().then(() => 'fired', (e) => e)
  await client.removeWatches(path, 'data')
  assert.ok((await within(waiting, 3000, 'removed one-shot')) instanceof CancelledError)
  // Removed on the server too: a change now reaches nobody (no error either).
  await client.set(path, 'y')

  const stream = client.watch(path)
  await stream.ready
  const next = stream.next()
  await client.removeWatches(path, 'persistent')
  // A removed persistent watch ends like a closed one (the core's one meaning of the end).
  assert.deepEqual(await within(next, 3000, 'removed persistent watch'), { value: undefined, done: true })
  await client.set(path, 'z')
  assert.equal((await stream.next()).done, true)

  await assert.rejects(client.removeWatches(path, 'any'), (e) => e instanceof NoWatcherError)
  await assert.rejects(client.removeWatches(path, 'bogus'), /watcher kind must be/)
})

test('an aborted one-shot wait rejects with the reason at once', async () => {
  const path = uniquePath('abortwatch')
  await client.create(path, 'x', { makeParents: true })
  const { watch } = await client.getWatch(path)
  const ac = new AbortController()
  const waiting = watch.wait({ signal: ac.signal })
  await sleep(50)
  const at = Date.now()
  ac.abort()
  await assert.rejects(within(waiting, 1000, 'aborted wait'), { name: 'AbortError' })
  assert.ok(Date.now() - at < 500)
})

test('a one-shot watch cancelled before anyone waits rejects its wait with CancelledError', async () => {
  const path = uniquePath('cancelfirst')
  await client.create(path, 'x', { makeParents: true })
  const { watch } = await client.getWatch(path)
  watch.cancel()
  await assert.rejects(within(watch.wait(), 1000, 'cancelled wait'), (e) => e instanceof CancelledError)
})

test('stateChanges reports connected, then suspended and expired when the server goes', async () => {
  const own = startServer()
  const c = await connect(own, { sessionTimeoutMs: 1000 })
  const states = []
  const iter = c.stateChanges()
  const collected = (async () => {
    for await (const s of iter) states.push(s)
  })()
  await sleep(100)
  assert.deepEqual(states, ['connected'])
  own.stop()
  await within(collected, 15_000, 'the terminal state')
  assert.equal(states[0], 'connected')
  assert.ok(states.includes('suspended'), `suspended in ${states}`)
  assert.equal(states.at(-1), 'expired')
  await c.close()
})

test('stateChanges ends with closed when the client closes, or when its signal aborts', async () => {
  const c = await connect(server)
  const ac = new AbortController()
  const aborted = c.stateChanges({ signal: ac.signal })
  assert.deepEqual(await aborted.next(), { value: 'connected', done: false })
  ac.abort()
  assert.equal((await within(aborted.next(), 1000, 'aborted stream')).done, true)

  const states = []
  const collected = (async () => {
    for await (const s of c.stateChanges()) states.push(s)
  })()
  await sleep(50)
  await c.close()
  await within(collected, 3000, 'closed')
  assert.deepEqual(states, ['connected', 'closed'])
})
