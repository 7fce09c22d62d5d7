#!/usr/bin/env bash
# A local cluster of coord servers on loopback, for trying things out.
#
#   scripts/cluster.sh start [N]   start members 1..N (default 3)
#   scripts/cluster.sh status      what the members say (coord cluster status)
#   scripts/cluster.sh stop        stop every member started here
#
# Member i listens for clients on 127.0.0.1:$((2280+i)) and for peers on
# 127.0.0.1:$((2380+i)); its data and log are in $COORD_CLUSTER_DIR/i
# (default ./coord-cluster). The binary is $COORD_BIN, else target/release/coord
# or target/debug/coord (built if neither exists).
set -euo pipefail

dir=${COORD_CLUSTER_DIR:-./coord-cluster}
root=$(cd "$(dirname "$0")/.." && pwd)

coord_bin() {
  if [[ -n ${COORD_BIN:-} ]]; then echo "$COORD_BIN"; return; fi
  for b in "$root/target/release/coord" "$root/target/debug/coord"; do
    if [[ -x $b ]]; then echo "$b"; return; fi
  done
  (cd "$root" && cargo build -q -p coord-cli) >&2
  echo "$root/target/debug/coord"
}

servers() {
  local n=$1 list=()
  for i in $(seq 1 "$n"); do list+=("127.0.0.1:$((2280 + i))"); done
  (IFS=,; echo "${list[*]}")
}

members() { ls "$dir" 2>/dev/null | grep -E '^[0-9]+$' | sort -n || true; }

case ${1:-} in
  start)
    n=${2:-3}
    bin=$(coord_bin)
    cluster=()
    for i in $(seq 1 "$n"); do cluster+=("$i=127.0.0.1:$((2380 + i))"); done
    cluster=$(IFS=,; echo "${cluster[*]}")
    for i in $(seq 1 "$n"); do
      mkdir -p "$dir/$i"
      if [[ -f $dir/$i/pid ]] && kill -0 "$(cat "$dir/$i/pid")" 2>/dev/null; then
        echo "member $i already runs (pid $(cat "$dir/$i/pid"))"
        continue
      fi
      "$bin" serve --id "$i" --listen "127.0.0.1:$((2280 + i))" \
        --peer-listen "127.0.0.1:$((2380 + i))" --cluster "$cluster" \
        --data-dir "$dir/$i/data" >"$dir/$i/log" 2>&1 &
      echo $! >"$dir/$i/pid"
      echo "member $i: clients 127.0.0.1:$((2280 + i)), peers 127.0.0.1:$((2380 + i)), pid $!, log $dir/$i/log"
    done
    echo "servers: $(servers "$n")"
    echo "try:     $bin --servers $(servers "$n") cluster status"
    ;;
  status)
    n=$(members | wc -l)
    if [[ $n -eq 0 ]]; then echo "no cluster in $dir"; exit 1; fi
    "$(coord_bin)" --servers "$(servers "$n")" cluster status
    ;;
  stop)
    for i in $(members); do
      if [[ -f $dir/$i/pid ]]; then
        pid=$(cat "$dir/$i/pid")
        kill "$pid" 2>/dev/null && echo "stopped member $i (pid $pid)" || true
        rm -f "$dir/$i/pid"
      fi
    done
    ;;
  *)
    echo "usage: $0 start [N] | status | stop" >&2
    exit 2
    ;;
esac
