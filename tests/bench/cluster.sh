#!/usr/bin/env bash
# Cluster benchmark: a 3-member coord cluster against a 3-server ZooKeeper 3.8
# ensemble and a 3-member etcd cluster, all on 127.0.0.1. One command, from a
# fresh clone:
#
#   tests/bench/cluster.sh          (or: tests/bench/run.sh --cluster)
#
# Installs the missing peers from Debian (apt), builds `coord` and the harness
# in release, and runs `coord-peer-bench cluster`, which starts every member
# (each with its own config, data dir and log in a fresh temp dir), runs the
# workloads (each bounded in time and count): durable writes with 1 and 32
# clients spread over the members, reads with 32, lock cycle and 16-way
# handoff, the servers' CPU time per operation summed over the members, and
# failover (a 1-client write loop while the leader is killed with SIGKILL 5
# times per system, restarted each time, then every acknowledged write looked
# up on every member). It stops every member it started and rewrites the
# section of BENCHMARKS.md between <!-- bench:cluster:start --> and
# <!-- bench:cluster:end -->.
#
# Environment: BENCH_TMP (parent of the temp dir; default /tmp, must be a real
# disk, not tmpfs, for the fsync numbers to mean anything), BENCH_OUT (default
# BENCHMARKS.md at the repository root), BENCH_PROFILE (release; dev to try the
# harness quickly), BENCH_ARGS (extra harness flags, e.g. "--kills 7" or
# "--skip lock").
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
COMMAND="tests/bench/cluster.sh${*:+ $*}${BENCH_ARGS:+ (BENCH_ARGS=$BENCH_ARGS)}"
OUT="${BENCH_OUT:-$ROOT/BENCHMARKS.md}"
log() { echo "cluster.sh: $*" >&2; }
STARTED=$(date +%s)

# --- 1. peers from Debian, 2. build (common.sh) ---------------------------------
# shellcheck source=tests/bench/common.sh
. "$ROOT/tests/bench/common.sh"
install_peers
build_bench

# --- 3. the run ------------------------------------------------------------------
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
WORK="$(mktemp -d "${BENCH_TMP:-/tmp}/coord-cluster.XXXXXX")"
# The harness starts, kills and restarts the members itself and stops them
# when it ends; each running member has its PID in $WORK/SYSTEM/ID/pid. This
# stops whatever a killed harness left, checking that the PID is still one of
# ours (its command line names $WORK) before signalling it.
cleanup() {
  local f pid
  for f in "$WORK"/*/*/pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$WORK"; then
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

COORD_REV="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
git -C "$ROOT" diff --quiet HEAD 2>/dev/null || COORD_REV="$COORD_REV + uncommitted changes"
VERSIONS="coord $COORD_REV ($PROFILE build); ZooKeeper $(deb zookeeper) (Debian, $(java -version 2>&1 | head -1)); etcd $(deb etcd-server) (Debian); clients: coord_client::client, zookeeper-client $(lockver zookeeper-client), etcd-client $(lockver etcd-client) (crates.io)"
SETTINGS="three members of each system, each its own process on 127.0.0.1, data in a fresh temp dir on the same disk; all three clusters run at once (idle while another is measured). coord: \`coord serve --id N --listen --peer-listen --cluster 1=..,2=..,3=.. --data-dir\` (durable, fsync before ack), heartbeat and election timeout at their defaults (50 ms and 150-225 ms since 0f9ea94; 100 ms and 300-600 ms before), --max-connections 20000. ZooKeeper: \`zkServer.sh start-foreground zoo.cfg\` per server (one JVM each, JVM defaults), zoo.cfg stock (tickTime 2000, initLimit 10, syncLimit 5, forceSync yes) + server.1-3, clientPortAddress 127.0.0.1, maxClientCnxns=0, admin server off, its own myid and data dir. etcd: \`etcd --initial-cluster m1=..,m2=..,m3=..\`, stock flags otherwise (heartbeat 100 ms, election timeout 1000 ms)"

log "running the cluster workloads (members under $WORK)"
# shellcheck disable=SC2086
timeout 2400 "$HARNESS" cluster \
  --coord-bin "$COORD" --work "$WORK" --out "$OUT" \
  --date "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" --command "$COMMAND" \
  --versions "$VERSIONS" --settings "$SETTINGS" \
  ${BENCH_ARGS:-} "$@"
log "done in $(( $(date +%s) - STARTED )) s (build included); members stopped"
