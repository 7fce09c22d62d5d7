#!/usr/bin/env bash
# Builds every package a user installs without a Rust toolchain into dist/
# (or DIST):
#   scripts/package.sh [DIST] [--profile release|dev]
#   coord-<version>-linux-x86_64            the `coord` binary (server and CLI), stripped
#   coord-<version>-cp39-abi3-manylinux*.whl, coord-<version>.tar.gz
#                                           Python wheel (CPython >= 3.9) and sdist
#   coord-<version>.tgz                     Node package, prebuilt addon inside
#   libcoord-<version>-linux-x86_64.tar.gz  C library, header and coord.pc
# `release` (the default) is what users get; `dev` builds in debug, for
# checking the packaging itself quickly. Each language's own script
# (bindings/python/package.sh, bindings/node/package.sh, ffi/package.sh)
# does its part; this one runs them in turn and lists what it wrote with
# sizes (dist/SIZES).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dist="$root/dist"
profile=release
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="${2:?--profile needs release or dev}"; shift 2 ;;
    --profile=*) profile="${1#--profile=}"; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "scripts/package.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) dist="$1"; shift ;;
  esac
done
case "$profile" in
  release) cargo_profile=(--release); outdir=release ;;
  dev) cargo_profile=(); outdir=debug ;;
  *) echo "scripts/package.sh: --profile must be release or dev, not '$profile'" >&2; exit 2 ;;
esac
mkdir -p "$dist"
dist="$(cd "$dist" && pwd)"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -n1)"
target="${CARGO_TARGET_DIR:-$root/target}"

echo "== coord binary ($profile)"
(cd "$root" && cargo build -p coord-cli --bin coord --locked "${cargo_profile[@]}")
bin="$dist/coord-$version-linux-x86_64"
cp "$target/$outdir/coord" "$bin"
strip "$bin"
echo "wrote $bin"

for part in bindings/python/package.sh bindings/node/package.sh ffi/package.sh; do
  if [ -x "$root/$part" ]; then
    echo "== $part ($profile)"
    "$root/$part" "$dist" --profile "$profile"
  else
    echo "scripts/package.sh: $part is missing" >&2
    exit 1
  fi
done

(cd "$dist" && for f in *; do
  [ "$f" = SIZES ] && continue
  printf '%s\t%s\n' "$(stat -c %s "$f")" "$f"
done) > "$dist/SIZES"
echo "== $dist (bytes, file)"
cat "$dist/SIZES"
