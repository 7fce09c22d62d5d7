#!/usr/bin/env bash
# What optional features cost on the hot path (issues 15 and 16): durable
# writes and reads with 32 clients against `coord serve` with a feature off
# and on, side by side in one run, alternating off/on for ROUNDS rounds so
# both sides see the machine's load alike. Prints a markdown table and
# rewrites the section of BENCHMARKS.md between <!-- bench:overhead:start -->
# and <!-- bench:overhead:end -->.
#
#   tests/bench/overhead.sh            # release build, 5 rounds
#
# Features compared (each against the same plain server):
#   metrics  `--http-listen` on (request latencies recorded for /metrics)
#   tls      TLS on the client port (rustls), clients with --tls-ca
#   acl      every measured node has a 10-entry ACL that the clients pass
#            only at its last entry (coord bench --node-acl-entries 10)
#
# Environment: ROUNDS (default 5), DURATION_MS (default 3000), BENCH_TMP
# (parent of the temp dirs; a real disk), BENCH_OUT (default BENCHMARKS.md).
# Every server is on 127.0.0.1 with its data in a fresh temp dir and is
# stopped by PID on exit; every run is bounded by coord bench's own limits.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# shellcheck source=tests/bench/common.sh
. "$ROOT/tests/bench/common.sh"
ROUNDS="${ROUNDS:-5}"
DURATION_MS="${DURATION_MS:-3000}"
OUT="${BENCH_OUT:-$ROOT/BENCHMARKS.md}"
log() { echo "overhead.sh: $*" >&2; }

cargo build --release -p coord-cli --bin coord
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
COORD="$target_dir/release/coord"

WORK="$(mktemp -d "${BENCH_TMP:-/tmp}/coord-overhead.XXXXXX")"
SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
cleanup() { stop_server; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# A local CA and a server certificate for 127.0.0.1 (the project's script).
"$ROOT/scripts/make-local-ca.sh" "$WORK/ca" >/dev/null

# start_server NAME FLAGS...: a fresh durable coord; sets ADDR.
start_server() {
  local name=$1; shift
  rm -rf "$WORK/$name"; mkdir -p "$WORK/$name"
  "$COORD" serve --listen 127.0.0.1:0 --data-dir "$WORK/$name/data" "$@" \
    2>"$WORK/$name/log" &
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    ADDR="$(served_at "$WORK/$name/log")"
    [ -n "$ADDR" ] && return 0
    sleep 0.1
  done
  log "$name did not start:"; cat "$WORK/$name/log" >&2; exit 1
}

# measure LABEL SERVER_FLAGS -- CLIENT_FLAGS: one coord bench run against a
# fresh server; appends "LABEL ROUND WORKLOAD OPS_PER_SEC" lines to RESULTS.
RESULTS="$WORK/results"
measure() {
  local label=$1 round=$2; shift 2
  local server_flags=() client_flags=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do server_flags+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  client_flags=("$@")
  start_server "$label" "${server_flags[@]}"
  "$COORD" bench --against "$ADDR" --clients 32 --duration-ms "$DURATION_MS" \
    --warmup-ms 500 "${client_flags[@]}" >"$WORK/$label.out" 2>"$WORK/$label.err" || {
    log "coord bench against $label failed:"; cat "$WORK/$label.err" >&2; exit 1; }
  # The server's own CPU time (user + system, /proc/PID/stat fields 14 and
  # 15) over every operation of the run: unlike ops/s, it hardly moves with
  # the other tenants' load on a shared host.
  local ticks ops
  ticks=$(sed 's/^.*) //' "/proc/$SERVER_PID/stat" | awk '{ print $12 + $13 }')
  ops=$(awk -F'|' '/^\| coord:/ { gsub(/ /, "", $4); s += $4 } END { print s + 0 }' "$WORK/$label.out")
  awk -v l="$label" -v r="$round" -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v n="$ops" \
    'BEGIN { if (n > 0) print l, r, "cpu", t / hz * 1e6 / n }' >>"$RESULTS"
  stop_server
  # The next run must not share the disk with this one's writeback.
  rm -rf "$WORK/$label/data"
  sync
  awk -v l="$label" -v r="$round" -F'|' '
    /coord: set 100 B \(durable\)/ && $3 + 0 == 32 { gsub(/ /, "", $5); print l, r, "write", $5 }
    /coord: get \(existing node, 100 B\)/ && $3 + 0 == 32 { gsub(/ /, "", $5); print l, r, "read", $5 }
  ' "$WORK/$label.out" >>"$RESULTS"
}

TLS_SERVER=(--tls-cert "$WORK/ca/server.pem" --tls-key "$WORK/ca/server-key.pem")
TLS_CLIENT=(--tls-ca "$WORK/ca/ca.pem")
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
started=$(date +%s)
for round in $(seq 1 "$ROUNDS"); do
  log "round $round of $ROUNDS"
  # Each round starts with another variant (a rotation), so no variant
  # always runs first or last in a round.
  for i in 0 1 2 3; do
    case $(( (round - 1 + i) % 4 )) in
      0) measure plain "$round" -- ;;
      1) measure metrics "$round" --http-listen 127.0.0.1:0 -- ;;
      2) measure tls "$round" "${TLS_SERVER[@]}" -- "${TLS_CLIENT[@]}" ;;
      3) measure acl "$round" -- --node-acl-entries 10 ;;
    esac
  done
