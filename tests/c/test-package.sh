#!/usr/bin/env bash
# Install test of the C package: unpacks libcoord-VERSION-linux-x86_64.tar.gz
# from $COORD_DIST (when unset or without it, builds one with
# `ffi/package.sh target/dist-dev --profile dev` first), then, on a PATH
# that has no cargo or rustc:
# - checks the layout and that libcoord.so.VERSION carries the soname
#   libcoord.so.MAJOR (readelf), and that a program records that soname;
# - compiles ffi/examples/getting_started.c with
#   `pkg-config --cflags --libs coord` against the unpacked tree;
# - runs it against a real `coord serve` (127.0.0.1, free port) with an
#   empty environment, and checks it loads libcoord from the unpacked lib
#   dir and nowhere else (with that dir moved away it must not start).
# The server binary is $COORD_BIN, else the one in $COORD_DIST
# (coord-VERSION-linux-x86_64), else target/debug/coord (built when missing).
# Runs alone (tests/c/test-package.sh) and at the end of tests/c/run.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
tmp="$(mktemp -d -t coord-cpkg-test-XXXXXX)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
step() { printf '\n--> %s\n' "$*"; }
fail() { echo "C package test: $*" >&2; exit 1; }

version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
major="${version%%.*}"
name="libcoord-$version-linux-x86_64"
tarball=""
if [ -n "${COORD_DIST:-}" ] && [ -f "$COORD_DIST/$name.tar.gz" ]; then
  tarball="$COORD_DIST/$name.tar.gz"
else
  step "no $name.tar.gz in \$COORD_DIST: ffi/package.sh target/dist-dev --profile dev"
  ffi/package.sh "$root/target/dist-dev" --profile dev
  tarball="$root/target/dist-dev/$name.tar.gz"
fi
echo "package: $tarball"

coord_bin="${COORD_BIN:-}"
if [ -z "$coord_bin" ] && [ -n "${COORD_DIST:-}" ]; then
  # scripts/package.sh puts the server there as coord-VERSION-linux-x86_64.
  for b in "$COORD_DIST/coord-$version-linux-x86_64" "$COORD_DIST/coord"; do
    if [ -x "$b" ]; then coord_bin="$b"; break; fi
  done
fi
if [ -z "$coord_bin" ]; then
  coord_bin="$target/debug/coord"
  [ -x "$coord_bin" ] || cargo build --locked -p coord-cli
fi

step "a PATH without cargo or rustc"
tools=(gcc pkg-config readelf tar sed grep mktemp timeout env sleep cat mv rm)
dirs=""
for t in "${tools[@]}"; do
  p="$(command -v "$t")" || fail "needs $t on PATH"
  d="$(dirname "$p")"
  case ":$dirs:" in *":$d:"*) ;; *) dirs="${dirs:+$dirs:}$d" ;; esac
done
export PATH="$dirs"
echo "PATH=$PATH"
if command -v cargo >/dev/null 2>&1 || command -v rustc >/dev/null 2>&1; then
  fail "cargo or rustc is still on PATH ($PATH): the test must run without a Rust toolchain"
fi

step "unpack and check the layout"
tar -C "$tmp" -xzf "$tarball"
pkg="$tmp/$name"
lib="$pkg/lib"
for f in "lib/libcoord.so.$version" "lib/libcoord.so.$major" lib/libcoord.so lib/libcoord.a \
         include/coord.h lib/pkgconfig/coord.pc; do
  [ -e "$pkg/$f" ] || fail "$name.tar.gz lacks $name/$f"
done
[ "$(readlink "$lib/libcoord.so.$major")" = "libcoord.so.$version" ] || fail "libcoord.so.$major does not link to libcoord.so.$version"
[ "$(readlink "$lib/libcoord.so")" = "libcoord.so.$major" ] || fail "libcoord.so does not link to libcoord.so.$major"
soname="$(readelf -d "$lib/libcoord.so.$version" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')"
[ "$soname" = "libcoord.so.$major" ] || fail "soname of libcoord.so.$version is '${soname:-none}', expected libcoord.so.$major"
echo "soname: $soname"

step "compile getting_started.c with pkg-config"
export PKG_CONFIG_PATH="$lib/pkgconfig"
[ "$(pkg-config --modversion coord)" = "$version" ] || fail "pkg-config --modversion coord is not $version"
read -r -a pc <<<"$(pkg-config --cflags --libs coord)"
gcc -Wall -Wextra -Werror ffi/examples/getting_started.c "${pc[@]}" -o "$tmp/getting_started"
needed="$(readelf -d "$tmp/getting_started" | sed -n 's/.*(NEEDED).*\[\(libcoord[^]]*\)\].*/\1/p')"
[ "$needed" = "libcoord.so.$major" ] || fail "the program needs '${needed:-nothing}', expected libcoord.so.$major"

step "start coord serve"
"$coord_bin" serve --listen 127.0.0.1:0 --data-dir "$tmp/data" 2>"$tmp/server.log" &
server_pid=$!
addr=""
for _ in $(seq 1 300); do
  addr="$(sed -n 's/.*coord: serving on \([0-9.:]*\).*/\1/p' "$tmp/server.log" | head -n1)"
  [ -n "$addr" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.log" >&2; fail "server exited"; }
  sleep 0.1
done
[ -n "$addr" ] || { cat "$tmp/server.log" >&2; fail "server did not start"; }
echo "server on $addr"

step "run getting_started from the unpacked tree only"
# An empty environment: no LD_LIBRARY_PATH, no target dirs; the library
# comes from the rpath that coord.pc put in, i.e. the unpacked lib dir.
timeout 60 env -i "$tmp/getting_started" "$addr" >"$tmp/gs.out" || { cat "$tmp/gs.out"; fail "getting_started failed"; }
cat "$tmp/gs.out"
grep -q '^locked, token ' "$tmp/gs.out" || fail "getting_started did not lock"
grep -q '^leader, term ' "$tmp/gs.out" || fail "getting_started was not elected"
grep -q '^changed: /demo/config' "$tmp/gs.out" || fail "getting_started saw no watch event"
# Without the unpacked lib dir the program must not start: it loaded no
# other libcoord.
mv "$lib" "$pkg/lib.away"
if timeout 30 env -i "$tmp/getting_started" "$addr" >/dev/null 2>"$tmp/noload.err"; then
  fail "getting_started ran with the package's lib dir moved away: it loads libcoord from elsewhere"
fi
grep -q "libcoord.so.$major" "$tmp/noload.err" || { cat "$tmp/noload.err" >&2; fail "expected a loader error naming libcoord.so.$major"; }
mv "$pkg/lib.away" "$lib"

echo
echo "C package test passed ($name)"
