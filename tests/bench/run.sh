#!/usr/bin/env bash
# Side-by-side benchmark of coord against ZooKeeper 3.8, etcd 3.4 and Redis 7
# (issue 7). One command, from a fresh clone:
#
#   tests/bench/run.sh
#
# Installs the missing peers from Debian (apt), builds `coord` and the harness
# in release, starts every server on 127.0.0.1 with its data in a fresh temp
# dir (stock settings, fsync on), runs every workload (each bounded in time
# and count), stops every server it started by PID, and rewrites the section
# of BENCHMARKS.md between <!-- bench:peers:start --> and <!-- bench:peers:end -->.
#
# Environment: BENCH_TMP (parent of the temp dirs; default /tmp, must be a real
# disk, not tmpfs, for the fsync numbers to mean anything), BENCH_OUT (default
# BENCHMARKS.md at the repository root), BENCH_ARGS (extra harness flags, e.g.
# "--sessions 2000 --scale-secs 30 --skip scale").
#
# coord also listens for the ZooKeeper protocol (--zk-listen) and the
# harness's ZooKeeper workloads run against that port too, rewriting the
# section between <!-- bench:zkport:start --> and <!-- bench:zkport:end -->
# (issue 14: coord's ZooKeeper port vs ZooKeeper and coord native).
#
# `tests/bench/run.sh --zk-protocol [ARGS]` runs only that comparison: coord
# and ZooKeeper are started (no etcd, no Redis), the harness gets
# `--only zk-protocol` and rewrites only the bench:zkport section.
# `tests/bench/run.sh --zk-protocol --pin [ARGS]` runs it with each server
# pinned to CPU 1 and the harness (all clients) to CPU 0 (`taskset`), so the
# clients' CPU does not come out of the servers'; it rewrites the
# bench:zkport-pinned section instead. Needs at least 2 CPUs.
#
# `tests/bench/run.sh --cluster [ARGS]` runs the cluster benchmark instead
# (tests/bench/cluster.sh: 3-member coord vs ZooKeeper ensemble and etcd cluster).
set -euo pipefail

if [ "${1:-}" = --cluster ]; then
  shift
  exec "$(dirname "${BASH_SOURCE[0]}")/cluster.sh" "$@"
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
COMMAND="tests/bench/run.sh${*:+ $*}${BENCH_ARGS:+ (BENCH_ARGS=$BENCH_ARGS)}"
ZK_ONLY=""
PIN_SERVER=()
PIN_HARNESS=()
PLACEMENT=()
if [ "${1:-}" = --zk-protocol ]; then
  shift
  ZK_ONLY=1
  if [ "${1:-}" = --pin ]; then
    shift
    if [ "$(nproc)" -lt 2 ]; then
      echo "run.sh: --pin needs at least 2 CPUs (servers on CPU 1, clients on CPU 0)" >&2
      exit 2
    fi
    PIN_SERVER=(taskset -c 1)
    PIN_HARNESS=(taskset -c 0)
    PLACEMENT=(--placement pinned)
  fi
fi
OUT="${BENCH_OUT:-$ROOT/BENCHMARKS.md}"
log() { echo "run.sh: $*" >&2; }

# --- 1. peers from Debian, 2. build (common.sh) ---------------------------------
# shellcheck source=tests/bench/common.sh
. "$ROOT/tests/bench/common.sh"
if [ -n "$ZK_ONLY" ]; then install_peers zk; else install_peers redis; fi
build_bench

