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
