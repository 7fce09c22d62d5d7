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
# (parent of the temp dirs; a real disk), BENCH_OUT (default BENCHMARKS.md),
# VARIANTS (default "metrics tls acl": which features to compare with the
# plain server), WORKLOAD (default "all": coord bench's whole run; "get" or
# "set": that workload alone, so that the server's CPU time per operation is
# that workload's; such a run writes its own section, bench:overhead-get or
# bench:overhead-set).
#
#   ROUNDS=12 VARIANTS=tls WORKLOAD=get tests/bench/overhead.sh
#
# Verdicts: a target passes when the upper end of a distribution-free ~95%
# confidence interval of the median per-round cost (order statistics of the
# rounds' costs) is within it, misses when the lower end is over it, and is
# unresolved otherwise; with 5 rounds or fewer the interval is the whole
# range of the rounds.
# Every server is on 127.0.0.1 with its data in a fresh temp dir and is
# stopped by PID on exit; every run is bounded by coord bench's own limits.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
# shellcheck source=tests/bench/common.sh
. "$ROOT/tests/bench/common.sh"
ROUNDS="${ROUNDS:-5}"
DURATION_MS="${DURATION_MS:-3000}"
VARIANTS="${VARIANTS:-metrics tls acl}"
WORKLOAD="${WORKLOAD:-all}"
case "$WORKLOAD" in
  all) WORKLOAD_FLAGS=(); MARK=overhead ;;
  get | set) WORKLOAD_FLAGS=(--workloads "$WORKLOAD"); MARK="overhead-$WORKLOAD" ;;
  *) echo "overhead.sh: WORKLOAD must be all, get or set, not $WORKLOAD" >&2; exit 2 ;;
esac
for v in $VARIANTS; do
  case "$v" in metrics | tls | acl) ;; *) echo "overhead.sh: unknown variant $v (metrics, tls, acl)" >&2; exit 2 ;; esac
done
OUT="${BENCH_OUT:-$ROOT/BENCHMARKS.md}"
log() { echo "overhead.sh: $*" >&2; }

build_coord

