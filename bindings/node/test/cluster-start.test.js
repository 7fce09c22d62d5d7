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

test('peer ports come from below the ephemeral range, distinct and bindable', async () => {
  const fs = require('node:fs')
  const top = parseInt(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0], 10)
  const ports = await freePorts(4)
  assert.equal(new Set(ports).size, 4, `distinct: ${ports}`)
  for (const p of ports) {
    assert.ok(p >= 10000 && p < top, `${p} below ${top}`)
    const s = net.createServer()
    await new Promise((resolve, reject) => {
      s.once('error', reject)
      s.listen(p, '127.0.0.1', resolve)
    })
    await new Promise((r) => s.close(r))
  }
})
