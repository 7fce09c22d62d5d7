'use strict'
const test = require('node:test')
const assert = require('node:assert/strict')
const { startServer, connect, uniquePath, deadline, eventually, worker } = require('./helpers.js')

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

test('when the leader process is SIGKILLed another is elected within session timeout + 1 s', async () => {
  const path = uniquePath('election')
  const kids = ['a', 'b', 'c'].map((id) => worker(server, ['candidate', path, id]))
  try {
    const elected = (k) => k.lines.some((l) => l.startsWith('ELECTED'))
    const first = await eventually(() => kids.find(elected), 10_000, 'a first leader')
    const firstId = first.lines.find((l) => l.startsWith('ELECTED')).split(' ')[1]
    assert.equal((await client.leader(path)).identity, firstId)
    // Every other candidate is waiting (its node exists) before the kill.
    await eventually(async () => (await client.children(path)).length === 3, 5000, 'three candidates')
    const killedAt = Date.now()
    first.kill('SIGKILL')
    const next = await eventually(() => kids.find((k) => k !== first && elected(k)), 1000 + 1000 + 500, 'failover')
    const took = Date.now() - killedAt
    // The children ask for 1 s sessions.
    assert.ok(took <= 2000, `failover took ${took} ms`)
    const nextId = next.lines.find((l) => l.startsWith('ELECTED')).split(' ')[1]
    const leader = await client.leader(path)
    assert.equal(leader.identity, nextId)
  } finally {
    for (const k of kids) k.kill('SIGKILL')
    await Promise.race([Promise.all(kids.map((k) => k.exited)), deadline(5000, 'children exit')])
  }
})

test('an election emits elected, leader and revoked', async () => {
  const path = uniquePath('events')
  const e1 = client.election(path, { identity: 'one' })
  const other = await connect(server)
  const e2 = other.election(path, { identity: 'two' })
  const seen = []
  e1.on('leader', (identity) => seen.push(identity))
  const elected = new Promise((r) => e1.once('elected', r))
  const term = await e1.campaign()
  assert.equal((await elected).token, term.token)
  assert.ok(e1.isLeader)
  assert.equal((await e1.leader()).identity, 'one')
  const second = e2.campaign({ timeoutMs: 5000 })
  const revoked = new Promise((r) => e1.once('revoked', r))
  await e1.resign()
  assert.equal((await revoked).reason, 'resigned')
  const term2 = await second
  assert.ok(term2.token > term.token)
  await eventually(() => seen.includes('two'), 3000, "'leader' event for two")
  const lost = new Promise((r) => e2.once('revoked', r))
  await other.close()
  assert.equal((await Promise.race([lost, deadline(3000, 'revoked on close')])).reason, 'lost')
  await e1.close()
})

test('a campaign aborted by its signal leaves no candidate node', async () => {
  const path = uniquePath('abortcampaign')
  const leader = client.election(path, { identity: 'l' })
  await leader.campaign()
  const waiter = client.election(path, { identity: 'w' })
  const ac = new AbortController()
  const p = waiter.campaign({ signal: ac.signal })
  await eventually(async () => (await client.children(path)).length === 2, 3000, 'candidate node')
  ac.abort()
  await assert.rejects(p, { name: 'AbortError' })
  await eventually(async () => (await client.children(path)).length === 1, 3000, 'candidate deleted')
  await leader.close()
})
