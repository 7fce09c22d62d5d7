#!/usr/bin/env bash
# Installs the Python wheel the way a user without Rust does and runs it:
#   bindings/python/test-package.sh
# The wheel and sdist come from $COORD_DIST (scripts/package.sh's output);
# when it is unset or holds no Python wheel, package.sh --profile dev builds
# them into target/dist-dev first. Then, on a PATH without cargo or rustc:
# a fresh venv, `pip install --no-index` of the wheel, the Getting started
# example (examples/getting_started.py) against a real `coord serve` on
# 127.0.0.1 port 0, and one lock contended by two Python processes (mutual
# exclusion, rising fencing tokens). Also checks that the sdist holds what a
# source build needs (Cargo.toml, src/, python/coord).
# The server binary: $COORD_BIN, else coord-*-linux-x86_64 in the dist
# directory, else target/debug/coord (built with cargo if missing).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target="${CARGO_TARGET_DIR:-$root/target}"
fail() { echo "test-package.sh: $*" >&2; exit 1; }

# --- the packages
dist="${COORD_DIST:-}"
wheels=()
if [ -n "$dist" ]; then
  wheels=("$dist"/coord-*-cp39-abi3-manylinux*_x86_64.whl)
  [ -e "${wheels[0]}" ] || wheels=()
fi
if [ ${#wheels[@]} -eq 0 ]; then
  dist="$root/target/dist-dev"
  echo "== no Python wheel in \$COORD_DIST; building one: package.sh $dist --profile dev"
  rm -f "$dist"/coord-*.whl "$dist"/coord-*.tar.gz
  "$here/package.sh" "$dist" --profile dev
  wheels=("$dist"/coord-*-cp39-abi3-manylinux*_x86_64.whl)
fi
[ ${#wheels[@]} -eq 1 ] && [ -e "${wheels[0]}" ] || fail "expected one wheel in $dist, found: ${wheels[*]}"
wheel=${wheels[0]}
sdists=("$dist"/coord-*.tar.gz)
[ ${#sdists[@]} -eq 1 ] && [ -e "${sdists[0]}" ] || fail "expected one sdist coord-*.tar.gz in $dist"
sdist=${sdists[0]}

coord_bin="${COORD_BIN:-}"
if [ -z "$coord_bin" ]; then
  bins=("$dist"/coord-*-linux-x86_64)
  if [ -e "${bins[0]}" ]; then
    coord_bin=${bins[0]}
  else
    coord_bin="$target/debug/coord"
    [ -x "$coord_bin" ] || (cd "$root" && cargo build -p coord-cli --bin coord --locked)
  fi
fi
[ -x "$coord_bin" ] || fail "no coord binary at $coord_bin"

# --- the sdist: what a source build needs
listing=$(tar tzf "$sdist")
for want in Cargo.toml src/lib.rs python/coord/__init__.py pyproject.toml; do
  grep -Eq "^coord-[^/]+/(bindings/python/)?$want\$" <<<"$listing" ||
    fail "$(basename "$sdist") lacks $want (listing: $(head -c 2000 <<<"$listing"))"
done
echo "ok: $(basename "$sdist") holds Cargo.toml, src/, python/coord and pyproject.toml"

# --- a PATH a user without Rust has: the venv, the system's bin directories
python=$(python3 -c 'import sys; print(sys.executable)')
venv="$target/python-pkgtest"
rm -rf "$venv"
"$python" -m venv "$venv"
export PATH="$venv/bin:/usr/bin:/bin"
unset VIRTUAL_ENV PYTHONPATH
if command -v cargo >/dev/null || command -v rustc >/dev/null; then
  fail "cargo or rustc is still on PATH ($PATH)"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/coord-pypkg.XXXXXX")
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== pip install --no-index $(basename "$wheel")"
start=$(date +%s.%N)
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-index "$wheel"
end=$(date +%s.%N)
echo "installed in $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s"
# Run from an empty directory so that nothing but the installed package
# can be imported; the native module must be inside it.
cd "$work"
loads_from() {  # loads_from VENV: coord and coord._coord import from VENV
  "$1/bin/python" - "$1" <<'EOF'
import os, sys
import coord, coord._coord
venv = os.path.realpath(sys.argv[1])
for mod in (coord, coord._coord):
    where = os.path.realpath(mod.__file__)
    if not where.startswith(venv + os.sep):
        sys.exit(f"{mod.__name__} imported from {where}, not from the venv {venv}")
EOF
}
loads_from "$venv"
echo "ok: coord and its native module load from the venv"
# The check above must catch a broken package: the same wheel without its
# native module installs (pip does not look inside) but must not load.
"$venv/bin/python" - "$wheel" "$work/broken" <<'EOF'
import os, sys, zipfile
src, out = sys.argv[1], sys.argv[2]
os.makedirs(out)
with zipfile.ZipFile(src) as a, zipfile.ZipFile(os.path.join(out, os.path.basename(src)), "w") as b:
    for item in a.infolist():
        if not item.filename.endswith(".so"):
            b.writestr(item, a.read(item))
EOF
"$python" -m venv "$work/broken-venv"
"$work/broken-venv/bin/python" -m pip install -q --disable-pip-version-check --no-index "$work/broken/$(basename "$wheel")"
if loads_from "$work/broken-venv" 2>/dev/null; then
  fail "a wheel without coord/_coord.abi3.so passed the load check"
fi
echo "ok: the same wheel without its native module fails the load check"

# --- a real server on 127.0.0.1, port 0
"$coord_bin" serve --listen 127.0.0.1:0 --data-dir "$work/data" 2>"$work/server.log" &
server_pid=$!
address=""
for _ in $(seq 1 200); do
  address=$(sed -n 's/^coord: serving on \(.*\)$/\1/p' "$work/server.log" | head -n1)
  [ -n "$address" ] && break
  kill -0 "$server_pid" 2>/dev/null || fail "coord serve exited: $(cat "$work/server.log")"
  sleep 0.1
done
[ -n "$address" ] || fail "coord serve did not say where it serves within 20 s: $(cat "$work/server.log")"
echo "== coord serve on $address ($coord_bin)"

echo "== examples/getting_started.py"
out=$(COORD_SERVERS="$address" timeout 60 "$venv/bin/python" "$here/examples/getting_started.py")
echo "$out"
for want in "holding /demo/lock with fencing token" "elected, term" "leader: worker-1" "watch: "; do
  grep -qF "$want" <<<"$out" || fail "getting_started.py printed no '$want'"
done

echo "== one lock, two processes"
timeout 180 "$venv/bin/python" "$here/tests/package/lock_two_processes.py" "$address"
echo "ok: the installed wheel works without a Rust toolchain"
