#!/usr/bin/env bash
# Python client vs Rust client (get, uncontended lock cycle), release builds,
# against one durable `coord serve` on 127.0.0.1, rounds alternating; also the
# in-process comparison. Prints markdown tables (see bench.py).
#   bindings/python/bench/run.sh [SECONDS_PER_WORKLOAD] [ROUNDS]   (defaults 3, 5)
#
# Installs the package the way a user does (`pip install ./bindings/python`,
# a release build) into its own venv, target/python-bench-venv.
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$root"
seconds="${1:-3}"
rounds="${2:-5}"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$root/target/python-bench-venv"
tmp="$(mktemp -d -t coord-pybench-XXXXXX)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
cargo build --release --locked -p coord-cli --bin coord >&2
cargo build --release --locked -p coord-client --example client_baseline >&2
[ -x "$venv/bin/python" ] || "${PYTHON:-python3}" -m venv "$venv"
# maturin gets its own target dir, as in run-tests.sh. The `testing` feature
# (coord.testing.Server and the Rust loop of the in-process comparison) is
# on here only: the package a user installs has neither.
MATURIN_PEP517_ARGS="--features testing" \
CARGO_TARGET_DIR="$root/target/maturin" "$venv/bin/python" -m pip install -q \
  --disable-pip-version-check --force-reinstall --no-deps ./bindings/python >&2
"$target/release/coord" serve --listen 127.0.0.1:0 --data-dir "$tmp/data" 2>"$tmp/server.log" &
server_pid=$!
addr=""
for _ in $(seq 1 300); do
  addr="$(sed -n 's/.*coord: serving on \([0-9.:]*\).*/\1/p' "$tmp/server.log" | head -n1)"
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { cat "$tmp/server.log" >&2; exit 1; }
cd "$tmp" # import the installed package, not the source tree
"$venv/bin/python" "$root/bindings/python/bench/bench.py" --servers "$addr" \
  --baseline "$target/release/examples/client_baseline" --seconds "$seconds" --rounds "$rounds" \
  --in-process 5000
printf '\n%s cores; load average at the end: %s\n' "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