done
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"
wall=$(( $(date +%s) - started ))

SECTION="$(python3 - "$RESULTS" "$ROUNDS" "$DURATION_MS" "$load_start" "$load_end" "$wall" "$(git rev-parse --short HEAD)" <<'PY'
import sys, statistics, datetime, os
path, rounds, dur, l0, l1, wall, rev = sys.argv[1:]
rows = [l.split() for l in open(path)]
ops = {}
for label, rnd, wl, v in rows:
    ops.setdefault((label, wl), {})[int(rnd)] = float(v)
targets = {("metrics", "write"): 0.03, ("metrics", "read"): 0.03, ("tls", "read"): 0.15, ("tls", "write"): None,
           ("acl", "write"): 0.05, ("acl", "read"): 0.05,
           ("metrics", "cpu"): 0.03, ("tls", "cpu"): None, ("acl", "cpu"): 0.05}
out = []
out.append("## Cost of optional features on the hot path (issues 15, 16)\n")
out.append(f"- date: {datetime.datetime.utcnow():%Y-%m-%d %H:%M:%S} UTC; coord {rev} (release); "
           f"{os.cpu_count()} CPUs; load (1/5/15 min) at start {l0}, at end {l1}; whole run {wall} s")
out.append("- command: `tests/bench/overhead.sh`")
out.append(f"- method: `coord bench --against` with 32 clients (each its own connection, closed loop), "
           f"{dur} ms measured after 500 ms of warm-up, durable `set` of 100 B and `get`; a fresh "
           f"`coord serve` per run (its data removed and the disk synced after it); per round plain, metrics on "
           f"(`--http-listen`), TLS (rustls, clients verify the server certificate) and a 10-entry ACL on every "
           f"measured node (9 digest users, then `world:anyone:cdrwa`: each check walks the whole list), each "
           f"round starting with the next variant in that rotation; {rounds} rounds. A cost is "
           f"1 - feature/plain of the same round (throughput), or feature/plain - 1 for `cpu`: the server "
           f"process's user + system CPU time over the run (/proc/PID/stat) divided by every operation "
           f"`coord bench` counted in it (create, set, get, lock cycles), in microseconds, which depends "
           f"little on the other tenants' load; the table gives the median of the rounds' costs.\n")
out.append("| feature | workload | plain (median: ops/s, or cpu us/op) | with feature (median) | per-round cost | median cost | target |")
out.append("|---|---|---:|---:|---|---:|---|")
verdicts = []
def wl_name(wl):
    return {"write": "writes (32 clients, ops/s)", "read": "reads (32 clients, ops/s)",
            "cpu": "server CPU per operation (all of the run's workloads)"}[wl]

for feat in ("metrics", "tls", "acl"):
    for wl in ("write", "read", "cpu"):
        base, f = ops.get(("plain", wl), {}), ops.get((feat, wl), {})
        common = sorted(set(base) & set(f))
        if wl == "cpu":
            # Server CPU microseconds per operation: more is the cost.
            costs = [f[r] / base[r] - 1 for r in common if base[r] > 0]
        else:
            costs = [1 - f[r] / base[r] for r in common if base[r] > 0]
        med = statistics.median(costs) if costs else float("nan")
        t = targets[(feat, wl)]
        tgt = "—" if t is None else f"at most {t:.0%}"
        fmt = ".2f" if wl == "cpu" else ".0f"
        out.append(f"| {feat} | {wl} | {statistics.median(base.values()):{fmt}} | {statistics.median(f.values()):{fmt}} | "
                   + ", ".join(f"{c:+.1%}" for c in costs) + f" | {med:+.1%} | {tgt} |")
        if t is not None:
            # Half the range of the per-round costs: how far one round's
            # cost strays on this machine. A median inside a spread wider
            # than the target says nothing about the target.
            spread = (max(costs) - min(costs)) / 2 if costs else float("inf")
            if spread > t:
                verdicts.append(f"- **UNRESOLVED** {feat}, {wl_name(wl)}: median cost {med:+.1%}, but the rounds "
                                f"spread by ±{spread:.1%}, more than the target (at most {t:.0%}): this run cannot tell")
            else:
                verdicts.append(f"- **{'PASS' if med <= t else 'MISS'}** {feat}, {wl_name(wl)}: cost {med:+.1%} "
                                f"(rounds spread ±{spread:.1%}; target at most {t:.0%})")
out.append("\n### Targets\n")
out.extend(verdicts)
print("\n".join(out))
PY
)"
echo "$SECTION"
python3 - "$OUT" "$SECTION" <<'PY'
import sys
path, section = sys.argv[1], sys.argv[2]
start, end = "<!-- bench:overhead:start -->", "<!-- bench:overhead:end -->"
text = open(path).read()
block = f"{start}\n{section}\n{end}"
if start in text and end in text:
    text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
else:
    text = text.rstrip("\n") + "\n\n" + block + "\n"
open(path, "w").write(text)
PY
log "wrote the bench:overhead section of $OUT"
