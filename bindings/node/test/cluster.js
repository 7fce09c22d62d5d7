'use strict'
// A real 3-member coord cluster for tests: `coord serve` processes on
// 127.0.0.1 (free ports, fresh temp data dirs), killed by `stop()` and, as a
// last resort, when this process exits. The binary is $COORD_BIN, else the
// workspace's target/debug/coord, built first with `cargo build -p coord-cli`
// (a no-op when it is up to date). Every wait has a deadline.

const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const { spawn, execFile, execFileSync } = require('node:child_process')
const { onLines, sleep } = require('./helpers.js')

const root = path.resolve(__dirname, '..', '..', '..')
// Short Raft timers: an election takes well under a second.
const MEMBER_FLAGS = ['--heartbeat-ms', '50', '--election-timeout-ms', '300', '--min-session-timeout-ms', '200']


function coordBin() {
  if (process.env.COORD_BIN) return process.env.COORD_BIN
  execFileSync('cargo', ['build', '-q', '--locked', '-p', 'coord-cli'], { cwd: root, stdio: 'inherit', timeout: 900_000 })
  const target = process.env.CARGO_TARGET_DIR || path.join(root, 'target')
  return path.join(target, 'debug', 'coord')
}

/** Binds `port` on 127.0.0.1; the server, or null if it is in use. */
function tryListen(port) {
  return new Promise((resolve) => {
    const s = net.createServer()
    s.once('error', () => resolve(null))
    s.listen(port, '127.0.0.1', () => resolve(s))
  })
}

/**
 * Free loopback ports (bound, noted, released) from below the kernel's
 * ephemeral range, where no outgoing connection takes one as its source port
 * before a member binds it; the search starts at a random port.
 */
async function freePorts(n) {
  let top = 32768
  try {
    top = parseInt(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/)[0], 10) || top
  } catch {}
  const lowest = 10000
  const span = top - lowest
  const start = Math.floor(Math.random() * span)
  const held = []
  try {
    for (let i = 0; i < Math.min(span, 4096) && held.length < n; i++) {
      const s = await tryListen(lowest + ((start + i) % span))
      if (s) held.push(s)
    }
    if (held.length < n) throw new Error(`found ${held.length} of ${n} free loopback ports below ${top}`)
    return held.map((s) => s.address().port)
  } finally {
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))))
  }
}

/** `promise`, or `onTimeout()` after `ms`; the timer never outlives it. */
async function within(promise, ms, onTimeout) {
  let timer
  const expired = new Promise((resolve) => { timer = setTimeout(resolve, ms) }).then(onTimeout)
  try {
    return await Promise.race([promise, expired])
  } finally {
    clearTimeout(timer)
  }
}

// Every member process started in this process, killed at exit if still alive.
const started = new Set()
process.on('exit', () => {
  for (const child of started) {
    try { child.kill('SIGKILL') } catch {}
  }
})

class Member {
  constructor(bin, id, peerPort, spec, dataDir) {
    this.id = id
    this.log = []
    this.addr = null
    this.child = spawn(bin, ['serve', '--id', String(id), '--listen', '127.0.0.1:0',
      '--peer-listen', `127.0.0.1:${peerPort}`, '--cluster', spec, '--data-dir', dataDir, ...MEMBER_FLAGS], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info,openraft=error' },
    })
    started.add(this.child)
    this.exited = new Promise((resolve) => this.child.on('exit', () => {
      started.delete(this.child)
      resolve()
    }))
    this.serving = new Promise((resolve, reject) => {
      onLines(this.child.stderr, (line) => {
        this.log.push(line)
        if (line.startsWith('coord: serving on ') && !this.addr) {
          this.addr = line.slice('coord: serving on '.length).trim()
          resolve(this.addr)
        }
      })
      this.exited.then(() => reject(new Error(`member ${id} exited before serving:\n${this.log.join('\n')}`)))
    })
    this.serving.catch(() => {}) // observed by start()
  }

  alive() {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  /** SIGKILL (no shutdown path runs); resolves once reaped. */
  async kill() {
    if (this.alive()) this.child.kill('SIGKILL')
    await within(this.exited, 10_000, () => {})
  }
}

