'use strict'
// The process exits by itself once its clients are closed, even with
// watches, held-lock signals, elections and caches in use.
const test = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const path = require('node:path')
const { startServer, deadline } = require('./helpers.js')

const script = `
const { Client } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'index.js'))})
;(async () => {
  const client = await Client.connect({ sessionTimeoutMs: 2000 })
  const w = client.watch('/exit', { recursive: true })
  await w.ready
  ;(async () => { for await (const ev of w) {} })()
  const lock = await client.lock('/exit-lock')
  lock.signal.addEventListener('abort', () => {})
  const e = client.election('/exit-el', { identity: 'x' })
  e.on('leader', () => {})
  await e.campaign()
  const cache = await client.nodeCache('/exit')
  ;(async () => { for await (const v of cache.changes()) {} })()
  await new Promise((r) => setTimeout(r, 100))
  await client.close()
  console.log('closed')
})()
`

test('a process exits on its own once its client is closed', async () => {
  const server = startServer()
  try {
    const child = spawn(process.execPath, ['-e', script], {
      env: { ...process.env, COORD_SERVERS: server.addr },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    const exited = new Promise((r) => child.on('exit', (code) => r(code)))
    const code = await Promise.race([exited, deadline(10_000, 'child exit')]).catch((err) => {
      child.kill('SIGKILL')
      throw err
    })
    assert.equal(code, 0)
    assert.match(out, /closed/)
  } finally {
    server.stop()
  }
})

// The other half: a call still in flight keeps the process alive, even when
// nothing else does (the addon's result channel is referenced only while
// calls are pending). Here the child's only pending work is a lock
// acquisition that waits for the parent to release the lock.
test('a pending call keeps the process alive until it settles', async () => {
  const { Client } = require('../lib/index.js')
  const server = startServer()
  const holder = await Client.connect({ servers: server.addr })
  try {
    const held = await holder.lock('/exit-wait')
    const waiter = `
const { Client } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'index.js'))})
;(async () => {
  const client = await Client.connect({ sessionTimeoutMs: 2000 })
  console.log('waiting')
  const lock = await client.lock('/exit-wait')
  console.log('acquired ' + lock.token)
  await client.close()
})()
`
    const child = spawn(process.execPath, ['-e', waiter], {
      env: { ...process.env, COORD_SERVERS: server.addr },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    const exited = new Promise((r) => child.on('exit', (code) => r(code)))
    await Promise.race([
      (async () => {
        while (!out.includes('waiting')) await new Promise((r) => setTimeout(r, 20))
      })(),
      deadline(10_000, 'child connected'),
    ])
    // Give an early exit time to happen before the lock is released.
    await new Promise((r) => setTimeout(r, 500))
    await held.release()
    const code = await Promise.race([exited, deadline(10_000, 'child exit')]).catch((err) => {
      child.kill('SIGKILL')
      throw err
    })
    assert.equal(code, 0)
    assert.match(out, /acquired \d+/, `the child left before its lock was granted: ${out}`)
  } finally {
    await holder.close()
    server.stop()
  }
})
