#!/usr/bin/env bash
# Builds the C release tarball of libcoord:
#   ffi/package.sh DIST [--profile release|dev]     (default: release)
# writes DIST/libcoord-VERSION-linux-x86_64.tar.gz, whose top directory
# libcoord-VERSION-linux-x86_64/ holds what ffi/install.sh installs
# (lib/libcoord.so.VERSION and its links, lib/libcoord.a, include/coord.h,
# lib/pkgconfig/coord.pc, relocatable), and prints the path it wrote.
# Called by scripts/package.sh; tests/c/test-package.sh uses --profile dev.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
usage="usage: ffi/package.sh DIST [--profile release|dev]"
dist="${1:?$usage}"
shift
profile=release
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="${2:?$usage}"; shift 2 ;;
    --profile=*) profile="${1#--profile=}"; shift ;;
    *) echo "ffi/package.sh: unknown argument '$1'; $usage" >&2; exit 2 ;;
  esac
done
case "$profile" in
  release) cargo_flags=(--release); dir=release ;;
  dev|debug) cargo_flags=(); dir=debug ;;
  *) echo "ffi/package.sh: unknown profile '$profile'; $usage" >&2; exit 2 ;;
esac
cd "$root"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
name="libcoord-$version-linux-x86_64"
cargo build --locked -p coord-ffi "${cargo_flags[@]}" >&2
mkdir -p "$dist"
dist="$(cd "$dist" && pwd)"
stage="$(mktemp -d -t coord-cpkg-XXXXXX)"
trap 'rm -rf "$stage"' EXIT
ffi/install.sh "$stage/$name" "$dir" >&2
if [ "$profile" = release ]; then
  # Users get no debug sections; the dev package keeps them for valgrind.
  strip --strip-debug "$stage/$name/lib/libcoord.so.$version" "$stage/$name/lib/libcoord.a"
fi
tar -C "$stage" --owner=0 --group=0 --numeric-owner -czf "$dist/$name.tar.gz" "$name"
echo "$dist/$name.tar.gz"
