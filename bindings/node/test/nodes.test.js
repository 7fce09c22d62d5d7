'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const { startServer, connect, uniquePath, deadline } = require('./helpers.js')
const { Client, NoNodeError, NodeExistsError, BadVersionError, CoordError } = require('../lib/index.js')

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

test('nodes take Buffers and strings and report stats', async () => {
  const p = uniquePath('n')
  assert.equal(await client.create(p, 'héllo', { makeParents: true }), p)
  const { data, stat } = await client.get(p)
  assert.ok(Buffer.isBuffer(data))
  assert.equal(data.toString(), 'héllo')
  assert.equal(stat.version, 0)
  assert.equal(typeof stat.czxid, 'bigint')
  assert.equal(await client.getString(p), 'héllo')
  const s2 = await client.set(p, Buffer.from([1, 2, 3]), { version: 0 })
  assert.equal(s2.version, 1)
  await assert.rejects(client.set(p, 'x', { version: 0 }), BadVersionError)
  await assert.rejects(client.create(p), (e) => e instanceof NodeExistsError && e.code === 'NODE_EXISTS')
  assert.equal((await client.exists(p)).dataLength, 3)
  await client.delete(p, { version: 1 })
  assert.equal(await client.exists(p), null)
  await assert.rejects(client.get(p), (e) => e instanceof NoNodeError && e instanceof CoordError && e.detail === p)
})

test('get, set and exists give the same stat as childrenWithStats, field by field', async () => {
  // get/set/exists come back packed in one Buffer and are unpacked in JS
  // (lib/util.js); childrenWithStats builds its stats in the addon. Every
  // field must agree, with its type, the 64-bit ones as bigints.
  const dir = uniquePath('packed')
  await client.create(dir, '', { makeParents: true })
  const p = await client.create(`${dir}/e-`, Buffer.alloc(70_000, 7), { ephemeral: true, sequential: true })
  await client.create(`${dir}/empty`, '')
  const s1 = await client.set(p, Buffer.alloc(70_001, 9))
  const { data, stat } = await client.get(p)
  const exists = await client.exists(p)
  const listed = (await client.childrenWithStats(dir)).children.find((c) => p.endsWith(`/${c.name}`)).stat
  assert.deepEqual(stat, listed)
  assert.deepEqual(exists, listed)
  assert.deepEqual(s1, listed)
  assert.deepEqual(Object.keys(stat), Object.keys(listed), 'same field order')
  assert.equal(stat.version, 1)
  assert.equal(stat.dataLength, 70_001)
  assert.equal(stat.ephemeralOwner, client.sessionId)
  assert.equal(typeof stat.ephemeralOwner, 'bigint')
  assert.ok(Math.abs(stat.mtime - Date.now()) < 60_000, `mtime ${stat.mtime} is a time in ms`)
  assert.ok(stat.ctime <= stat.mtime)
  assert.equal(data.length, 70_001)
  assert.ok(data.every((b) => b === 9))
  const empty = await client.get(`${dir}/empty`)
  assert.equal(empty.data.length, 0)
  assert.equal(empty.stat.dataLength, 0)
  const parent = await client.get(dir)
  assert.equal(parent.stat.numChildren, 2)
})

test('sequential and ephemeral nodes; children are sorted', async () => {
  const dir = uniquePath('seq')
  await client.create(dir, undefined, { makeParents: true })
  const a = await client.create(`${dir}/x-`, 'a', { sequential: true, ephemeral: true })
  const b = await client.create(`${dir}/x-`, 'b', { sequential: true })
  assert.ok(a < b)
  assert.deepEqual(await client.children(dir), [a, b].map((p) => p.split('/').pop()))
  assert.ok((await client.exists(a)).ephemeralOwner === client.sessionId)
  await assert.rejects(client.create(`${dir}/bad`, '', { ephemeral: true, container: true }), { code: 'BAD_ARGUMENTS' })
})

