'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const { startServer, connect, uniquePath, deadline, eventually } = require('./helpers.js')
const { OperationTimeoutError } = require('../lib/index.js')

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

test('a barrier holds waiters until removed', async () => {
  const b = client.barrier(uniquePath('barrier'))
  await b.set()
  assert.equal(await b.isSet(), true)
  await assert.rejects(b.wait({ timeoutMs: 50 }), OperationTimeoutError)
  const waiting = b.wait({ timeoutMs: 3000 })
  await b.remove()
  await waiting
})

test('a double barrier lets members in and out together', async () => {
  const path = uniquePath('double')
  const other = await connect(server)
  const m1 = client.doubleBarrier(path, { memberId: 'm1', count: 2 })
  const m2 = other.doubleBarrier(path, { memberId: 'm2', count: 2 })
  await Promise.race([Promise.all([m1.enter(), m2.enter()]), deadline(5000, 'enter')])
  await Promise.race([Promise.all([m1.leave(), m2.leave()]), deadline(5000, 'leave')])
  await other.close()
})

test('a queue is FIFO and take waits for an item', async () => {
  const q = client.queue(uniquePath('queue'))
  await q.put('one')
  await q.put(Buffer.from('two'))
  assert.equal(await q.size(), 2)
  assert.equal((await q.peek()).toString(), 'one')
  assert.equal((await q.take()).toString(), 'one')
  assert.equal((await q.tryTake()).toString(), 'two')
  assert.equal(await q.tryTake(), null)
  const later = q.take({ timeoutMs: 3000 })
  await q.put('three')
  assert.equal((await later).toString(), 'three')
})

test('a counter adds atomically', async () => {
  const c = client.counter(uniquePath('counter'))
  assert.equal(await c.get(), 0)
  await Promise.all(Array.from({ length: 20 }, () => c.increment()))
  assert.equal(await c.get(), 20)
  assert.equal(await c.compareAndSet(20, 5), true)
  assert.equal(await c.compareAndSet(20, 6), false)
  await c.set(-3)
  assert.equal(await c.decrement(), -4)
})

test('node and tree caches follow changes', async () => {
  const root = uniquePath('cache')
  const nodeCache = await client.nodeCache(root)
  const treeCache = await client.treeCache(root)
  assert.equal(nodeCache.current, null)
  const it = nodeCache.changes()
  await client.create(root, 'v1', { makeParents: true })
  await client.create(`${root}/kid`, 'k')
  const v = await Promise.race([it.next(), deadline(3000, 'node cache change')])
  assert.equal(v.value.data.toString(), 'v1')
  await eventually(() => treeCache.get(`${root}/kid`), 3000, 'tree cache entry')
  assert.deepEqual(
    treeCache.children(root).map((e) => e.path),
    ['kid'],
  )
  await nodeCache.close()
  await treeCache.close()
  assert.equal((await it.next()).done, true)
})

test('service discovery registers, lists and picks instances', async () => {
  const base = uniquePath('services')
  const d = client.discovery({ base })
  const reg = await d.register('api', { id: 'i1', address: '10.0.0.1', port: 80, metadata: { zone: 'a' } })
  await d.register('api', { id: 'i2', address: '10.0.0.2', port: 81 })
  const list = await d.instances('api')
  assert.deepEqual(
    list.map((i) => i.id),
    ['i1', 'i2'],
  )
  assert.equal(list[0].metadata.zone, 'a')
  const provider = await d.provider('api', { strategy: 'roundRobin' })
  const picks = new Set([provider.pick().id, provider.pick().id])
  assert.deepEqual([...picks].sort(), ['i1', 'i2'])
  await reg.unregister()
  await eventually(() => provider.instances().length === 1, 3000, 'provider sees the unregister')
  await provider.close()
})

test('group membership is listed and followed', async () => {
  const g = client.group(uniquePath('group'))
  const stream = g.watch()
  const m = await g.join('alpha', 'payload')
  const members = await g.members()
  assert.deepEqual(
    members.map((x) => [x.name, x.data.toString()]),
    [['alpha', 'payload']],
  )
  let last
  for await (const list of stream) {
    last = list
    if (list.length === 1) break
  }
  assert.equal(last[0].name, 'alpha')
  await m.leave()
})
