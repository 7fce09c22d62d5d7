// Node client vs Rust client, per operation: uncontended lock cycle
// (acquire + release) and get (100 B), one client, back to back, against one
// `coord serve` (release build) on 127.0.0.1. Prints a markdown table.
//
//   node bench/bench.mjs [--duration-ms 3000] [--rounds 5]
//
// Builds what it needs in release mode: the coord binary, the Rust baseline
// (core/client/examples/client_baseline.rs, shared with the Python benchmark) and,
// unless a release addon is given with COORD_NODE_ADDON=path/to/coord.node,
// the addon into target/node-bench.
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const pkg = path.join(here, '..')
const repo = path.join(pkg, '..', '..')
const require = createRequire(import.meta.url)
const argv = process.argv.slice(2)
const durationMs = Number(argv[argv.indexOf('--duration-ms') + 1] || 3000) || 3000
const rounds = Number(argv[argv.indexOf('--rounds') + 1] || 5) || 5

function cargo(args) {
  const r = spawnSync('cargo', args, { cwd: repo, stdio: ['ignore', 'inherit', 'inherit'] })
  if (r.status !== 0) throw new Error(`cargo ${args.join(' ')} failed`)
}

cargo(['build', '--release', '-p', 'coord-cli', '--bin', 'coord'])
cargo(['build', '--release', '-p', 'coord-client', '--example', 'client_baseline'])
if (!process.env.COORD_NODE_ADDON) {
  // A release addon next to the package would shadow the debug one the tests
  // build; keep it under target/ and point the loader at it.
  const out = path.join(repo, 'target', 'node-bench')
  const r = spawnSync('npx', ['napi', 'build', '--platform', '--release', '-o', out], {
    cwd: pkg,
    stdio: 'inherit',
  })
  if (r.status !== 0) throw new Error('napi build --release failed')
  process.env.NAPI_RS_NATIVE_LIBRARY_PATH = path.join(out, 'coord.linux-x64-gnu.node')
} else {
  process.env.NAPI_RS_NATIVE_LIBRARY_PATH = process.env.COORD_NODE_ADDON
}

const dataDir = mkdtempSync(path.join(tmpdir(), 'coord-bench-'))
const server = spawn(
  path.join(repo, 'target', 'release', 'coord'),
  ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir],
  { stdio: ['ignore', 'ignore', 'pipe'] },
)
const addr = await new Promise((resolve, reject) => {
  let err = ''
  const timer = setTimeout(() => reject(new Error(`no server address in 30 s: ${err}`)), 30_000)
  server.stderr.setEncoding('utf8')
  server.stderr.on('data', (d) => {
    err += d
    const m = /coord: serving on (\S+)/.exec(err)
    if (m) {
      clearTimeout(timer)
      resolve(m[1])
    }
  })
})

async function rate(op) {
  const warm = Date.now()
  while (Date.now() - warm < durationMs / 10) await op()
  const start = process.hrtime.bigint()
  const end = start + BigInt(durationMs) * 1_000_000n
  let n = 0
  while (process.hrtime.bigint() < end) {
    await op()
    n++
  }
  return n / (Number(process.hrtime.bigint() - start) / 1e9)
}

try {
  const { Client } = require('../lib/index.js')
  const client = await Client.connect({ servers: addr })
  await client.create('/bench-node-get', Buffer.alloc(100, 'x'))
  const exe = path.join(repo, 'target', 'release', 'examples', 'client_baseline')
  // Rounds alternate Node and Rust (this machine is noisy); medians are kept.
  const nodeRounds = []
  const rustRounds = []
  for (let i = 0; i < rounds; i++) {
    nodeRounds.push({
      get: await rate(() => client.get('/bench-node-get')),
      lockCycle: await rate(async () => {
        const lock = await client.lock('/bench-node-lock')
        await lock.release()
      }),
    })
    const r = spawnSync(exe, [addr, String(durationMs)], { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`client_baseline failed: ${r.stderr}`)
    rustRounds.push(JSON.parse(r.stdout.trim().split('\n').pop()))
  }
  await client.close()
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b)
    const m = Math.floor(s.length / 2)
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
  }
  const node = {}
  const rust = {}
  for (const key of ['get', 'lockCycle']) {
    node[key] = median(nodeRounds.map((r) => r[key]))
    rust[key] = median(rustRounds.map((r) => r[key]))
  }

  const row = (name, key) => {
    const slower = (rust[key] / node[key] - 1) * 100
    const verdict = slower <= 25 ? 'ok' : 'OVER'
    return `| ${name} | ${rust[key].toFixed(0)} | ${node[key].toFixed(0)} | ${(1e6 / rust[key]).toFixed(1)} | ${(1e6 / node[key]).toFixed(1)} | ${slower.toFixed(1)}% | ${verdict} |`
  }
  console.log(`\nNode vs Rust client, 1 client, sequential, ${durationMs} ms per workload, median of ${rounds} alternating rounds, coord serve (release) on ${addr}\n`)
  console.log('| operation | Rust ops/s | Node ops/s | Rust us/op | Node us/op | Node slower per op | target <= 25% |')
  console.log('|---|---|---|---|---|---|---|')
  console.log(row('get (100 B)', 'get'))
  console.log(row('lock cycle (acquire + release, uncontended)', 'lockCycle'))
  console.log('\n| round | Rust get/s | Node get/s | Rust cycles/s | Node cycles/s |')
  console.log('|---:|---:|---:|---:|---:|')
  nodeRounds.forEach((n, i) => {
    const r = rustRounds[i]
    console.log(`| ${i + 1} | ${r.get.toFixed(0)} | ${n.get.toFixed(0)} | ${r.lockCycle.toFixed(0)} | ${n.lockCycle.toFixed(0)} |`)
  })
} finally {
  server.kill('SIGTERM')
  rmSync(dataDir, { recursive: true, force: true })
}
