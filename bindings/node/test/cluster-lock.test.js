'use strict'
// A lock held through a leader kill in a real 3-member cluster (issue: "C,
// Python and Node take the server list and survive a leader kill with locks
// held"). Clients get the full server list; A holds the lock, B waits;
// SIGKILL of the leader (in one variant the member A is connected to) must
// not cost A its session: A still holds, B still waits, then B gets the lock
// with a greater token once A releases. Never two holders. Every wait is
// bounded.
const test = require('node:test')
const assert = require('node:assert/strict')
const { Client } = require('../lib/index.js')
const { Cluster, connectedMember, ownSocketInodes, sleep } = require('./cluster.js')

const SESSION_MS = 2000
const LOCK = '/cluster/lock'

async function eventually(check, ms, what) {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await check()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${ms} ms`)
    await sleep(20)
  }
}

/**
 * A client given the full server list that happened to pick the leader (or
 * a follower): the client shuffles its list, so reconnect until it lands
 * where the variant needs it.
 */
async function connectOn(cluster, wantLeader, leader) {
  for (let i = 0; i < 40; i++) {
    const before = ownSocketInodes()
    const c = await Client.connect({ servers: cluster.servers, sessionTimeoutMs: SESSION_MS })
    const member = connectedMember(cluster, before)
    if (member !== null && (member === leader) === wantLeader) return { client: c, member }
    await c.close()
  }
  throw new Error('the client never picked the wanted member in 40 connects')
}

// Lock nodes are OWNER__lock__SEQ: the sequence is the last ten digits.
const seqOf = (name) => name.slice(-10)

for (const aOnLeader of [false, true]) {
  const where = aOnLeader ? 'the leader A is connected to' : 'the leader (A on a follower)'
  test(`a lock holder keeps the lock through SIGKILL of ${where}; the waiter gets it after, with a greater token`, { timeout: 90_000 }, async () => {
    const cluster = await Cluster.start()
    const clients = []
    let sampler
    try {
      const leader = await cluster.leader()
      const { client: a, member: aMember } = await connectOn(cluster, aOnLeader, leader)
      clients.push(a)
      const b = await Client.connect({ servers: cluster.servers, sessionTimeoutMs: SESSION_MS })
      clients.push(b)
      const observer = await Client.connect({ servers: cluster.servers, sessionTimeoutMs: SESSION_MS })
      clients.push(observer)
      const aSession = a.sessionId

      const aLock = await a.lock(LOCK, { timeoutMs: 10_000 })
      const tokenA = aLock.token
      // B waits in line; when it gets the lock, note whether A still held.
      let bLock = null
      let aHeldWhenBGot = null
      const bAcquire = b.lock(LOCK, { timeoutMs: 30_000 }).then((h) => {
        aHeldWhenBGot = aLock.isHeld()
        bLock = h
        return h
      })
      bAcquire.catch(() => {}) // awaited below
      // Both handles' own view, sampled: never both held.
      const overlaps = []
      sampler = setInterval(() => {
        if (aLock.isHeld() && bLock && bLock.isHeld()) overlaps.push(Date.now())
      }, 2)
      await eventually(async () => (await observer.children(LOCK)).length === 2, 10_000, 'B waiting in line')
      assert.equal(bLock, null)

      const killedAt = Date.now()
      await cluster.kill(leader)
      const newLeader = await cluster.leader({ exclude: leader, timeoutMs: 15_000 })
      await eventually(() => a.state === 'connected', 10_000, 'A reconnected')
      // Past the session timeout twice over: a session the new leader did
      // not keep alive would have expired by now.
      await sleep(Math.max(0, killedAt + 2 * SESSION_MS + 500 - Date.now()))

      assert.equal(a.sessionId, aSession, "A's session survived")
      assert.equal(a.state, 'connected')
      assert.ok(aLock.isHeld(), 'A still holds the lock')
      assert.equal(bLock, null, 'B has not acquired')
      await observer.sync(LOCK)
      const line = (await observer.children(LOCK)).sort((x, y) => seqOf(x).localeCompare(seqOf(y)))
      assert.equal(line.length, 2, String(line))
      const head = await observer.exists(`${LOCK}/${line[0]}`)
      assert.equal(head.czxid, tokenA, "A's lock node heads the line")
      assert.equal(head.ephemeralOwner, aSession)
      const second = await observer.exists(`${LOCK}/${line[1]}`)
      assert.equal(second.ephemeralOwner, b.sessionId)
      // A's session writes through the new leader.
      await a.create('/cluster/written-by-a-after-failover', '', { makeParents: true })

      await aLock.release()
      const got = await Promise.race([
        bAcquire,
        sleep(15_000).then(() => { throw new Error("B did not get the lock within 15 s of A's release") }),
      ])
      assert.equal(aHeldWhenBGot, false)
      assert.ok(got.token > tokenA, `token order: ${tokenA} < ${got.token}`)
      await observer.sync(LOCK)
      const after = await observer.children(LOCK)
      assert.equal(after.length, 1, String(after))
      assert.equal((await observer.exists(`${LOCK}/${after[0]}`)).czxid, got.token)
      await got.release()
      assert.deepEqual(overlaps, [], 'two holders at once')
      console.log(`a on member ${aMember} (leader ${leader}); new leader ${newLeader}; tokens ${tokenA} < ${got.token}`)
    } catch (e) {
      console.error(cluster.logs())
      throw e
    } finally {
      clearInterval(sampler)
      for (const c of clients) await c.close().catch(() => {})
      await cluster.stop()
    }
  })
}
