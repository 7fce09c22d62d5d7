#!/usr/bin/env bash
# Install test of the npm package (issue 17): installs coord-<version>.tgz
# from $COORD_DIST (or, when unset or the tarball is missing there, builds it
# with `package.sh --profile dev` into target/dist-dev) into an empty project
# under target/, on a PATH without cargo or rustc, then
#   - runs examples/getting_started.mjs (ESM) and .cjs (CommonJS) against a
#     real `coord serve` on 127.0.0.1 port 0,
#   - type-checks test/package/usage.ts with tsc --strict against the
#     installed declarations,
#   - checks that a tarball without the native addon fails to install (so
#     this test would catch a broken package).
# The server binary: $COORD_BIN, else $COORD_DIST/coord-<version>-linux-x86_64,
# else target/debug/coord (built with cargo if missing).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
version="$(node -p "require('$here/package.json').version")"
log() { printf 'node test-package: %s\n' "$*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

tarball=""
if [ -n "${COORD_DIST:-}" ] && [ -f "$COORD_DIST/coord-$version.tgz" ]; then
  tarball="$COORD_DIST/coord-$version.tgz"
else
  log "no coord-$version.tgz in \${COORD_DIST:-(unset)}: building it (dev profile) into $target/dist-dev"
  "$here/package.sh" "$target/dist-dev" --profile dev >&2
  tarball="$target/dist-dev/coord-$version.tgz"
fi
coord="${COORD_BIN:-}"
if [ -z "$coord" ] && [ -n "${COORD_DIST:-}" ] && [ -x "$COORD_DIST/coord-$version-linux-x86_64" ]; then
  coord="$COORD_DIST/coord-$version-linux-x86_64"
fi
if [ -z "$coord" ]; then
  coord="$target/debug/coord"
  [ -x "$coord" ] || (cd "$root" && cargo build -p coord-cli --bin coord >&2)
fi
tsc="$here/node_modules/typescript/bin/tsc"
[ -f "$tsc" ] || (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund >&2)
log "package $tarball, server $coord"

# From here on: only the directories of the tools this test needs.
node_bin="$(dirname "$(command -v node)")"
npm_bin="$(dirname "$(command -v npm)")"
sh_bin="$(dirname "$(command -v sh)")"
PATH="$(printf '%s\n' "$node_bin" "$npm_bin" "$sh_bin" /usr/bin /bin | awk '!seen[$0]++' | paste -sd:)"
export PATH
if command -v cargo >/dev/null || command -v rustc >/dev/null; then
  fail "cargo or rustc is still on PATH=$PATH: this test must run without a Rust toolchain"
fi

work="$target/node-package-test"
rm -rf "$work"
mkdir -p "$work"
server_pid=""
cleanup() { [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true; }
trap cleanup EXIT

# new_project DIR: an empty npm project.
new_project() {
  mkdir -p "$1"
  printf '{ "name": "coord-install-test", "version": "1.0.0", "private": true }\n' >"$1/package.json"
}
# install DIR TARBALL: npm install, offline (the package has no dependencies).
install() {
  (cd "$1" && npm install --offline --no-audit --no-fund --cache "$work/npm-cache" "$2")
}

# start_server NAME: a fresh `coord serve` on port 0; sets SERVERS.
start_server() {
  local dir="$work/$1"
  cleanup
  mkdir -p "$dir"
  "$coord" serve --listen 127.0.0.1:0 --data-dir "$dir/data" 2>"$dir/log" &
  server_pid=$!
  SERVERS=""
  for _ in $(seq 1 300); do
    SERVERS="$(sed -n 's/^coord: serving on //p' "$dir/log" | head -1)"
    [ -n "$SERVERS" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$dir/log" >&2
  fail "coord serve did not start"
}

# run_example FILE: runs it in the project against a fresh server; checks
# every step printed its line.
run_example() {
  local file=$1 out
  start_server "server-${file##*.}"
  cp "$here/examples/$file" "$project/"
  out="$(cd "$project" && COORD_SERVERS="$SERVERS" timeout 60 node "$file")" || fail "$file exited with $?"
  printf '%s\n' "$out" | sed "s/^/  $file: /" >&2
  for want in '^lock held, fencing token [0-9]' '^elected: worker-1$' '^watch: dataChanged /app/config$'; do
    printf '%s\n' "$out" | grep -q "$want" || fail "$file printed no line matching '$want'"
  done
}

log "install into an empty project (no compiler on PATH)"
project="$work/project"
new_project "$project"
install "$project" "$tarball" >&2 || fail "npm install $tarball"
[ -f "$project/node_modules/coord/coord.linux-x64-gnu.node" ] || fail "the installed package has no prebuilt addon"

log "getting started, ESM and CommonJS"
run_example getting_started.mjs
run_example getting_started.cjs

log "tsc --strict on a TypeScript user of the package"
cp "$here/test/package/usage.ts" "$project/usage.ts"
cat >"$project/tsconfig.json" <<JSON
{
  "compilerOptions": {
    "target": "ES2022",
    "lib": ["ES2022", "ESNext.Disposable"],
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "strict": true,
    "noEmit": true,
    "skipLibCheck": false,
    "typeRoots": ["$here/node_modules/@types"],
    "types": ["node"]
  },
  "files": ["usage.ts"]
}
JSON
(cd "$project" && node "$tsc" -p tsconfig.json) || fail "tsc found errors in usage.ts against the installed package"

log "a package without its native addon must not install"
broken="$work/broken"
mkdir -p "$broken/unpacked"
tar -xzf "$tarball" -C "$broken/unpacked"
rm "$broken/unpacked/package/coord.linux-x64-gnu.node"
tar -czf "$broken/coord-broken.tgz" -C "$broken/unpacked" package
new_project "$broken/project"
if install "$broken/project" "$broken/coord-broken.tgz" >"$broken/install.log" 2>&1 &&
  (cd "$broken/project" && node -e "require('coord')") >>"$broken/install.log" 2>&1; then
  fail "a tarball without coord.linux-x64-gnu.node installed and loaded: this test cannot see a broken package"
fi
grep -q 'native addon' "$broken/install.log" || { cat "$broken/install.log" >&2; fail "the broken package failed for another reason than its missing addon"; }

log "ok"
