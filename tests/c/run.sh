#!/usr/bin/env bash
# The libcoord C suite: header drift, install + pkg-config, C tests under
# valgrind memcheck, C examples, all against a real `coord serve` started
# here (127.0.0.1, free port, temp data dir) and killed on exit.
# test_security gets a second server with mTLS and a tokens file, and its
# certificates from scripts/make-local-ca.sh.
# Ends with tests/c/test-package.sh (the release tarball, installed and used
# on a PATH without cargo).
# Called by scripts/test-all.sh; runs alone too: tests/c/run.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
tmp="$(mktemp -d -t coord-c-XXXXXX)"
server_pid=""
tls_pid=""
cleanup() {
  for pid in $server_pid $tls_pid; do
    kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
step() { printf '\n--> %s\n' "$*"; }

# Tools beyond the toolchains (gcc, Rust): cbindgen 0.29.4 is installed once
# into target/tools by ffi/generate-header.sh; pkg-config and valgrind are
# installed here from Debian when missing (apt-get, as root or through sudo).
apt_need=()
command -v pkg-config >/dev/null 2>&1 || apt_need+=(pkg-config)
command -v valgrind >/dev/null 2>&1 || apt_need+=(valgrind)
if [ ${#apt_need[@]} -gt 0 ]; then
  step "install ${apt_need[*]} (apt)"
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
  if ! command -v apt-get >/dev/null 2>&1 || { [ -n "$sudo" ] && ! command -v sudo >/dev/null 2>&1; }; then
    echo "C suite: needs ${apt_need[*]}, not installed, and cannot install it here (apt-get as root or through sudo): install ${apt_need[*]} yourself" >&2
    exit 1
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${apt_need[@]}"
fi

step "build libcoord and the server (debug)"
cargo build --locked -p coord-ffi -p coord-cli

step "header drift (pinned cbindgen)"
ffi/generate-header.sh "$tmp/coord.h"
if ! diff -u include/coord.h "$tmp/coord.h"; then
  echo "include/coord.h is stale: run ffi/generate-header.sh and commit it" >&2
  exit 1
fi

step "every function in coord.h documented"
tests/c/check-header-docs.sh include/coord.h

step "install into a temp prefix; compile with pkg-config"
ffi/install.sh "$tmp/prefix" debug
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
pkg-config --exists coord
cflags=(-std=c11 -Wall -Wextra -Werror -g)
read -r -a pc <<<"$(pkg-config --cflags --libs coord)"
mkdir -p "$tmp/bin"
for src in tests/c/test_*.c examples/c/*.c; do
  name="$(basename "$src" .c)"
  gcc "${cflags[@]}" -Itests/c "$src" "${pc[@]}" -lpthread -o "$tmp/bin/$name"
done
# test_abi again as a program built against a header of another ABI version.
gcc "${cflags[@]}" -DTEST_ABI_OVERRIDE=999 -Itests/c tests/c/test_abi.c "${pc[@]}" \
  -o "$tmp/bin/test_abi_other"
# The static library links too (a C program with no Rust toolchain at hand).
gcc "${cflags[@]}" examples/c/lock.c -I"$tmp/prefix/include" "$tmp/prefix/lib/libcoord.a" \
  -lpthread -ldl -lm -o "$tmp/bin/lock-static"

step "start coord serve"
"$target/debug/coord" serve --listen 127.0.0.1:0 --data-dir "$tmp/data" \
  --min-session-timeout-ms 200 2>"$tmp/server.log" &
server_pid=$!
addr=""
for _ in $(seq 1 300); do
  addr="$(sed -n 's/.*coord: serving on \([0-9.:]*\).*/\1/p' "$tmp/server.log" | head -n1)"
  [ -n "$addr" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$addr" ] || { echo "server did not start" >&2; cat "$tmp/server.log" >&2; exit 1; }
export COORD_TEST_SERVERS="$addr"
echo "server on $addr"
# test_cluster_lock starts (and kills) its own 3-member cluster of this binary.
export COORD_BIN="$target/debug/coord"

step "start coord serve with mTLS and a tokens file (test_security)"
# A local CA signs the server and client certificates; a second CA ("other")
# signs nothing the server shows, for the refused-CA test.
tls="$tmp/tls"
scripts/make-local-ca.sh "$tls" >/dev/null
scripts/make-local-ca.sh "$tls/other" >/dev/null
printf 'alice tok-alice\n' >"$tls/tokens"
"$target/debug/coord" serve --listen 127.0.0.1:0 --data-dir "$tmp/data-tls" \
  --tls-cert "$tls/server.pem" --tls-key "$tls/server-key.pem" --tls-client-ca "$tls/ca.pem" \
  --tokens-file "$tls/tokens" 2>"$tmp/server-tls.log" &
tls_pid=$!
tls_addr=""
for _ in $(seq 1 300); do
  tls_addr="$(sed -n 's/.*coord: serving on \([0-9.:]*\).*/\1/p' "$tmp/server-tls.log" | head -n1)"
  [ -n "$tls_addr" ] && break
  kill -0 "$tls_pid" 2>/dev/null || { cat "$tmp/server-tls.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$tls_addr" ] || { echo "TLS server did not start" >&2; cat "$tmp/server-tls.log" >&2; exit 1; }
export COORD_TEST_TLS_SERVERS="$tls_addr" COORD_TEST_TLS_DIR="$tls"
echo "TLS server on $tls_addr"

vg=(valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite
    --errors-for-leak-kinds=definite --trace-children=yes --trace-children-skip='*/coord')

run_bounded() { # seconds, command...
  local secs="$1"; shift
  timeout --kill-after=10 "$secs" "$@"
}

step "C tests under valgrind memcheck"
# COORD_C_TESTS narrows the list while working on one test.
# test_security speaks TLS: ring's assembly (AES-GCM, constant-time
# compares) writes bytes memcheck cannot see initialised, so its
# uninitialised-value reports are off there; leaks and invalid accesses
# are still errors.
for t in ${COORD_C_TESTS:-test_abi test_abi_other test_api test_multilock test_group_cache test_session test_security test_lock_threads test_failover test_cluster_lock}; do
  echo "[$t]"
  extra=()
  [ "$t" = test_security ] && extra=(--undef-value-errors=no)
  run_bounded 600 "${vg[@]}" "${extra[@]}" "$tmp/bin/$t"
done

step "C examples"
run_bounded 120 "${vg[@]}" "$tmp/bin/lock" "$addr"
run_bounded 60 "$tmp/bin/lock-static" "$addr" >/dev/null
run_bounded 120 "${vg[@]}" "$tmp/bin/config_watch" "$addr"
# Failover: A leads for a second then resigns; B, waiting behind, takes over.
run_bounded 120 "$tmp/bin/election" A 1000 "$addr" >"$tmp/a.out" &
a=$!
sleep 0.5
run_bounded 120 "${vg[@]}" "$tmp/bin/election" B 100 "$addr" >"$tmp/b.out"
wait "$a"
cat "$tmp/a.out" "$tmp/b.out"
grep -q "A leads" "$tmp/a.out" && grep -q "B leads" "$tmp/b.out"

step "C package: install from the tarball, no Rust toolchain (tests/c/test-package.sh)"
run_bounded 900 tests/c/test-package.sh

echo
echo "libcoord C suite passed"
