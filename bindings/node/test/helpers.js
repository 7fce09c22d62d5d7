'use strict'
// Shared set-up of the tests: one in-process server per test file, clients
// on it, unique paths, and bounded polling.

const path = require('node:path')
const { spawn } = require('node:child_process')
const { Client } = require('../lib/index.js')
const { startServer } = require('../lib/testing.js')

let counter = 0
function uniquePath(name) {
  return `/t-${process.pid}-${Date.now().toString(36)}-${++counter}/${name}`
}

function connect(server, options = {}) {
  return Client.connect({ servers: server.addr, sessionTimeoutMs: 2000, ...options })
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Rejects after `ms` (an unref'd timer: it never keeps the process alive). */
function deadline(ms, what) {
  return new Promise((_, reject) => {
    setTimeout(() => reject(new Error(`${what} not done within ${ms} ms`)), ms).unref()
  })
}

/** Polls `check()` every 10 ms until it returns truthy or `ms` pass. */
async function eventually(check, ms = 3000, what = 'condition') {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await check()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${ms} ms`)
    await sleep(10)
  }
}

/** Spawns test/fixtures/worker.js with `args`; collects its stdout lines. */
// Calls `each` with every whole line `stream` yields (as UTF-8 text).
function onLines(stream, each) {
  let buf = ''
  stream.setEncoding('utf8')
  stream.on('data', (d) => {
    buf += d
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i)
      buf = buf.slice(i + 1)
      each(line)
    }
  })
}

function worker(server, args) {
  const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'worker.js'), ...args], {
    env: { ...process.env, COORD_SERVERS: server.addr },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  child.lines = []
  child.waiters = []
  onLines(child.stdout, (line) => {
    child.lines.push(line)
    for (const w of child.waiters.splice(0)) w()
  })
  child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  return child
}

module.exports = { startServer, connect, uniquePath, sleep, deadline, eventually, worker, onLines }
