#!/usr/bin/env bash
# The dashboard in a real headless Chromium: the real `coord serve
# --http-listen 127.0.0.1:0 --http-admin`, a lock holder and two waiters made
# with `coord lock /locks/demo -- CMD` (the holder's CMD waits for a file this
# test writes), the page at /#locks driven by puppeteer-core (check.mjs): it
# must show the holder and the waiters, then, once the holder's command ends
# and coord releases, the first waiter as holder. Screenshots go to
# target/dashboard/ (dashboard-waiting.png, dashboard.png).
#
#   tests/dashboard/run.sh                  # COORD_BIN defaults to target/debug/coord
#   DASH_KEEP=1 tests/dashboard/run.sh      # keep the work directory (logs)
#
# Installs what it needs when missing: Debian's `chromium` package (apt-get,
# as root or through sudo; refused otherwise with a message) and, with npm,
# tests/dashboard/package-lock.json's packages (puppeteer-core; its own
# browser download is skipped: PUPPETEER_SKIP_DOWNLOAD=1). It does not build
# coord. Everything listens on 127.0.0.1; every wait is bounded (DASH_WAIT
# seconds for the server and each contender, DASH_STEP_MS per browser step);
# everything started here is stopped on exit.
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$here/../.." && pwd)
COORD_BIN="${COORD_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/coord}"
OUT="${DASH_OUT:-${CARGO_TARGET_DIR:-$ROOT/target}/dashboard}"
WAIT="${DASH_WAIT:-30}"

log() { echo "dashboard: $*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

[ -x "$COORD_BIN" ] || fail "no coord binary at $COORD_BIN (build it: cargo build -p coord-cli, or set COORD_BIN)"

# ---- dependencies -----------------------------------------------------------
CHROMIUM="${DASH_CHROMIUM:-$(command -v chromium || true)}"
if [ -z "$CHROMIUM" ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  if ! command -v apt-get >/dev/null 2>&1 || { [ -n "$sudo" ] && ! command -v sudo >/dev/null 2>&1; }; then
    fail "needs Debian's chromium package and cannot install it here (apt-get as root or through sudo): install chromium yourself or set DASH_CHROMIUM"
  fi
  log "installing chromium (apt-get)"
  $sudo apt-get update -q || fail "step 'install': apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium ||
    fail "step 'install': apt-get install chromium failed"
  CHROMIUM=$(command -v chromium) || fail "chromium is still not on PATH after installing it"
fi
command -v node >/dev/null && command -v npm >/dev/null ||
  fail "needs node and npm (Debian: apt-get install nodejs npm)"
if [ ! -d "$here/node_modules/puppeteer-core" ] ||
   [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
  log "npm ci (puppeteer-core)"
  (cd "$here" && PUPPETEER_SKIP_DOWNLOAD=1 timeout 300 npm ci --no-audit --no-fund --loglevel=error) ||
    fail "step 'install': npm ci in tests/dashboard failed"
fi

# ---- processes --------------------------------------------------------------
work=$(mktemp -d /tmp/coord-dashboard.XXXXXX)
pids=()
cleanup() {
  local rc=$? pid i
  touch "$work/release" "$work/done" 2>/dev/null || true
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "$rc" != 0 ] && [ -f "$work/server.log" ]; then
    log "server log (last 30 lines):"; tail -n 30 "$work/server.log" >&2
  fi
  if [ -n "${DASH_KEEP:-}" ]; then log "kept $work"; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT INT TERM

# wait_for SECONDS WHAT COMMAND...: runs COMMAND every 0.1 s until it succeeds.
wait_for() {
  local limit=$1 what=$2 i; shift 2
  for ((i = 0; i < limit * 10; i++)); do "$@" && return 0; sleep 0.1; done
  fail "timed out after ${limit} s waiting for $what"
}

timeout 600 "$COORD_BIN" serve --listen 127.0.0.1:0 --data-dir "$work/data" \
  --http-listen 127.0.0.1:0 --http-admin 2>"$work/server.log" &
pids+=($!)
wait_for "$WAIT" "the server's address" grep -q "^coord: serving on " "$work/server.log"
addr=$(sed -n 's/^coord: serving on //p' "$work/server.log" | head -n1)
http=$(sed -n 's/^coord: http on //p' "$work/server.log" | head -n1)
[ -n "$http" ] || fail "no 'coord: http on' line in the server's log"
log "server on $addr, HTTP on $http"
export COORD_SERVERS="$addr"

# contenders N: how many contend for /locks/demo (holders and waiters).
contenders() {
  local n
  n=$("$COORD_BIN" locks /locks --json 2>/dev/null | grep -o '"node"' | wc -l) || return 1
  [ "$n" -ge "$1" ]
}
"$COORD_BIN" create /locks "" >/dev/null 2>&1 || "$COORD_BIN" stat /locks >/dev/null ||
  fail "cannot create /locks"
# User input the page must show as text, never run (check.mjs opens it).
"$COORD_BIN" create /xss "" >/dev/null && \
  "$COORD_BIN" create '/xss/<img src=x onerror=window.__xss=1>' '<script>window.__xss=2</script>' >/dev/null ||
  fail "cannot create /xss"
# The holder runs until the test writes the release file; the waiters until
# the end (cleanup writes `done`).
timeout 300 "$COORD_BIN" lock /locks/demo -- \
  sh -c "while [ ! -f '$work/release' ]; do sleep 0.1; done" 2>"$work/holder.log" &
pids+=($!)
wait_for "$WAIT" "the holder to join the line" contenders 1
for w in 1 2; do
  timeout 300 "$COORD_BIN" lock /locks/demo -- \
    sh -c "while [ ! -f '$work/done' ]; do sleep 0.1; done" 2>"$work/waiter$w.log" &
  pids+=($!)
  wait_for "$WAIT" "waiter $w to join the line" contenders $((w + 1))
done

DASH_URL="http://$http" DASH_RELEASE_FILE="$work/release" DASH_OUT="$OUT" DASH_CHROMIUM="$CHROMIUM" \
  timeout 180 node "$here/check.mjs" || fail "the browser check failed (see above)"
log "ok: screenshots in $OUT"
