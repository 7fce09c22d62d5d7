#!/usr/bin/env bash
# The three binding benchmarks in one run (issue 17): C (ffi/bench/run.sh),
# Python (bindings/python/bench/run.sh) and Node (bindings/node/bench/bench.mjs)
# one after the other, so that their figures come from the same hour and
# the same machine state, and one table of each binding's per-call cost
# against the Rust client. Each harness keeps its own method (C: best of
# rounds against the Rust client's own benchmark program; Python and Node:
# median of rounds alternating with the Rust baseline, the `main` shape);
# the harnesses' own tables follow the summary. Rewrites the section of
# BENCHMARKS.md between <!-- bench:bindings-table:start --> and
# <!-- bench:bindings-table:end -->.
#
#   tests/bench/bindings.sh
#
# Environment: C_ITERATIONS (default 2000 lock cycles, ten times as many
# gets, per round), C_ROUNDS (default 5), SECONDS_PER_WORKLOAD (default 1,
# Python and Node), ROUNDS (default 9, Python and Node), BENCH_OUT (default
# BENCHMARKS.md). Each harness starts its own release `coord serve` on
# 127.0.0.1 and stops it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
C_ITERATIONS="${C_ITERATIONS:-2000}"
C_ROUNDS="${C_ROUNDS:-5}"
SECONDS_PER_WORKLOAD="${SECONDS_PER_WORKLOAD:-1}"
ROUNDS="${ROUNDS:-9}"
OUT="${BENCH_OUT:-$ROOT/BENCHMARKS.md}"
log() { echo "bindings.sh: $*" >&2; }
# shellcheck source=tests/bench/common.sh
. "$ROOT/tests/bench/common.sh"
WORK="$(mktemp -d -t coord-bindings-bench-XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
started=$(date +%s)
stamp() { date -u +%H:%M; }
log "C ($(stamp))"
c_at=$(stamp)
timeout 1800 ffi/bench/run.sh "$C_ITERATIONS" "$C_ROUNDS" >"$WORK/c.md"
log "Python ($(stamp))"
py_at=$(stamp)
timeout 1800 bindings/python/bench/run.sh "$SECONDS_PER_WORKLOAD" "$ROUNDS" >"$WORK/python.md"
log "Node ($(stamp))"
node_at=$(stamp)
(cd bindings/node && timeout 1800 node bench/bench.mjs --duration-ms "$((SECONDS_PER_WORKLOAD * 1000))" \
  --rounds "$ROUNDS") >"$WORK/node.md"
wall=$(( $(date +%s) - started ))
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

SECTION="$(python3 - "$WORK" "$(git rev-parse --short HEAD)" "$load_start" "$load_end" "$wall" \
  "$c_at" "$py_at" "$node_at" "$C_ITERATIONS" "$C_ROUNDS" "$SECONDS_PER_WORKLOAD" "$ROUNDS" <<'PY'
import datetime, os, re, sys
work, rev, l0, l1, wall, c_at, py_at, node_at, c_n, c_rounds, secs, rounds = sys.argv[1:]

def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]

def num(text):
    return float(text.replace(",", "").rstrip("%"))

def from_first_table(text, heading=None):
    """The harness's report: from `heading` (or the first table) on; build
    tools' lines before it are dropped."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if (heading and line.startswith(heading)) or (not heading and line.startswith("|")):
            return "\n".join(lines[i:])
    return text

rows = []  # (binding, operation, rust us, binding us, target, method)
c_text = from_first_table(open(f"{work}/c.md").read())
for line in c_text.splitlines():
    c = cells(line)
    if line.startswith("| get") or line.startswith("| lock cycle"):
        op = "get" if c[0].startswith("get") else "lock cycle"
        rows.append(("C", op, num(c[1]), num(c[2]), 0.10, f"best of {c_rounds} rounds"))
py_text = from_first_table(open(f"{work}/python.md").read())
for line in py_text.split("In-process")[0].splitlines():
    c = cells(line)
    if line.startswith("|") and "vs Rust `main`" in c[0]:
        op = "get" if c[0].startswith("get") else "lock cycle"
        rows.append(("Python", op, num(c[3]), num(c[4]), 0.25, f"median of {rounds} alternating rounds"))
node_text = from_first_table(open(f"{work}/node.md").read(), "Node vs Rust")
for line in node_text.splitlines():
    c = cells(line)
    if line.startswith("| get") or line.startswith("| lock cycle"):
        op = "get" if c[0].startswith("get") else "lock cycle"
        rows.append(("Node", op, num(c[3]), num(c[4]), 0.25, f"median of {rounds} alternating rounds"))
if len(rows) != 6:
    sys.exit(f"bindings.sh: expected 6 rows from the three harnesses, parsed {len(rows)}")

out = [f"Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d} on {rev} (release builds), "
       f"{os.cpu_count()} CPUs; C at {c_at}, Python at {py_at}, Node at {node_at} UTC, {wall} s in all; "
       f"load (1/5/15 min) {l0} at the start, {l1} at the end. Command: `tests/bench/bindings.sh`.", "",
       "| binding | operation | Rust client (us/op) | binding (us/op) | binding slower per op | target | verdict | method |",
       "|---|---|---:|---:|---:|---:|---|---|"]
for b, op, r, x, t, how in rows:
    cost = x / r - 1
    out.append(f"| {b} | {op} | {r:.1f} | {x:.1f} | {cost:+.1%} | at most {t:.0%} | "
               f"{'PASS' if cost <= t else 'MISS'} | {how} |")
out += ["", "Operations: `get` of a small node (C: 16 B, Python and Node: 100 B) and an uncontended lock "
        "cycle (acquire + release: two durable writes), one caller, back to back, each against a fresh "
        "release `coord serve` of its harness. The Rust side is the same client in a program of its own: "
        "`bench_native` for C, `client_baseline` (its loops on the `#[tokio::main]` thread) for Python and Node.",
        "", "<details><summary>The harnesses' own output</summary>", "",
        f"`ffi/bench/run.sh {c_n} {c_rounds}`:", "", c_text.strip(), "",
        f"`bindings/python/bench/run.sh {secs} {rounds}`:", "", py_text.strip(), "",
        f"`node bindings/node/bench/bench.mjs --duration-ms {int(secs) * 1000} --rounds {rounds}`:", "",
        node_text.strip(), "", "</details>"]
print("\n".join(out))
PY
)"
echo "$SECTION"
write_section "$OUT" bindings-table "$SECTION" "## The three bindings in one run (issue 17)"
log "wrote the bench:bindings-table section of $OUT"
