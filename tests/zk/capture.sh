#!/usr/bin/env bash
# Regenerates the ZooKeeper wire captures in core/server/src/server/zk/testdata/
# (kazoo.txt, zkcli.txt, cli_mt.txt): real clients talk to a real ZooKeeper
# 3.8 (Debian's package) through tests/zk/record_proxy.py, which writes every
# frame of every connection in hex. A tool for regenerating the fixtures, not
# part of the test suite. Everything runs on 127.0.0.1, every wait is bounded.
#
#   tests/zk/capture.sh            # all three scenarios
#   tests/zk/capture.sh kazoo      # any of: kazoo zkcli cli_mt
#   tests/zk/check_captures.py     # then look at what was captured
#
# Installs what it needs: kazoo==2.11.0 in a venv at
# ${CARGO_TARGET_DIR:-target}/zk-capture-venv, and with apt-get the Debian
# packages zookeeper, zookeeper-bin and default-jre-headless when missing.
# Each scenario gets a fresh standalone ZooKeeper with an empty data dir.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$here/../.." && pwd)
OUT="$ROOT/core/server/src/server/zk/testdata"
venv="${CARGO_TARGET_DIR:-$ROOT/target}/zk-capture-venv"
python="${PYTHON:-python3}"
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(kazoo zkcli cli_mt)

log() { echo "capture: $*" >&2; }

# ---- dependencies -----------------------------------------------------------
need=()
[ -f /usr/share/java/zookeeper.jar ] || need+=(zookeeper)
[ -x /usr/lib/zookeeper/bin/cli_mt ] || need+=(zookeeper-bin)
command -v java >/dev/null || need+=(default-jre-headless)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  log "installing ${need[*]}"
  for try in 1 2 3 4 5 6; do
    if $sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive \
        $sudo apt-get install -y -q --no-install-recommends "${need[@]}"; then
      break
    fi
    [ "$try" = 6 ] && { log "apt-get failed"; exit 1; }
    log "apt-get failed (locked?), retrying in 20 s"; sleep 20
  done
fi
if [ ! -x "$venv/bin/python" ]; then
  log "creating $venv"
  "$python" -m venv "$venv"
fi
if ! "$venv/bin/python" -m pip freeze --disable-pip-version-check 2>/dev/null | grep -qx 'kazoo==2.11.0'; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check kazoo==2.11.0
fi
CLI_MT=$(dpkg -L zookeeper-bin | grep '/bin/cli_mt$' | head -1)
ZKCLI=/usr/share/zookeeper/bin/zkCli.sh
ZK_VERSION=$(dpkg-query -W -f='${Version}' zookeeper)
JAVA_VERSION=$(java -version 2>&1 | head -1)
KAZOO_VERSION=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("kazoo"))')

# ---- processes --------------------------------------------------------------
work=$(mktemp -d /tmp/zk-capture.XXXXXX)
zk_pid=""; proxy_pid=""
cleanup() {
  [ -z "$proxy_pid" ] || kill "$proxy_pid" 2>/dev/null || true
  [ -z "$zk_pid" ] || kill "$zk_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=tests/zk/zookeeper.sh
. "$ROOT/tests/zk/zookeeper.sh"
free_port() { zk_free_port; }

four_letter() { # four_letter PORT WORD: a four-letter word straight to the server
  "$python" - "$1" "$2" <<'EOF' 2>/dev/null
import socket, sys
try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2) as s:
        s.sendall(sys.argv[2].encode()); s.settimeout(2)
        out = b""
        while True:
            d = s.recv(4096)
            if not d: break
            out += d
    sys.stdout.write(out.decode())
except OSError:
    sys.exit(1)
EOF
}

start_zk() {
  zk_start "$work/zk-$1" || return 1
  zk_pid=$ZK_PID
}

stop_zk() {
  kill "$zk_pid" 2>/dev/null || true
  for _ in $(seq 1 20); do kill -0 "$zk_pid" 2>/dev/null || break; sleep 0.25; done
  kill -9 "$zk_pid" 2>/dev/null || true
  wait "$zk_pid" 2>/dev/null || true
  zk_pid=""
}

ctl() { # ctl COMMAND...: one line to the proxy's control port
  "$python" - "$CTL_PORT" "$*" <<'EOF'
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5) as s:
    s.sendall(sys.argv[2].encode() + b"\n"); s.recv(16)