WORK="$(mktemp -d "${BENCH_TMP:-/tmp}/coord-overhead.XXXXXX")"
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
    --warmup-ms 500 "${WORKLOAD_FLAGS[@]}" "${client_flags[@]}" >"$WORK/$label.out" 2>"$WORK/$label.err" || {
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
  # shellcheck disable=SC2206
  all=(plain $VARIANTS)
  for i in $(seq 0 $((${#all[@]} - 1))); do
    case "${all[$(( (round - 1 + i) % ${#all[@]} ))]}" in
      plain) measure plain "$round" -- ;;
      metrics) measure metrics "$round" --http-listen 127.0.0.1:0 -- ;;
      tls) measure tls "$round" "${TLS_SERVER[@]}" -- "${TLS_CLIENT[@]}" ;;
      acl) measure acl "$round" -- --node-acl-entries 10 ;;
    esac
  done
done
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"
wall=$(( $(date +%s) - started ))

SECTION="$(python3 - "$RESULTS" "$ROUNDS" "$DURATION_MS" "$load_start" "$load_end" "$wall" "$(git rev-parse --short HEAD)" "$VARIANTS" "$WORKLOAD" <<'PY'
import sys, statistics, datetime, os
from math import comb
path, rounds, dur, l0, l1, wall, rev, variants, workload = sys.argv[1:]
variants = variants.split()
rows = [l.split() for l in open(path)]
ops = {}
for label, rnd, wl, v in rows:
    ops.setdefault((label, wl), {})[int(rnd)] = float(v)
targets = {("metrics", "write"): 0.03, ("metrics", "read"): 0.03, ("tls", "read"): 0.15, ("tls", "write"): None,
           ("acl", "write"): 0.05, ("acl", "read"): 0.05,
           ("metrics", "cpu"): 0.03, ("tls", "cpu"): None, ("acl", "cpu"): 0.05}
def median_interval(xs):
    """A distribution-free ~95% confidence interval of the median: order
    statistics x(k), x(n-k+1) with P(Binomial(n, 1/2) < k) <= 2.5%; the
    whole range when there are too few values for that."""
    xs, n, k = sorted(xs), len(xs), 0
    for j in range(1, n // 2 + 1):
        if sum(comb(n, i) for i in range(j)) / 2 ** n <= 0.025:
            k = j
    return (xs[0], xs[-1]) if k == 0 else (xs[k - 1], xs[n - k])

only = {"all": None, "get": "read", "set": "write"}[workload]
out = []
title = "## Cost of optional features on the hot path (issues 15, 16)" if only is None else \
    f"## Cost of optional features, `{workload}` alone (issues 15, 16)"
out.append(title + "\n")
out.append(f"- date: {datetime.datetime.utcnow():%Y-%m-%d %H:%M:%S} UTC; coord {rev} (release); "
           f"{os.cpu_count()} CPUs; load (1/5/15 min) at start {l0}, at end {l1}; whole run {wall} s")
cmd = "tests/bench/overhead.sh" if only is None else \
    f"ROUNDS={rounds} VARIANTS=\"{' '.join(variants)}\" WORKLOAD={workload} tests/bench/overhead.sh"
out.append(f"- command: `{cmd}`")
out.append(f"- method: `coord bench --against` with 32 clients (each its own connection, closed loop), "
           f"{dur} ms measured after 500 ms of warm-up, "
           + ("durable `set` of 100 B and `get`" if only is None else
              f"only the `{workload}` workload (`--workloads {workload}`)")
           + "; a fresh "
           f"`coord serve` per run (its data removed and the disk synced after it); per round the plain server and "
           + ", ".join({"metrics": "metrics on (`--http-listen`)",
                        "tls": "TLS (rustls, clients verify the server certificate)",
                        "acl": "a 10-entry ACL on every measured node (9 digest users, then "
                               "`world:anyone:cdrwa`: each check walks the whole list)"}[v] for v in variants)
           + f", each round starting with the next variant in that rotation; {rounds} rounds. A cost is "
           f"1 - feature/plain of the same round (throughput), or feature/plain - 1 for `cpu`: the server "
           f"process's user + system CPU time over the run (/proc/PID/stat) divided by every operation "
           f"`coord bench` counted in it ("
           + ("create, set, get, lock cycles" if only is None else f"the {workload}s and the setup's few creates")
           + "), in microseconds; the table gives the median of the rounds' costs and a ~95% confidence "
           "interval of that median (order statistics of the rounds' costs; the whole range for 5 rounds or fewer).\n")
out.append("| feature | workload | plain (median: ops/s, or cpu us/op) | with feature (median) | per-round cost | median cost | ~95% interval | target |")
out.append("|---|---|---:|---:|---|---:|---|---|")
verdicts = []
def wl_name(wl):
    cpu = "server CPU per operation (all of the run's workloads)" if only is None else \
        f"server CPU per {workload}"
    return {"write": "writes (32 clients, ops/s)", "read": "reads (32 clients, ops/s)", "cpu": cpu}[wl]

for feat in variants:
    for wl in (("write", "read") if only is None else (only,)) + ("cpu",):
        base, f = ops.get(("plain", wl), {}), ops.get((feat, wl), {})
        common = sorted(set(base) & set(f))
        if wl == "cpu":
            # Server CPU microseconds per operation: more is the cost.
            costs = [f[r] / base[r] - 1 for r in common if base[r] > 0]
        else:
            costs = [1 - f[r] / base[r] for r in common if base[r] > 0]
        med = statistics.median(costs) if costs else float("nan")
        t = targets[(feat, wl)]
        if only is not None and wl == "cpu" and feat == "tls":
            # One workload per run: the server's CPU per get is the read
            # cost the target speaks of, without the other tenants' noise
            # in the throughput.
            t = targets[(feat, only)]
        tgt = "—" if t is None else f"at most {t:.0%}"
        fmt = ".2f" if wl == "cpu" else ".0f"
        lo, hi = median_interval(costs) if costs else (float("nan"), float("nan"))
        out.append(f"| {feat} | {wl} | {statistics.median(base.values()):{fmt}} | {statistics.median(f.values()):{fmt}} | "
                   + ", ".join(f"{c:+.1%}" for c in costs) + f" | {med:+.1%} | {lo:+.1%} to {hi:+.1%} | {tgt} |")
        if t is not None:
            # A median whose interval straddles the target says nothing
            # about the target.
            if not costs:
                verdicts.append(f"- **UNRESOLVED** {feat}, {wl_name(wl)}: no rounds")
            elif hi <= t:
                verdicts.append(f"- **PASS** {feat}, {wl_name(wl)}: cost {med:+.1%} (interval {lo:+.1%} to "
                                f"{hi:+.1%}; target at most {t:.0%})")
            elif lo > t:
                verdicts.append(f"- **MISS** {feat}, {wl_name(wl)}: cost {med:+.1%} (interval {lo:+.1%} to "
                                f"{hi:+.1%}; target at most {t:.0%})")
            else:
                verdicts.append(f"- **UNRESOLVED** {feat}, {wl_name(wl)}: median cost {med:+.1%}, interval "
                                f"{lo:+.1%} to {hi:+.1%} straddles the target (at most {t:.0%}): this run cannot tell")
out.append("\n### Targets\n")
out.extend(verdicts)
print("\n".join(out))
PY
)"
echo "$SECTION"
write_section "$OUT" "$MARK" "$SECTION"
log "wrote the bench:$MARK section of $OUT"
