#!/usr/bin/env bash
# A/B comparison of two coord builds on this machine, for performance work:
#
#   tests/bench/ab.sh A_COORD B_COORD
#
# A_COORD and B_COORD are two `coord` binaries (for instance a release build
# of a change and one of its base, copied aside). Both servers run at once,
# each durable with its data in a fresh temp dir, and the harness drives
# them in interleaved rounds with the same client code: A through the
# "coord (ZooKeeper protocol)" rows, B through the "ZooKeeper" rows of its
# ZooKeeper-port comparison (`--only zk-protocol`), so that every round runs
# A and B back to back under the same machine load. On a shared host the
# throughput of one build moves by 10-30% between runs minutes apart, more
# than most changes. In an A/A run (one binary as both A and B, 3 rounds of
# 32-client writes) the per-round A/B ratios stayed within 0.97-1.04 with
# the minimal client and 0.98-1.07 with `zookeeper-client`.
#
# Prints the rows of both clients (the `zookeeper-client` crate and the
# harness's minimal jute client) with A and B as labels, and for each the
# median of the per-round A/B ratios of ops/s. BENCHMARKS.md is not touched.
#
# Environment: ROUNDS (default 5, at least 2), SKIP (workload groups to leave out among
# write, read, lock; default "lock"), DURATION_MS (measured window of each
# workload, default 3000), BENCH_TMP (parent of the temp dir, default /tmp;
# a real disk for the fsyncs to mean anything).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
log() { echo "ab.sh: $*" >&2; }
if [ $# -ne 2 ] || [ ! -x "$1" ] || [ ! -x "$2" ]; then
  echo "usage: tests/bench/ab.sh A_COORD B_COORD (two coord binaries)" >&2
  exit 2
fi
case "${ROUNDS:-5}" in
  ''|*[!0-9]*|0|1) echo "ab.sh: ROUNDS must be 2 or more (the A/B ratio is a median of per-round ratios)" >&2; exit 2 ;;
esac
A_BIN="$(realpath "$1")"
B_BIN="$(realpath "$2")"
cd "$ROOT"
# shellcheck source=tests/bench/common.sh
. "$ROOT/tests/bench/common.sh"
build_bench

WORK="$(mktemp -d "${BENCH_TMP:-/tmp}/coord-ab.XXXXXX")"
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME BIN: starts a durable server with its ZooKeeper port; sets PID.
start() {
  "$2" serve --listen 127.0.0.1:0 --zk-listen 127.0.0.1:0 --data-dir "$WORK/$1" \
    --max-connections 20000 2>"$WORK/$1.log" &
  PID=$!
  PIDS+=("$PID")
}
start a "$A_BIN"; A_PID=$PID
start b "$B_BIN"; B_PID=$PID
for name in a b; do
  for _ in $(seq 1 300); do
    [ -n "$(served_at "$WORK/$name.log")" ] && break
    sleep 0.1
  done
  [ -n "$(served_at "$WORK/$name.log")" ] || { log "server $name did not start:"; cat "$WORK/$name.log" >&2; exit 1; }
done
A_ADDR="$(served_at "$WORK/a.log")"
A_ZK="$(zk_served_at "$WORK/a.log")"
B_ZK="$(zk_served_at "$WORK/b.log")"

log "A = $A_BIN (pid $A_PID), B = $B_BIN (pid $B_PID); ${ROUNDS:-5} rounds"
timeout 1800 "$HARNESS" run --coord "$A_ADDR" --coord-pid "$A_PID" --coord-zk "$A_ZK" \
  --zk "$B_ZK" --zk-pid "$B_PID" --only zk-protocol --skip "${SKIP:-lock}" \
  --rounds "${ROUNDS:-5}" --duration-ms "${DURATION_MS:-3000}" \
  --data-dir "$WORK" --out "$WORK/out.md" --date "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" \
  --command "tests/bench/ab.sh" --versions "A: $A_BIN; B: $B_BIN" --settings "both durable" \
  >"$WORK/harness.log" 2>&1 || { tail -20 "$WORK/harness.log" >&2; exit 1; }

python3 - "$WORK/out.md" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
labels = [
    ("coord (ZooKeeper protocol, minimal client)", "A, minimal client"),
    ("ZooKeeper (minimal client)", "B, minimal client"),
    ("coord (ZooKeeper protocol)", "A, zookeeper-client"),
    ("ZooKeeper", "B, zookeeper-client"),
]
print("| workload | clients | build | ops/s | p50 (us) | p99 (us) | server CPU/op (us) | client CPU/op (us) | ops/s per round |")
print("|---|---:|---|---:|---:|---:|---:|---:|---|")
for line in text.splitlines():
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) < 12 or not cells[0].startswith(("durable write", "read")):
        continue
    label = next((new for old, new in labels if cells[2] == old), None)
    if label:
        print("| " + " | ".join([cells[0], cells[1], label, cells[4], cells[5], cells[6], cells[7], cells[8], cells[-1]]) + " |")
print()
for line in text.splitlines():
    m = re.match(r"- \*\*\w+\*\* (.*?), coord through the ZooKeeper protocol \((.*?)\): >= 1.5x ZooKeeper.*?: median of (\d+) per-round ratios ([\d.]+)x \(rounds: ([^;]*);", line)
    if m:
        what, client, n, ratio, rounds = m.groups()
        client = "minimal client" if "minimal" in client else client
        print(f"- {what}, {client}: A/B ops/s, median of {n} per-round ratios {ratio} (rounds: {rounds})")
PY
