#!/usr/bin/env bash
# Debian's ZooKeeper command-line clients against coord's ZooKeeper-protocol
# listener (`coord serve --zk-listen`): zkCli.sh (the Java ZooKeeperMain) and
# cli_mt (the C client's sample shell), scripted, every reply checked line by
# line. The expected outputs are what ZooKeeper 3.8 (Debian's package) prints:
# run with ZK_TARGET=zookeeper to see them pass against the real thing.
#
#   tests/zk/cli.sh                        # against coord (COORD_BIN, default target/debug/coord)
#   ZK_TARGET=zookeeper tests/zk/cli.sh    # against ZooKeeper 3.8 standalone
#   CLI_VERBOSE=1 tests/zk/cli.sh          # also show every raw client output
#   CLI_KEEP=1 tests/zk/cli.sh             # keep the work directory (logs, outputs)
#
# Installs what it needs when missing (apt-get, as root or through sudo): the
# Debian packages zookeeper, zookeeper-bin (cli_mt) and default-jre-headless.
# It does not build coord. Everything listens on 127.0.0.1; every wait is
# bounded; the server and the clients are stopped on exit.
#
# How a step is checked: each client reads its commands from a FIFO; a step
# writes one or more commands, then waits (at most CLI_STEP_WAIT seconds) until
# the client's new output, normalised, equals the expected lines and the watch
# events printed so far equal the expected ones. Normalising drops banners,
# blank lines and cli_mt's "time = N msec" lines, masks zxids, times (of this
# year) and session ids, and sorts the child lines of a cli_mt listing (their
# order is the server's hash order). A step that writes only silent commands
# ends with one that prints, so that its wait has something to wait for.
# Anything else (an exception, "Node does not exist", "KeeperErrorCode", a
# wrong version or data) is a mismatch. Exits 1 naming every failed step.
# Knobs: CLI_STEP_WAIT (s, default 8), CLI_SETTLE_MS (default 2000),
# CLI_SESSION_LIMIT (s a client may live, default 60). python3 picks
# ZooKeeper's free port.
set -uo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$here/../.." && pwd)
target="${ZK_TARGET:-coord}"
STEP_WAIT="${CLI_STEP_WAIT:-8}"     # seconds a step may wait for its answer
SETTLE="${CLI_SETTLE_MS:-2000}"      # ms of quiet after which a wrong answer is final
SESSION_LIMIT="${CLI_SESSION_LIMIT:-60}" # seconds a client process may live
YEAR=$(date -u +%Y)

log() { echo "zk-cli: $*" >&2; }

case "$target" in
  coord)
    COORD_BIN="${COORD_BIN:-$ROOT/target/debug/coord}"
    if [ ! -x "$COORD_BIN" ]; then
      log "no coord binary at $COORD_BIN (build it: cargo build -p coord-cli --bin coord, or set COORD_BIN)"
      exit 1
    fi
    ;;
  zookeeper) ;;
  *) log "ZK_TARGET must be coord or zookeeper, not '$target'"; exit 2 ;;
esac
if [ -z "${EPOCHREALTIME:-}" ]; then log "needs bash 5 (EPOCHREALTIME)"; exit 2; fi

# ---- dependencies -----------------------------------------------------------
need=()
[ -f /usr/share/java/zookeeper.jar ] && [ -x /usr/share/zookeeper/bin/zkCli.sh ] || need+=(zookeeper)
[ -x /usr/lib/zookeeper/bin/cli_mt ] || command -v cli_mt >/dev/null || need+=(zookeeper-bin)
command -v java >/dev/null || need+=(default-jre-headless)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  log "installing ${need[*]}"
  $sudo apt-get update -q || { log "step 'install': apt-get update failed"; exit 1; }
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${need[@]}" ||
    { log "step 'install': apt-get install ${need[*]} failed"; exit 1; }
fi
ZKCLI=/usr/share/zookeeper/bin/zkCli.sh
CLI_MT=/usr/lib/zookeeper/bin/cli_mt
[ -x "$CLI_MT" ] || CLI_MT=$(command -v cli_mt)