// Ports are picked before the members bind them, and another process may
// take one in between (an outgoing connection's source port): a start that
// fails on a port in use is retried with new ports.
const START_ATTEMPTS = 3

class Cluster {
  /** `pickPorts(n)` chooses the peer ports (tests of the retry pass their own). */
  static async start(size = 3, pickPorts = freePorts) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await Cluster.startOnce(size, pickPorts)
      } catch (e) {
        if (attempt >= START_ATTEMPTS || !String(e.message).includes('Address already in use')) throw e
      }
    }
  }

  static async startOnce(size, pickPorts) {
    const c = new Cluster()
    try {
      c.bin = coordBin()
      c.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coord-node-cluster-'))
      const ports = await pickPorts(size)
      const spec = ports.map((p, i) => `${i + 1}=127.0.0.1:${p}`).join(',')
      c.members = ports.map((p, i) => new Member(c.bin, i + 1, p, spec, path.join(c.dir, `m${i + 1}`)))
      await within(Promise.all(c.members.map((m) => m.serving)), 60_000, () => {
        throw new Error('members did not serve within 60 s')
      })
      await c.leader()
      return c
    } catch (e) {
      await c.stop()
      throw e
    }
  }

  constructor() {
    this.members = []
    this.dir = null
  }

  /** Client addresses of every member, live or not. */
  get servers() {
    return this.members.map((m) => m.addr).join(',')
  }

  liveServers() {
    return this.members.filter((m) => m.alive()).map((m) => m.addr).join(',')
  }

  member(id) {
    return this.members.find((m) => m.id === id)
  }

  /** `coord cluster status --json` once it names a leader other than `exclude`. */
  async status({ exclude = null, timeoutMs = 30_000 } = {}) {
    const deadline = Date.now() + timeoutMs
    let last = ''
    for (;;) {
      const r = await new Promise((resolve) => {
        execFile(this.bin, ['--servers', this.liveServers(), '--session-timeout-ms', '4000', 'cluster', 'status', '--json'],
          { timeout: 10_000 }, (err, stdout, stderr) => resolve({ err, stdout, stderr }))
      })
      last = `${r.stdout}${r.stderr}`
      if (!r.err) {
        try {
          const s = JSON.parse(r.stdout)
          if (Number.isInteger(s.leader) && s.leader !== exclude) return s
        } catch {}
      }
      if (Date.now() > deadline) throw new Error(`no leader within ${timeoutMs} ms: ${last}`)
      await sleep(100)
    }
  }

  async leader(options) {
    return (await this.status(options)).leader
  }

  async kill(id) {
    await this.member(id).kill()
  }

  /** Kills every member started here and removes the data. Idempotent. */
  async stop() {
    await Promise.all(this.members.map((m) => m.kill()))
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true })
    this.dir = null
  }

  logs() {
    return this.members.map((m) => `--- member ${m.id}\n${m.log.slice(-40).join('\n')}`).join('\n')
  }
}

/** Inodes of this process's sockets (Linux /proc). */
function ownSocketInodes() {
  const inodes = new Set()
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const t = fs.readlinkSync(`/proc/self/fd/${fd}`)
      if (t.startsWith('socket:[')) inodes.add(t.slice(8, -1))
    } catch {}
  }
  return inodes
}

/**
 * The member that this process's one new established TCP connection (a
 * socket not in `known`) goes to: how a test finds the server a client
 * picked from its list. null when not exactly one.
 */
function connectedMember(cluster, known) {
  const byPort = new Map(cluster.members.map((m) => [Number(m.addr.split(':').pop()), m.id]))
  const mine = ownSocketInodes()
  const found = new Set()
  for (const table of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    let text
    try { text = fs.readFileSync(table, 'utf8') } catch { continue }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f.length < 10 || f[3] !== '01') continue // ESTABLISHED only
      const inode = f[9]
      const port = parseInt(f[2].split(':').pop(), 16)
      if (mine.has(inode) && !known.has(inode) && byPort.has(port)) found.add(byPort.get(port))
    }
  }
  return found.size === 1 ? [...found][0] : null
}

module.exports = { Cluster, coordBin, connectedMember, freePorts, ownSocketInodes, sleep }