EOF
}

start_proxy() { # start_proxy NAME CLIENT-DESCRIPTION COMMAND
  PROXY_PORT=$(free_port); CTL_PORT=$(free_port)
  mkdir -p "$OUT"
  "$python" "$here/record_proxy.py" --port "$PROXY_PORT" --control-port "$CTL_PORT" \
    --upstream "127.0.0.1:$ZK_PORT" --out "$OUT/$1.txt" --max-seconds 300 \
    --header "ZooKeeper client protocol capture: $1 (see tests/zk/capture.sh; decode with tests/zk/check_captures.py)" \
    --header "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --header "server: ZooKeeper $ZK_VERSION (Debian package zookeeper), standalone, tickTime 2000, $JAVA_VERSION" \
    --header "server flags: -Dzookeeper.extendedTypesEnabled=true -Dznode.container.checkIntervalMs=1000" \
    --header "client: $2" \
    --header "produced by: $3" \
    --header "format: '= connection N' starts a TCP connection; 'C hex' client->server, 'S hex' server->client frame payload without the 4-byte length" \
    --header "" &
  proxy_pid=$!
  for _ in $(seq 1 40); do
    "$python" -c "import socket; socket.create_connection(('127.0.0.1', $CTL_PORT), timeout=1).close()" 2>/dev/null && return 0
    sleep 0.25
  done
  log "proxy did not start"; return 1
}

stop_proxy() {
  ctl quit || true
  for _ in $(seq 1 40); do kill -0 "$proxy_pid" 2>/dev/null || break; sleep 0.25; done
  kill "$proxy_pid" 2>/dev/null || true
  wait "$proxy_pid" 2>/dev/null || true
  proxy_pid=""
}

show_output() { # client output on stderr with CAPTURE_VERBOSE=1
  [ "${CAPTURE_VERBOSE:-0}" = 1 ] || return 0
  sed 's/^/  | /' "$1" >&2
}

# ---- scenarios --------------------------------------------------------------
run_kazoo() {
  start_proxy kazoo "kazoo $KAZOO_VERSION (Python $("$venv/bin/python" -c 'import platform; print(platform.python_version())'))" \
    "tests/zk/capture.sh kazoo (tests/zk/capture_kazoo.py)"
  timeout 180 "$venv/bin/python" "$here/capture_kazoo.py" \
    --hosts "127.0.0.1:$PROXY_PORT" --control "127.0.0.1:$CTL_PORT" || log "kazoo scenario exited with $?"
  sleep 0.5
  stop_proxy
}

# zkCli.sh reads commands from stdin (one per line) when stdin is not a
# terminal; `feed` writes them with pauses and notes to the proxy.
zk_feed() {
  local line
  sleep 3 # let the client connect before the first command
  while IFS= read -r line; do
    case "$line" in
      "#"*) ctl "note ${line#\# }" ;;
      "!drop") ctl drop; sleep 4 ;;
      "!sleep "*) sleep "${line#!sleep }" ;;
      "") ;;
      *) ctl "note $1: $line"; printf '%s\n' "$line"; sleep "${2:-0.4}" ;;
    esac
  done
  sleep 1
}