# ---- processes --------------------------------------------------------------
work=$(mktemp -d /tmp/zk-cli.XXXXXX)
server_pid=""; cli_pid=""; S_FD=""
# stop_pid PID SECONDS: SIGTERM (to the process group when PID itself is
# gone), then SIGKILL to the group. Every background job here runs under
# `timeout`, which leads its own process group and passes SIGTERM on.
stop_pid() {
  local pid=$1 i
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < $2 * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  elif kill -TERM -- "-$pid" 2>/dev/null; then # an orphan of a killed `timeout`
    for ((i = 0; i < $2 * 10; i++)); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
  else
    wait "$pid" 2>/dev/null
    return 0
  fi
  if kill -0 "$pid" 2>/dev/null || kill -0 -- "-$pid" 2>/dev/null; then
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 1
  fi
  wait "$pid" 2>/dev/null
  return 0
}
cleanup() {
  [ -z "$S_FD" ] || exec {S_FD}>&-
  [ -z "$cli_pid" ] || stop_pid "$cli_pid" 3
  [ -z "$server_pid" ] || stop_pid "$server_pid" 5
  if [ "${CLI_KEEP:-0}" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=tests/zk/zookeeper.sh
. "$ROOT/tests/zk/zookeeper.sh"

start_zookeeper() {
  zk_start "$work/zookeeper" || return 1
  server_pid=$ZK_PID
  ln -sf "$work/zookeeper/server.log" "$work/server.log"
  SERVER="127.0.0.1:$ZK_PORT"
}

start_coord() {
  local i addr
  timeout 300 "$COORD_BIN" serve --data-dir "$work/coord-data" --listen 127.0.0.1:0 \
    --zk-listen 127.0.0.1:0 </dev/null >"$work/server.log" 2>&1 &
  server_pid=$!
  for ((i = 0; i < 300; i++)); do
    addr=$(sed -n 's/^coord: zookeeper protocol on //p' "$work/server.log" | head -1)
    if [ -n "$addr" ] && grep -q '^coord: serving on ' "$work/server.log"; then
      SERVER=$addr; return 0
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  log "step 'start server': coord did not announce its zookeeper port"; tail -20 "$work/server.log" >&2
  return 1
}

# ---- checking ---------------------------------------------------------------
FAILED=()
SKIPPED=()
SERVER_GONE=0
STEPS_OK=0

# normalize MODE (zkcli|mt): client output on stdin, the checked lines out.
normalize() {
  awk -v mode="$1" -v year="$YEAR" '
    function flush(  i, j, t) {
      for (i = 2; i <= nrun; i++) {
        t = run[i]
        for (j = i - 1; j >= 1 && run[j] > t; j--) run[j + 1] = run[j]
        run[j + 1] = t
      }
      for (i = 1; i <= nrun; i++) print run[i]
      nrun = 0
    }
    function hex(v) { return v ~ /^(0x)?[0-9a-f]+$/ }
    {
      line = $0
      if (line ~ /^[ \t]*$/) next
      if (mode == "zkcli") {
        if (line ~ /^SLF4J: / || line ~ /^Connecting to / || line == "Welcome to ZooKeeper!" ||
            line ~ /^JLine support is / || line == "WATCHER::" || line ~ /^WatchedEvent /) next
        if (match(line, /^(cZxid|mZxid|pZxid) = /)) {
          v = substr(line, RLENGTH + 1)
          if (hex(v) && v != "0x0") line = substr(line, 1, RLENGTH) "<zxid>"
        } else if (match(line, /^(ctime|mtime) = /)) {
          if (line ~ (" " year "$")) line = substr(line, 1, RLENGTH) "<time>"
        } else if (match(line, /^ephemeralOwner = /)) {
          v = substr(line, RLENGTH + 1)
          if (hex(v) && v != "0x0") line = substr(line, 1, RLENGTH) "<session>"
        }
        print line
        next
      }
      # cli_mt: everything on stderr; tabs shown as two spaces
      if (line ~ /^time = [0-9-]+ msec$/ || line ~ /^Watcher / || line ~ /^Got a new session id: /) next
      if (match(line, /^\tctime = /) || match(line, /^\tmtime=/)) {
        if (line ~ (" " year "$")) line = substr(line, 1, RLENGTH) "<time>"
      } else if (match(line, /^\t(czxid|mzxid)=/)) {
        v = substr(line, RLENGTH + 1)
        if (hex(v) && v != "0") line = substr(line, 1, RLENGTH) "<zxid>"
      } else if (match(line, /^\tephemeralOwner = /)) {
        v = substr(line, RLENGTH + 1)
        if (hex(v) && v != "0") line = substr(line, 1, RLENGTH) "<session>"
      }
      gsub(/\t/, "  ", line)
      if (line ~ /^  [^=]*$/) { run[++nrun] = line; next }   # a child of a listing
      flush()
      print line
    }
    END { flush() }
  '
}

# events MODE BYTES: the watch events printed in the first BYTES of the output.
events() {
  head -c "$2" "$S_OUT" | if [ "$1" = zkcli ]; then
    grep -a '^WatchedEvent ' | grep -v '^WatchedEvent state:Closed type:None'
  else
    grep -a -E '^(Watcher |Got a new session id: )' | sed -E 's/^(Got a new session id: )0x[0-9a-f]+$/\1<session>/'
  fi
}

# start_cli NAME MODE COMMAND...: the client reads a FIFO that the script holds open.
start_cli() {
  S_NAME=$1; S_MODE=$2; shift 2
  S_OUT="$work/$S_NAME.out"; S_OFF=0; S_EVEXP=""; S_STEP=0; S_DEAD=0; S_HUNG=0
  S_DEADLINE=$((${EPOCHREALTIME/./} + SESSION_LIMIT * 1000000))
  mkfifo "$work/$S_NAME.in"
  exec {S_FD}<>"$work/$S_NAME.in"
  timeout "$SESSION_LIMIT" "$@" <"$work/$S_NAME.in" >"$S_OUT" 2>&1 {S_FD}>&- &
  cli_pid=$!
}

# finish_cli: waits (bounded) for the client to exit after its quit step and
# checks its exit status and that it printed nothing more.
finish_cli() {
  local i rc rest
  exec {S_FD}>&-; S_FD=""
  if [ "$S_HUNG" -ge 2 ] || [ "$SERVER_GONE" = 1 ]; then
    stop_pid "$cli_pid" 2; cli_pid=""
    skip "$S_NAME: exit after quit" "not run: no answer to the steps before, or no server; client stopped"
    return
  fi
  for ((i = 0; i < 100; i++)); do kill -0 "$cli_pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$cli_pid" 2>/dev/null; then
    fail "$S_NAME: exit after quit" "the client still runs 10 s after quit"
    stop_pid "$cli_pid" 2; cli_pid=""; return
  fi
  wait "$cli_pid"; rc=$?; cli_pid=""
  rest=$(tail -c +$((S_OFF + 1)) "$S_OUT" | normalize "$S_MODE")
  local evrest
  evrest=$(diff <(printf '%s\n' "${S_EVEXP%$'\n'}") <(events "$S_MODE" $(( $(wc -c <"$S_OUT") )) ) | grep '^>' )
  if [ "$rc" != 0 ]; then
    fail "$S_NAME: exit status" "exited with $rc, expected 0"
  elif [ -n "$rest" ] || [ -n "$evrest" ]; then
    fail "$S_NAME: trailing output" "after the last step:"$'\n'"$rest$evrest"
  else
    ok "$S_NAME: exit 0, no trailing output" 0
  fi
  if [ "${CLI_VERBOSE:-0}" = 1 ]; then sed "s/^/  $S_NAME| /" "$S_OUT" >&2; fi
}

# difference EXPECTED GOT: their diff lines as -/+, or "(same)".
difference() {
  local d
  d=$(diff <(lines "$1") <(lines "$2") | grep '^[<>]' | sed 's/^</-/; s/^>/+/')
  if [ "$(lines "$d" | wc -l)" -gt 30 ]; then
    d="$(lines "$d" | head -30)"$'\n'"... ($(($(lines "$d" | wc -l) - 30)) more lines)"
  fi
  printf '%s\n' "${d:-(same)}"
}
lines() { [ -z "$1" ] || printf '%s\n' "$1"; }

ok() { STEPS_OK=$((STEPS_OK + 1)); log "ok   $1 ($2 ms)"; }
skip() { SKIPPED+=("$1"); log "skip $1 ($2)"; }
fail() {
  FAILED+=("$1")
  log "FAIL $1"
  printf '%s\n' "$2" | sed 's/^/    /' >&2
}

# step [-s] [-S] [-e EVENT]... COMMAND...  (expected normalised output on stdin)
# -e: a watch event this step makes the client print (in order; -S: in any order);
# -s: the output lines are compared in any order.
# A step fails when its output does not match within CLI_STEP_WAIT seconds, or
# earlier once something came back and then nothing new for CLI_SETTLE_MS. After two steps in a row got
# nothing at all back (a server that stopped answering), the session's
# remaining steps are not run.
step() {
  local sorted=0 sortout=0 evs=() want got gotev cmd t0 now name raw complete len
  local evprev evcur evwant nprev=0 seen="" changed why
  while [ $# -gt 0 ]; do
    case "$1" in
      -S) sorted=1; shift ;;
      -s) sortout=1; shift ;;
      -e) evs+=("$2"); shift 2 ;;
      *) break ;;
    esac
  done
  want=$(cat)
  [ "$sortout" = 0 ] || want=$(printf '%s\n' "$want" | sort)
  S_STEP=$((S_STEP + 1))
  name="$S_NAME step $S_STEP: $(IFS=';'; echo "$*" | sed 's/;/ ; /g')"
  [ $# -gt 0 ] || name="$S_NAME step $S_STEP: connect"
  evprev=${S_EVEXP%$'\n'}
  [ -z "$evprev" ] || nprev=$(printf '%s\n' "$evprev" | wc -l)
  evwant=""; [ ${#evs[@]} -eq 0 ] || evwant=$(printf '%s\n' "${evs[@]}")
  [ "$sorted" = 0 ] || evwant=$(printf '%s\n' "$evwant" | sort)
  if [ "$S_DEAD" = 1 ]; then skip "$name" "not run: the client is gone"; return; fi
  if [ "$S_HUNG" -ge 2 ]; then skip "$name" "not run: no answer to the steps before"; return; fi
  if [ "$SERVER_GONE" = 1 ]; then skip "$name" "not run: the server is gone"; return; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    SERVER_GONE=1; fail "$name" "not run: the server exited (see its log below)"; return
  fi
  t0=${EPOCHREALTIME/./}; changed=$t0
  for cmd in "$@"; do printf '%s\n' "$cmd" >&"$S_FD"; done
  while :; do
    raw=$(tail -c +$((S_OFF + 1)) "$S_OUT"; printf x); raw=${raw%x}
    if [[ $raw == *$'\n'* ]]; then complete=${raw%$'\n'*}; len=$((${#complete} + 1)); else complete=""; len=0; fi
    got=""; [ "$len" = 0 ] || got=$(printf '%s\n' "$complete" | normalize "$S_MODE")
    [ "$sortout" = 0 ] || got=$(printf '%s\n' "$got" | sort)
    gotev=$(events "$S_MODE" $((S_OFF + len)))
    evcur=""; [ -z "$gotev" ] || evcur=$(printf '%s\n' "$gotev" | tail -n +$((nprev + 1)))
    [ "$sorted" = 0 ] || evcur=$(printf '%s\n' "$evcur" | sed '/^$/d' | sort)
    if [ "$got" = "$want" ] && [ "$evcur" = "$evwant" ] &&
       [ "$(printf '%s\n' "$gotev" | head -n "$nprev")" = "$evprev" ]; then
      S_OFF=$((S_OFF + len)); S_HUNG=0
      S_EVEXP=$(printf '%s\n' "$gotev" | sed '/^$/d'); [ -z "$S_EVEXP" ] || S_EVEXP+=$'\n'
      now=${EPOCHREALTIME/./}
      ok "$name" $(((now - t0) / 1000))
      return
    fi
    now=${EPOCHREALTIME/./}
    [ "$seen" = "$len/$gotev" ] || { seen="$len/$gotev"; changed=$now; }
    why=""
    if ! kill -0 "$server_pid" 2>/dev/null; then
      SERVER_GONE=1; why="the server exited (see its log below)"
    elif ! kill -0 "$cli_pid" 2>/dev/null; then
      S_DEAD=$((S_DEAD + 1)); [ "$S_DEAD" -lt 2 ] || why="the client exited"
    elif [ "$now" -gt $((t0 + STEP_WAIT * 1000000)) ] || [ "$now" -gt "$S_DEADLINE" ]; then
      why="no match within ${STEP_WAIT} s"
    elif [ "$now" -gt $((changed + SETTLE * 1000)) ] &&
         { [ -n "$got" ] || [ "$(printf '%s' "$gotev" | grep -c '')" -gt "$nprev" ]; }; then
      why="output settled without a match"
    fi
    if [ -n "$why" ]; then
      [ "$S_DEAD" = 0 ] || S_DEAD=1
      if [ -z "$got" ] && [ "$(printf '%s' "$gotev" | grep -c '')" -le "$nprev" ]; then
        S_HUNG=$((S_HUNG + 1)); why="$why, nothing came back"
        [ $# -gt 0 ] || S_HUNG=2 # not even connected: nothing more to try
      else
        S_HUNG=0
      fi
      fail "$name" "$why
output, expected (-) vs got (+):
$(difference "$want" "$got")
watch events so far, expected (-) vs got (+):
$(difference "$(printf '%s\n' "$evprev" "$evwant" | sed '/^$/d')" "$(printf '%s\n' "$gotev" | sed '/^$/d')")"
      # what went wrong stays consumed; later steps start after it
      S_OFF=$((S_OFF + len))
      S_EVEXP=$(printf '%s\n' "$gotev" | sed '/^$/d'); [ -z "$S_EVEXP" ] || S_EVEXP+=$'\n'
      return
    fi
    sleep 0.03
  done
}

# ---- zkCli.sh -----------------------------------------------------------------
run_zkcli() {
  start_cli zkCli zkcli env CLIENT_JVMFLAGS="-Dzookeeper.log.dir=$work" \
    JVMFLAGS="-XX:+UseSerialGC -XX:TieredStopAtLevel=1" "$ZKCLI" -server "$SERVER"
  local C='WatchedEvent state:SyncConnected'
  step -e "$C type:None path:null" </dev/null
  step 'create /cli "v1"' <<'E'
Created /cli
E
  step 'create -e /cli/eph "e1"' <<'E'
Created /cli/eph
E
  step 'create -s /cli/seq- "s1"' <<'E'
Created /cli/seq-0000000001
E
  step 'create -c /cli/cont "c1"' 'create /cli/cont/inner "i"' 'create /cli/child "k"' <<'E'
Created /cli/cont
Created /cli/cont/inner
Created /cli/child
E
  step 'create /cli "dup"' 'create /nope/child "x"' <<'E'
Node already exists: /cli
Node does not exist: /nope/child
E
  step 'get /cli' <<'E'
v1
E
  step 'get -s /cli' <<'E'
v1
cZxid = <zxid>
ctime = <time>
mZxid = <zxid>
mtime = <time>
pZxid = <zxid>
cversion = 4
dataVersion = 0
aclVersion = 0
ephemeralOwner = 0x0
dataLength = 2
numChildren = 4
E
  step 'set /cli "v2"' 'get /cli' <<'E'
v2
E
  step 'set -v 0 /cli "stale"' 'get /cli/missing' <<'E'
version No is not valid : /cli
Node does not exist: /cli/missing
E
  step 'stat /cli' <<'E'
cZxid = <zxid>
ctime = <time>
mZxid = <zxid>
mtime = <time>
pZxid = <zxid>
cversion = 4
dataVersion = 1
aclVersion = 0
ephemeralOwner = 0x0
dataLength = 2
numChildren = 4
E
  step 'set -s /cli/eph "eph-data"' <<'E'
cZxid = <zxid>
ctime = <time>
mZxid = <zxid>
mtime = <time>
pZxid = <zxid>
cversion = 0
dataVersion = 1
aclVersion = 0
ephemeralOwner = <session>
dataLength = 8
numChildren = 0
E
  step 'stat /cli/cont' <<'E'
cZxid = <zxid>
ctime = <time>
mZxid = <zxid>
mtime = <time>
pZxid = <zxid>
cversion = 1
dataVersion = 0
aclVersion = 0
ephemeralOwner = 0x0
dataLength = 2
numChildren = 1
E
  step 'ls /cli' <<'E'
[child, cont, eph, seq-0000000001]
E
  step 'ls -s /cli' <<'E'
[child, cont, eph, seq-0000000001]
cZxid = <zxid>
ctime = <time>
mZxid = <zxid>
mtime = <time>
pZxid = <zxid>
cversion = 4
dataVersion = 1
aclVersion = 0
ephemeralOwner = 0x0
dataLength = 2
numChildren = 4
E
  # ls -R walks the tree breadth first in the server's child order: compared sorted
  step -s 'ls -R /cli' <<'E'
/cli
/cli/child
/cli/cont
/cli/eph
/cli/seq-0000000001
/cli/cont/inner
E
  step 'getAllChildrenNumber /cli' 'getAllChildrenNumber /cli/cont' <<'E'
5
1
E
  step 'getEphemerals /' 'getEphemerals /cli/cont' <<'E'
[/cli/eph]
[]
E
  # plain addWatch is PERSISTENT_RECURSIVE (first in the session: zkCli keeps
  # the last -m mode for later plain addWatch commands): every node below /cli/cont
  step -e "$C type:NodeDataChanged path:/cli/cont/inner" -e "$C type:NodeCreated path:/cli/cont/inner/deep" \
    'addWatch /cli/cont' 'set /cli/cont/inner "i2"' 'create /cli/cont/inner/deep "d"' <<'E'
Created /cli/cont/inner/deep
E
  # addWatch -m PERSISTENT: data changes of /cli and changes of its child list
  step -e "$C type:NodeDataChanged path:/cli" -e "$C type:NodeChildrenChanged path:/cli" \
    'addWatch -m PERSISTENT /cli' 'set /cli "v3"' 'create /cli/w "w"' <<'E'
Created /cli/w
E
  step -e "$C type:NodeCreated path:/cli/child/grand" -e "$C type:NodeDataChanged path:/cli/child/grand" \
    'addWatch -m PERSISTENT_RECURSIVE /cli/child' 'create /cli/child/grand "g"' 'set /cli/child/grand "g2"' 'get /cli/child/grand' <<'E'
Created /cli/child/grand
g2
E
  # the persistent watch fires again: it was not consumed by the first event
  step -e "$C type:NodeDataChanged path:/cli" 'set /cli "v4"' 'get /cli' <<'E'
v4
E
  step 'whoami' <<'E'
Auth scheme: User
ip: 127.0.0.1
E
  step 'sync /cli' <<'E'
Sync is OK
E
  step 'delete /cli' 'delete /cli/child' <<'E'
Node not empty: /cli
Node not empty: /cli/child
E
  # The deletes' events are awaited before the listing: zkCli prints events
  # from its own thread, and one printed while `ls` prints would split a line.
  step -S -e "$C type:NodeDeleted path:/cli/child/grand" -e "$C type:NodeDeleted path:/cli/child" \
    -e "$C type:NodeChildrenChanged path:/cli" \
    'delete /cli/child/grand' 'delete /cli/child' </dev/null
  # a delete bumps the parent's cversion too: 5 creates and 1 delete below /cli
  step 'ls -s /cli' <<'E'
[cont, eph, seq-0000000001, w]
cZxid = <zxid>
ctime = <time>
mZxid = <zxid>
mtime = <time>
pZxid = <zxid>
cversion = 6
dataVersion = 3
aclVersion = 0
ephemeralOwner = 0x0
dataLength = 2
numChildren = 4
E
  # deleteall: one multi deleting the tree bottom-up (its order follows the
  # server's child order, so the events are compared in any order). The
  # recursive watch on /cli/cont sees its three nodes go; the persistent watch
  # on /cli sees each of its four children go, then /cli itself.
  step -S -e "$C type:NodeDeleted path:/cli/cont/inner/deep" -e "$C type:NodeDeleted path:/cli/cont/inner" \
    -e "$C type:NodeDeleted path:/cli/cont" \
    -e "$C type:NodeChildrenChanged path:/cli" -e "$C type:NodeChildrenChanged path:/cli" \
    -e "$C type:NodeChildrenChanged path:/cli" -e "$C type:NodeChildrenChanged path:/cli" \
    -e "$C type:NodeDeleted path:/cli" \
    'deleteall /cli' 'get /cli' 'stat /cli' <<'E'
Node does not exist: /cli
Node does not exist: /cli
E
  # ZooKeeper's root always holds its own /zookeeper node (quota and config).
  # A documented difference (README, "Using ZooKeeper clients"): coord has no
  # /zookeeper, so its root lists nothing here.
  if [ "$target" = zookeeper ]; then
    step 'ls /' <<<'[zookeeper]'
  else
    step 'ls /' <<<'[]'
  fi
  step 'quit' </dev/null
  finish_cli
}

# ---- cli_mt -----------------------------------------------------------------
# cli_mt's create always writes the data "new" (the rest of the line is the
# path), its get/ls/ls2 leave a watch behind (the printed "Watcher" lines),
# and exists/wexists print nothing unless they fail.
run_cli_mt() {
  start_cli cli_mt mt "$CLI_MT" "$SERVER"
  local C='CONNECTED_STATE for path'
  step -e 'Watcher SESSION_EVENT state = CONNECTED_STATE' -e 'Got a new session id: <session>' </dev/null
  step 'create /c1' <<'E'
Creating [/c1] node (mode: 0)
[/c1]: rc = 0
  name = /c1
E
  step 'get /c1' <<'E'
/c1: rc = 0
 value_len = 3
new
Stat:
  ctime = <time>
  czxid=<zxid>
  mtime=<time>
  mzxid=<zxid>
  version=0  aversion=0
  ephemeralOwner = 0
E
  step -e "Watcher CHANGED_EVENT state = $C /c1" 'set /c1 changed' <<'E'
/c1: rc = 0 Stat:
  ctime = <time>
  czxid=<zxid>
  mtime=<time>
  mzxid=<zxid>
  version=1  aversion=0
  ephemeralOwner = 0
E
  step 'get /c1' <<'E'
/c1: rc = 0
 value_len = 7
changed
Stat:
  ctime = <time>
  czxid=<zxid>
  mtime=<time>
  mzxid=<zxid>
  version=1  aversion=0
  ephemeralOwner = 0
E
  step 'create +e /c1/eph' <<'E'
Creating [/c1/eph] node (mode: 1)
[/c1/eph]: rc = 0
  name = /c1/eph
E
  step 'create +s /c1/s-' <<'E'
Creating [/c1/s-] node (mode: 2)
[/c1/s-]: rc = 0
  name = /c1/s-0000000001
E
  # as in zkCli: ZooKeeper's root lists its own /zookeeper node too, coord's
  # does not (the documented difference)
  if [ "$target" = zookeeper ]; then
    step 'ls /' <<'E'
/: rc = 0
  c1
  zookeeper
E
  else
    step 'ls /' <<'E'
/: rc = 0
  c1
E
  fi
  step 'ls2 /c1' <<'E'
/c1: rc = 0
  eph
  s-0000000001
  ctime = <time>
  czxid=<zxid>
  mtime=<time>
  mzxid=<zxid>
  version=1  aversion=0
  ephemeralOwner = 0
E
  step 'exists /c1' 'exists /nope' <<'E'
Error -101 for /nope
E
  step 'get /nope' <<'E'
/nope: rc = -101
Stat:
null
E
  step 'delete /c1' <<'E'
/c1: rc = -111
E
  step -S -e "Watcher CHILD_EVENT state = $C /c1" 'delete /c1/eph' 'delete /c1/s-0000000001' <<'E'
/c1/eph: rc = 0
/c1/s-0000000001: rc = 0
E
  step -S -e "Watcher DELETED_EVENT state = $C /c1" -e "Watcher CHILD_EVENT state = $C /" 'delete /c1' <<'E'
/c1: rc = 0
E
  step 'get /c1' <<'E'
/c1: rc = -101
Stat:
null
E
  step 'sync /' <<'E'
[/]: rc = 0
  name = /
E
  step 'quit' <<'E'
Quitting...
E
  finish_cli
}

# ---- run --------------------------------------------------------------------
t_start=${EPOCHREALTIME/./}
if [ "$target" = coord ]; then start_coord || exit 1; else start_zookeeper || exit 1; fi
log "$target on $SERVER"
run_zkcli
run_cli_mt
if ! kill -0 "$server_pid" 2>/dev/null; then
  wait "$server_pid"; fail "stop server" "$target had already exited (status $?)"
elif ! stop_pid "$server_pid" 10; then
  fail "stop server" "$target did not exit within 10 s of SIGTERM (killed)"
fi
server_pid=""
secs=$(((${EPOCHREALTIME/./} - t_start) / 1000))
if [ ${#FAILED[@]} -gt 0 ] || [ ${#SKIPPED[@]} -gt 0 ]; then
  log "${#FAILED[@]} failed, ${#SKIPPED[@]} not run, $STEPS_OK passed against $target (${secs} ms); failed:"
  for f in "${FAILED[@]}"; do log "  $f"; done
  log "server log tail:"; tail -5 "$work/server.log" | sed 's/^/    /' >&2
  exit 1
fi
log "all $STEPS_OK steps passed against $target (${secs} ms)"