test('a transaction applies all or nothing', async () => {
  const p = uniquePath('txn')
  await client.create(p, '', { makeParents: true })
  const results = await client.transaction().create(`${p}/a`, '1').set(p, 'v').check(`${p}/a`).commit()
  assert.deepEqual(
    results.map((r) => r.op),
    ['create', 'set', 'check'],
  )
  await assert.rejects(client.transaction().create(`${p}/b`, '').delete(`${p}/missing`).commit(), NoNodeError)
  assert.equal(await client.exists(`${p}/b`), null)
})

test('a recursive watch is an async iterator and stops when broken out of', async () => {
  const root = uniquePath('w')
  const watch = client.watch(root, { recursive: true })
  await watch.ready
  await client.create(root, '', { makeParents: true })
  await client.create(`${root}/child`, 'x')
  await client.set(`${root}/child`, 'y')
  const seen = []
  const collect = async () => {
    for await (const ev of watch) {
      seen.push(`${ev.type} ${ev.path.slice(root.length) || '/'}`)
      if (seen.length === 3) break
    }
  }
  await Promise.race([collect(), deadline(3000, 'three events')])
  assert.deepEqual(seen, ['created /', 'created /child', 'dataChanged /child'])
  assert.deepEqual(await watch.next(), { value: undefined, done: true })
})

test('a watch ends when its signal aborts or the client closes', async () => {
  const other = await connect(server)
  const ac = new AbortController()
  const w1 = other.watch(uniquePath('a'), { signal: ac.signal })
  const w2 = other.watch(uniquePath('b'))
  await w1.ready
  await w2.ready
  const p1 = w1.next()
  const p2 = w2.next()
  ac.abort()
  assert.equal((await Promise.race([p1, deadline(3000, 'abort')])).done, true)
  await other.close()
  assert.equal((await Promise.race([p2, deadline(3000, 'close')])).done, true)
})

test('after close() a watch delivers no further event, even a ready one, and iteration ends without throwing', async () => {
  const root = uniquePath('cw')
  const watch = client.watch(root)
  await watch.ready
  await client.create(root, '1', { makeParents: true })
  await client.set(root, '2')
  await client.set(root, '3') // all three events have arrived when this resolves
  const seen = []
  const collect = async () => {
    for await (const ev of watch) {
      seen.push(ev.type)
      await watch.close()
    }
  }
  await Promise.race([collect(), deadline(3000, 'the loop to end')])
  assert.deepEqual(seen, ['created'])
  assert.deepEqual(await watch.next(), { value: undefined, done: true })

  // The native stream itself: close() wins over events that are ready.
  const native = await client._native.watch(root, false)
  await client.set(root, '4')
  await client.set(root, '5')
  await native.close()
  assert.equal(await native.next(), null)
  assert.equal(await native.next(), null)
})

test('a group member stream ends with done: true, no throw, when its client closes', async () => {
  const other = await connect(server)
  const path = uniquePath('g')
  await other.create(path, '', { makeParents: true })
  const changes = other.group(path).watch()
  const first = await Promise.race([changes.next(), deadline(3000, 'the first member list')])
  assert.equal(first.done, false)
  const pending = changes.next()
  await other.close()
  assert.deepEqual(await Promise.race([pending, deadline(3000, 'close')]), { value: undefined, done: true })
})

test('connect defaults to COORD_SERVERS', async () => {
  assert.equal(typeof Client.defaultServers(), 'string')
  const saved = process.env.COORD_SERVERS
  process.env.COORD_SERVERS = server.addr
  try {
    const c = await Client.connect({ sessionTimeoutMs: 2000 })
    assert.equal(c.state, 'connected')
    await c.close()
    assert.equal(c.state, 'closed')
  } finally {
    if (saved === undefined) delete process.env.COORD_SERVERS
    else process.env.COORD_SERVERS = saved
  }
})
