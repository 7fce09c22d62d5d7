#!/usr/bin/env bash
# kazoo integration suite for coord's ZooKeeper-protocol listener
# (`coord serve --zk-listen`). The same tests run against real ZooKeeper 3.8
# (Debian's package), which is how they were written: each one encodes what
# ZooKeeper does, and coord must do the same.
#
#   tests/zk/run.sh                      # against coord (COORD_BIN, default target/debug/coord)
#   ZK_TARGET=zookeeper tests/zk/run.sh  # against ZooKeeper 3.8 from Debian
#   tests/zk/run.sh -k watches -x        # extra arguments go to pytest
#   tests/zk/run.sh -m 'not slow'        # without the container/TTL/expiry waits
#
# Installs what it needs: a venv at ${CARGO_TARGET_DIR:-target}/zk-venv with
# pinned kazoo and pytest (the venv is a cache: delete it to rebuild), and for
# ZK_TARGET=zookeeper the Debian packages zookeeper and default-jre-headless
# when missing (apt-get, as root or through sudo). It does not build coord.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$here/../.." && pwd)
venv="${CARGO_TARGET_DIR:-$ROOT/target}/zk-venv"
python="${PYTHON:-python3}"
target="${ZK_TARGET:-coord}"

log() { echo "zk-tests: $*" >&2; }

case "$target" in
  coord)
    export COORD_BIN="${COORD_BIN:-$ROOT/target/debug/coord}"
    if [ ! -x "$COORD_BIN" ]; then
      log "no coord binary at $COORD_BIN (build it: cargo build -p coord-cli --bin coord, or set COORD_BIN)"
      exit 1
    fi
    ;;
  zookeeper)
    need=()
    [ -f /usr/share/java/zookeeper.jar ] || need+=(zookeeper)
    command -v java >/dev/null || need+=(default-jre-headless)
    if [ ${#need[@]} -gt 0 ]; then
      sudo=""
      if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
      log "installing ${need[*]}"
      $sudo apt-get update
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${need[@]}"
    fi
    ;;
  *)
    log "ZK_TARGET must be coord or zookeeper, not '$target'"
    exit 2
    ;;
esac
export ZK_TARGET="$target"

# kazoo 2.11.0 is the client the suite was proven with; pytest-timeout bounds
# every test so that a server that never answers fails a test, not the run.
reqs=(kazoo==2.11.0 pytest==8.3.5 pytest-timeout==2.4.0)
if [ ! -x "$venv/bin/python" ]; then
  log "creating $venv"
  "$python" -m venv "$venv"
fi
if ! "$venv/bin/python" -m pip freeze --disable-pip-version-check 2>/dev/null |
    grep -qx 'kazoo==2.11.0' ||
   ! "$venv/bin/python" -c 'import pytest, pytest_timeout' >/dev/null 2>&1 ||
   [ "$("$venv/bin/python" -c 'import pytest; print(pytest.__version__)')" != 8.3.5 ]; then
  log "installing ${reqs[*]} into $venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${reqs[@]}"
fi

cd "$here"
export PYTHONDONTWRITEBYTECODE=1
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider --timeout=120 "$@"
