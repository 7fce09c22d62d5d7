'use strict'
// The test cluster's start survives a peer port taken between being picked
// and being bound (another process's outgoing connection can take it): the
// first pick here includes a port this test holds, so the first start fails
// on it and the retry, with new ports, must bring up a cluster with a leader.
const test = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const { Cluster, freePorts } = require('./cluster.js')

test('a cluster start whose peer port is taken retries with new ports', { timeout: 120_000 }, async () => {
  const held = net.createServer()
  await new Promise((resolve, reject) => {
    held.once('error', reject)
    held.listen(0, '127.0.0.1', resolve)
  })
  const busy = held.address().port
  const picks = []
  const pick = async (n) => {
    const ports = picks.length === 0 ? [busy, ...(await freePorts(n - 1))] : await freePorts(n)
    picks.push(ports)
    return ports
  }
  let cluster
  try {
    cluster = await Cluster.start(3, pick)
    assert.equal(picks.length, 2, 'one failed start on the held port, then one with new ports')
    assert.ok(!picks[1].includes(busy))
    const status = await cluster.status()
    assert.ok(Number.isInteger(status.leader), `a leader: ${JSON.stringify(status)}`)
  } finally {
    if (cluster) await cluster.stop()
    held.close()
  }
})