run_zkcli() {
  start_proxy zkcli "zkCli.sh (org.apache.zookeeper.ZooKeeperMain, Java client from the Debian zookeeper $ZK_VERSION package)" \
    "tests/zk/capture.sh zkcli: zkCli.sh -server 127.0.0.1:PROXYPORT with commands on stdin"
  zk_feed zkCli 0.5 <<EOF | timeout 120 env CLIENT_JVMFLAGS="-Dzookeeper.log.dir=$work" "$ZKCLI" -server "127.0.0.1:$PROXY_PORT" >"$work/zkcli.out" 2>&1 || log "zkCli exited with $?"
create /z zdata
create -e /z/eph e
create -s /z/seq- s
create -e -s /z/eseq- es
create -c /zc c
create /zc/kid k
create -t 60000 /zt t
create -t 60000 -s /zts- ts
create /z dup
create /nope/child x
get -s /z
get /missing
set /z newdata
set -v 99 /z bad
set -s /z again
stat /z
stat /missing
ls /z
ls -s /z
ls -R /z
ls /missing
getAllChildrenNumber /z
getAllChildrenNumber /
getEphemerals /
getEphemerals /z
# watches: one-shot data/child/exists, then persistent and persistent-recursive
get -w /z
ls -w /z
stat -w /later
addWatch /z
addWatch -m PERSISTENT /zc
addWatch -m PERSISTENT_RECURSIVE /zc
create /z/w1 fires-child-and-recursive
set /z changed
create /later now
set /zc pers
create /z/w1/deep x
# the proxy drops the connection while persistent and one-shot watches are set: the Java client resumes the session and sends setWatches2 (ZooKeeper 3.8.0 Java client: with its next ordinary xid, not -8)
get -w /z
stat -w /later2
!drop
set /z after-reconnect
create /later2 x
set /zc after-reconnect
removewatches /zc
removewatches /z -a
removewatches /nowatch
getAcl /z
getAcl /missing
setAcl /z world:anyone:cdrwa
setAcl -v 99 /z world:anyone:cdrwa
setAcl /z nosuch:x:cdrwa
addauth digest user:secret
whoami
create /zsec s
setAcl /zsec auth::cdrwa
getAcl /zsec
sync /z
config
reconfig -add server.9=127.0.0.1:2888:3888;2181
delete /z/w1/deep
delete -v 99 /z/w1
delete /z
delete /missing
deleteall /z
ls /
whoami
# idle 11 s: the Java client pings (xid -2) after a third of the 30 s session timeout
!sleep 11
# an unknown auth scheme: AuthFailed (-115) on xid -4, then the server closes the connection and the Java client gives up on the session
addauth nosuchscheme whatever
!sleep 3
# zkCli's connect command: a new session on a new connection
connect 127.0.0.1:$PROXY_PORT
!sleep 2
whoami
close
quit
EOF
  sleep 0.5
  stop_proxy
  show_output "$work/zkcli.out"
}

run_cli_mt() {
  start_proxy cli_mt "cli_mt (C client, Debian zookeeper-bin $(dpkg-query -W -f='${Version}' zookeeper-bin), $CLI_MT)" \
    "tests/zk/capture.sh cli_mt: cli_mt 127.0.0.1:PROXYPORT with commands on stdin"
  zk_feed cli_mt 0.5 <<EOF | timeout 120 "$CLI_MT" "127.0.0.1:$PROXY_PORT" >"$work/cli_mt.out" 2>&1 || log "cli_mt exited with $?"
create /c
create +e /c/eph
create +s /c/seq-
create +es /c/eseq-
create +c /cc
create +t=60000 /ct
create /c
create2 /c2
create2 +e /c2/eph
get /c
get /missing
set /c cdata
set /missing x
ls /
ls /missing
ls2 /c
exists /c
exists /missing
wexists /c
wexists /later
# the proxy drops the connection while watches are set: the C client resumes the session and sends setWatches (xid -8)
!drop
set /c fire
create /later
sync /c
addauth digest user:secret
config
reconfig -add server.9=127.0.0.1:2888:3888;2181
aget /c
als /
delete /c/eph
delete /c
delete /missing
# idle 11 s: the C client pings (xid -2) after a third of the 30 s session timeout
!sleep 11
# quit: closeSession
quit
EOF
  # a second cli_mt process: an unknown auth scheme gets AuthFailed (-115) and
  # the server closes the connection; the C client then stops (ZOO_AUTH_FAILED_STATE)
  zk_feed cli_mt 0.5 <<EOF | timeout 60 "$CLI_MT" "127.0.0.1:$PROXY_PORT" >>"$work/cli_mt.out" 2>&1 || log "cli_mt exited with $?"
# second cli_mt process: addauth with an unknown scheme
addauth nosuchscheme x
!sleep 2
quit
EOF
  sleep 0.5
  stop_proxy
  show_output "$work/cli_mt.out"
}

for s in "${scenarios[@]}"; do
  case "$s" in
    kazoo|zkcli|cli_mt) ;;
    *) log "unknown scenario '$s' (kazoo, zkcli, cli_mt)"; exit 2 ;;
  esac
  log "scenario $s"
  start_zk "$s"
  "run_$s"
  stop_zk
  log "wrote $OUT/$s.txt ($(grep -c '^[CS] ' "$OUT/$s.txt") frames, $(wc -c <"$OUT/$s.txt") bytes)"
done