# --- 3. servers ----------------------------------------------------------------
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
WORK="$(mktemp -d "${BENCH_TMP:-/tmp}/coord-peers.XXXXXX")"
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
next_port=$(( 20000 + RANDOM % 20000 ))
pick_port() {
  while ! port_free "$next_port"; do next_port=$((next_port + 1)); done
  PORT=$next_port
  next_port=$((next_port + 1))
}
# wait_for NAME SECONDS COMMAND...: polls COMMAND every 0.1 s.
wait_for() {
  local name=$1 secs=$2; shift 2
  for _ in $(seq 1 $((secs * 10))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  log "$name did not become ready in ${secs}s"; return 1
}

# coord: the real binary, durable single node, with its ZooKeeper port on a
# port the kernel picks (it prints it before "serving on").
pick_port; COORD_PORT=$PORT
mkdir -p "$WORK/coord"
"${PIN_SERVER[@]}" "$COORD" serve --listen "127.0.0.1:$COORD_PORT" --zk-listen 127.0.0.1:0 \
  --data-dir "$WORK/coord/data" --max-connections 20000 2>"$WORK/coord/stderr.log" &
COORD_PID=$!; PIDS+=("$COORD_PID")
wait_for coord 30 grep -q "coord: serving on" "$WORK/coord/stderr.log"
COORD_ZK_ADDR="$(zk_served_at "$WORK/coord/stderr.log")"
[ -n "$COORD_ZK_ADDR" ] || { log "coord did not say where its ZooKeeper port is"; exit 1; }

# ZooKeeper standalone, from the Debian jars via the packaged zkServer.sh
# (start-foreground execs java, so $! is the JVM). Stock settings (forceSync=yes,
# tickTime 2000); maxClientCnxns=0 lifts the 60-connections-per-IP cap, which
# the 256-waiter, 1,000-watcher and 10,000-session workloads need from one host.
pick_port; ZK_PORT=$PORT
mkdir -p "$WORK/zk/data"
cat >"$WORK/zk/zoo.cfg" <<CFG
tickTime=2000
dataDir=$WORK/zk/data
clientPort=$ZK_PORT
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
CFG
"${PIN_SERVER[@]}" /usr/share/zookeeper/bin/zkServer.sh start-foreground "$WORK/zk/zoo.cfg" >"$WORK/zk/out.log" 2>&1 &
ZK_PID=$!; PIDS+=("$ZK_PID")
zk_ready() { exec 3<>"/dev/tcp/127.0.0.1/$ZK_PORT" && echo srvr >&3 && grep -q "Mode: standalone" <&3; }
wait_for ZooKeeper 60 zk_ready

if [ -z "$ZK_ONLY" ]; then
  # etcd single member, stock settings.
  pick_port; ETCD_PORT=$PORT; pick_port; ETCD_PEER=$PORT
  etcd --name peer-bench --data-dir "$WORK/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
    --initial-cluster "peer-bench=http://127.0.0.1:$ETCD_PEER" >"$WORK/etcd.log" 2>&1 &
  ETCD_PID=$!; PIDS+=("$ETCD_PID")
  etcd_ready() { grep -q "ready to serve client requests" "$WORK/etcd.log"; }
  wait_for etcd 60 etcd_ready

  # Redis twice: AOF with fsync on every write, and no persistence at all.
  pick_port; REDIS_AOF_PORT=$PORT; pick_port; REDIS_MEM_PORT=$PORT
  mkdir -p "$WORK/redis-aof" "$WORK/redis-mem"
  redis-server --port "$REDIS_AOF_PORT" --bind 127.0.0.1 --dir "$WORK/redis-aof" \
    --appendonly yes --appendfsync always --daemonize no >"$WORK/redis-aof.log" 2>&1 &
  PIDS+=("$!")
  redis-server --port "$REDIS_MEM_PORT" --bind 127.0.0.1 --dir "$WORK/redis-mem" \
    --appendonly no --save '' --daemonize no >"$WORK/redis-mem.log" 2>&1 &
  PIDS+=("$!")
  wait_for "Redis (AOF)" 30 redis-cli -p "$REDIS_AOF_PORT" ping
  wait_for "Redis (no persistence)" 30 redis-cli -p "$REDIS_MEM_PORT" ping
fi

# --- 4. versions and the run --------------------------------------------------------
COORD_REV="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
git -C "$ROOT" diff --quiet HEAD 2>/dev/null || COORD_REV="$COORD_REV + uncommitted changes"
COORD_SETTINGS="coord: \`coord serve --zk-listen 127.0.0.1:0\` (durable, fsync before ack, group commit; one process serves the native and the ZooKeeper port), --max-connections 20000"
ZK_SETTINGS="ZooKeeper: zkServer.sh start-foreground, standalone, stock (tickTime 2000, forceSync yes, JVM defaults) + maxClientCnxns=0, admin server off"
if [ -n "$ZK_ONLY" ]; then
  VERSIONS="coord $COORD_REV ($PROFILE build); ZooKeeper $(deb zookeeper) (Debian, $(java -version 2>&1 | head -1)); clients: coord_client::client, zookeeper-client $(lockver zookeeper-client) (crates.io)"
  SETTINGS="each its own process on 127.0.0.1, data in a fresh temp dir on the same disk. $COORD_SETTINGS. $ZK_SETTINGS"
  PEER_ARGS=(--only zk-protocol)
else
  VERSIONS="coord $COORD_REV ($PROFILE build); ZooKeeper $(deb zookeeper) (Debian, $(java -version 2>&1 | head -1)); etcd $(deb etcd-server) (Debian); Redis $(deb redis-server) (Debian); clients: coord_client::client, zookeeper-client $(lockver zookeeper-client), etcd-client $(lockver etcd-client), redis $(lockver redis) (crates.io)"
  SETTINGS="each its own process on 127.0.0.1, data in a fresh temp dir on the same disk. $COORD_SETTINGS. $ZK_SETTINGS. etcd: single member, stock flags. Redis: one instance with appendonly yes + appendfsync always, one with appendonly no + save ''"
  PEER_ARGS=(--etcd "127.0.0.1:$ETCD_PORT" --etcd-pid "$ETCD_PID"
    --redis-aof "127.0.0.1:$REDIS_AOF_PORT" --redis-mem "127.0.0.1:$REDIS_MEM_PORT")
fi

log "servers up (coord $COORD_PID with its ZooKeeper port on $COORD_ZK_ADDR, ZooKeeper $ZK_PID${ETCD_PID:+, etcd $ETCD_PID}); running the workloads"
# shellcheck disable=SC2086
timeout 900 "${PIN_HARNESS[@]}" "$HARNESS" run \
  --coord "127.0.0.1:$COORD_PORT" --coord-pid "$COORD_PID" --coord-zk "$COORD_ZK_ADDR" \
  --zk "127.0.0.1:$ZK_PORT" --zk-pid "$ZK_PID" \
  "${PEER_ARGS[@]}" "${PLACEMENT[@]}" \
  --data-dir "$WORK" --out "$OUT" \
  --date "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" --command "$COMMAND" \
  --versions "$VERSIONS" --settings "$SETTINGS" \
  ${BENCH_ARGS:-} "$@"
log "done; servers stopped on exit"
