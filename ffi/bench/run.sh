#!/usr/bin/env bash
# libcoord vs the native Rust client: uncontended lock cycle and get
# latency (sequential, one caller), release builds, one local durable server.
#   ffi/bench/run.sh [ITERATIONS] [ROUNDS]     (defaults 2000, 3)
# Prints a markdown table (best of ROUNDS, alternating C and Rust runs).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
n="${1:-2000}"
rounds="${2:-3}"
target="${CARGO_TARGET_DIR:-$root/target}"
tmp="$(mktemp -d -t coord-bench-XXXXXX)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
cargo build --release --locked -p coord-ffi --lib --example bench_native >&2
cargo build --release --locked -p coord-cli --bins >&2
# libcoord's soname is libcoord.so.0 (ffi/build.rs) and cargo writes only
# libcoord.so: the program links and loads it through both names here.
mkdir -p "$tmp/lib"
ln -s "$target/release/libcoord.so" "$tmp/lib/libcoord.so"
ln -s "$target/release/libcoord.so" "$tmp/lib/libcoord.so.0"
gcc -std=c11 -O2 -Wall -Wextra -Werror -Iinclude ffi/bench/bench.c -L"$tmp/lib" \
  -Wl,-rpath,"$tmp/lib" -lcoord -o "$tmp/bench_c"
"$target/release/coord" serve --listen 127.0.0.1:0 --data-dir "$tmp/data" 2>"$tmp/server.log" &
server_pid=$!
addr=""
for _ in $(seq 1 300); do
  addr="$(sed -n 's/.*coord: serving on \([0-9.:]*\).*/\1/p' "$tmp/server.log" | head -n1)"
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { cat "$tmp/server.log" >&2; exit 1; }
best() { # file name -> smallest mean
  awk -v k="$2" '$1 == k { if (m == "" || $3 < m) m = $3 } END { print m }' "$1"
}
for _ in $(seq 1 "$rounds"); do
  timeout 600 "$tmp/bench_c" "$addr" "$n" >>"$tmp/c.txt"
  timeout 600 "$target/release/examples/bench_native" "$addr" "$n" >>"$tmp/rust.txt"
done
printf '| operation (sequential, 1 caller) | native Rust client (µs/op) | C ABI (µs/op) | C overhead |\n'
printf '|---|---|---|---|\n'
for op in lock_cycle get; do
  r="$(best "$tmp/rust.txt" "$op")"
  c="$(best "$tmp/c.txt" "$op")"
  awk -v op="$op" -v r="$r" -v c="$c" 'BEGIN {
    label = (op == "get") ? "get (16 B node)" : "lock cycle (acquire + release, uncontended)";
    printf "| %s | %.1f | %.1f | %+.1f%% |\n", label, r, c, (c - r) / r * 100 }'
done
printf '\nbest of %s rounds; %s lock cycles and %s gets per round; release builds; one durable local server (%s cores).\n' \
  "$rounds" "$n" "$((n * 10))" "$(nproc)"
