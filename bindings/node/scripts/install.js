'use strict'
// `npm install` hook: builds the native addon from source (release) when no
// prebuilt `coord.<platform>.node` sits next to index.js. Needs Rust (cargo)
// and uses @napi-rs/cli when it is installed, plain cargo otherwise (the
// generated index.js / index.d.ts are checked in, so cargo is enough).
// Set COORD_NODE_SKIP_BUILD=1 to skip (the test command builds in debug).

const fs = require('node:fs')
const path = require('node:path')
const { execFileSync, spawnSync } = require('node:child_process')

const root = path.join(__dirname, '..')
if (process.env.COORD_NODE_SKIP_BUILD) process.exit(0)
if (fs.readdirSync(root).some((f) => /^coord\..+\.node$/.test(f))) process.exit(0)

function suffix() {
  const { platform, arch } = process
  if (platform !== 'linux') return `${platform}-${arch}`
  const glibc = process.report?.getReport?.().header?.glibcVersionRuntime
  return `linux-${arch}-${glibc ? 'gnu' : 'musl'}`
}

const cli = path.join(root, 'node_modules', '.bin', 'napi')
if (fs.existsSync(cli)) {
  execFileSync(cli, ['build', '--platform', '--release'], { cwd: root, stdio: 'inherit' })
  process.exit(0)
}

const build = spawnSync(
  'cargo',
  ['build', '--release', '-p', 'coord-node', '--message-format=json-render-diagnostics'],
  { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 1 << 28 },
)
if (build.status !== 0) {
  console.error('coord: building the native addon failed (is Rust installed? https://rustup.rs)')
  process.exit(build.status ?? 1)
}
let lib
for (const line of build.stdout.split('\n')) {
  if (!line.startsWith('{')) continue
  const msg = JSON.parse(line)
  if (msg.reason === 'compiler-artifact' && msg.target?.name === 'coord_node') {
    lib = msg.filenames.find((f) => /\.(so|dylib|dll)$/.test(f))
  }
}
if (!lib) {
  console.error('coord: cargo built no coord_node library')
  process.exit(1)
}
fs.copyFileSync(lib, path.join(root, `coord.${suffix()}.node`))
