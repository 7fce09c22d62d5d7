# Shared by tests/bench/run.sh, cluster.sh, overhead.sh, instructions.sh,
# install.sh and bindings.sh (sourced, not run): installing the peers from
# Debian, building coord and the harness, the version lookups for the report,
# reading a started server's address from its log, and rewriting a section of
# BENCHMARKS.md. Expects ROOT (the repository root) and a
# log function.

# install_peers [redis|zk]: installs what is missing of ZooKeeper, etcd and a
# JRE (and Redis when asked; ZooKeeper and the JRE only with zk) with apt. No protobuf-compiler: etcd-client's
# build script gets the vendored protoc (with its well-known types) through
# PROTOC=scripts/protoc, .cargo/config.toml.
install_peers() {
  local sudo="" need=()
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  [ -f /usr/share/java/zookeeper.jar ] && [ -x /usr/share/zookeeper/bin/zkServer.sh ] || need+=(zookeeper)
  [ "${1:-}" = zk ] || command -v etcd >/dev/null || need+=(etcd-server)
  if [ "${1:-}" = redis ]; then
    command -v redis-server >/dev/null || need+=(redis-server)
  fi
  command -v java >/dev/null || need+=(default-jre-headless)
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${need[@]}"
  fi
}

# target_dir: cargo's target directory (CARGO_TARGET_DIR or the workspace's).
target_dir() {
  cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])'
}

# build_coord: builds `coord` in release and sets COORD.
build_coord() {
  cargo build --release -p coord-cli --bin coord
  COORD="$(target_dir)/release/coord"
}

# stop_server: stops the server whose PID is in SERVER_PID, if any, and
# waits for it.
SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}

# build_bench: builds `coord` and the harness with BENCH_PROFILE (release
# unless set; dev builds debug binaries for trying the harness quickly, the
# published numbers are always from release) and sets PROFILE, COORD and
# HARNESS.
build_bench() {
  local profile_dir dir
  PROFILE="${BENCH_PROFILE:-release}"
  profile_dir=$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
  log "building coord and the harness ($PROFILE)"
  cargo build --profile "$PROFILE" -p coord-cli --bin coord
  cargo build --profile "$PROFILE" -p coord-peer-bench
  dir="$(target_dir)"
  COORD="$dir/$profile_dir/coord"
  HARNESS="$dir/$profile_dir/coord-peer-bench"
}

# deb PACKAGE: its installed Debian version, or "?".
deb() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"; }

# lockver CRATE: its version in Cargo.lock.
lockver() { awk -v n="$1" '$0 == "name = \""n"\"" { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"; }

# zk_served_at LOG: the address of the ZooKeeper port a server started with
# --zk-listen prints ("coord: zookeeper protocol on ADDR"), or "".
zk_served_at() { sed -n 's/^coord: zookeeper protocol on //p' "$1" | head -1; }

# served_at LOG: the address of a complete "coord: serving on ADDR" line
# (never a line still being written: "127.0" is no address).
served_at() {
  python3 -c 'import re, sys
m = re.search(r"^coord: serving on (\S+:\d+)\n", open(sys.argv[1], errors="replace").read(), re.M)
print(m.group(1) if m else "")' "$1"
}

# write_section FILE MARK TEXT [HEADING]: puts TEXT between the lines
# <!-- bench:MARK:start --> and <!-- bench:MARK:end --> of FILE, replacing
# what was there; when FILE has no such markers they are appended at its
# end, after HEADING (markdown) when given.
write_section() {
  python3 - "$@" <<'PY'
import sys
path, mark, section = sys.argv[1:4]
heading = sys.argv[4] if len(sys.argv) > 4 else ""
start, end = f"<!-- bench:{mark}:start -->", f"<!-- bench:{mark}:end -->"
text = open(path).read()
block = f"{start}\n{section}\n{end}"
if start in text and end in text:
    head, rest = text.split(start, 1)
    text = head + block + rest.split(end, 1)[1]
else:
    text = text.rstrip("\n") + "\n\n" + (heading.rstrip("\n") + "\n\n" if heading else "") + block + "\n"
open(path, "w").write(text)
PY
}
