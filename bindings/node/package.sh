#!/usr/bin/env bash
# Builds the npm package of coord into DIST:
#   bindings/node/package.sh DIST [--profile release|dev]
# writes DIST/coord-<version>.tgz (`npm pack`), with the prebuilt addon
# `coord.linux-x64-gnu.node` next to index.js (napi-rs's layout), so that
# `npm install coord-<version>.tgz` needs no compiler: scripts/install.js
# skips the build when a prebuilt `.node` is present.
# `release` (default) is what users get (stripped); `dev` builds in debug,
# for checking the packaging quickly. The addon is built without the
# `testing` feature (no in-process server), so lib/testing.* stays out.
# The package is assembled in target/npm-package/ (the source tree is not
# touched: the checked-in index.js / index.d.ts are shipped as they are).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
dist=""
profile=release
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="${2:?--profile needs release or dev}"; shift 2 ;;
    --profile=*) profile="${1#--profile=}"; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "bindings/node/package.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) dist="$1"; shift ;;
  esac
done
[ -n "$dist" ] || { echo "bindings/node/package.sh: usage: package.sh DIST [--profile release|dev]" >&2; exit 2; }
case "$profile" in
  release) napi_profile=(--release --strip) ;;
  dev) napi_profile=() ;;
  *) echo "bindings/node/package.sh: --profile must be release or dev, not '$profile'" >&2; exit 2 ;;
esac
mkdir -p "$dist"
dist="$(cd "$dist" && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"

cd "$here"
# The napi CLI is a devDependency; install the tooling once (no scripts: the
# install hook would build the addon itself).
[ -x node_modules/.bin/napi ] || npm ci --ignore-scripts --no-audit --no-fund >&2

stage="$CARGO_TARGET_DIR/npm-package/$profile"
rm -rf "$stage"
mkdir -p "$stage/lib" "$stage/scripts"
cp package.json index.js index.d.ts "$stage/"
cp scripts/install.js "$stage/scripts/"
for f in lib/*.js lib/*.d.ts; do
  case "$f" in lib/testing.*) continue ;; esac
  cp "$f" "$stage/lib/"
done
# Users get no `coord/testing` entry point: the addon has no test server.
node -e '
  const fs = require("node:fs")
  const file = process.argv[1]
  const pkg = JSON.parse(fs.readFileSync(file, "utf8"))
  delete pkg.exports["./testing"]
  delete pkg.devDependencies
  fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n")
' "$stage/package.json"

# The addon only: the generated JS / type files go to a scratch name and are
# dropped (the checked-in ones are shipped).
npx napi build --platform "${napi_profile[@]}" --output-dir "$stage" \
  --js .scratch-binding.js --dts .scratch-binding.d.ts >&2
rm -f "$stage/.scratch-binding.js" "$stage/.scratch-binding.d.ts"
addon="$stage/coord.linux-x64-gnu.node"
[ -f "$addon" ] || { echo "bindings/node/package.sh: napi build wrote no $addon" >&2; exit 1; }

tarball="$(cd "$stage" && npm pack --pack-destination "$dist" --ignore-scripts --silent | tail -n1)"
tarball="$dist/$tarball"
# The file list must be the package and nothing else: no tests, no target/.
listing="$(tar -tzf "$tarball" | sort)"
expected="$(printf '%s\n' package/package.json package/index.js package/index.d.ts \
  package/scripts/install.js package/coord.linux-x64-gnu.node \
  $(cd "$stage" && ls lib/* | sed 's|^|package/|') | sort)"
if [ "$listing" != "$expected" ]; then
  echo "bindings/node/package.sh: unexpected file list in $tarball:" >&2
  diff <(echo "$expected") <(echo "$listing") >&2 || true
  exit 1
fi
echo "wrote $tarball"
