#!/usr/bin/env bash
# Install time and size of the packages (issue 17): a user installing coord's
# Python, Node or C client from the packages of scripts/package.sh against
# building it from source as before (a fresh cargo target dir, so every
# dependency compiles, as on a user's machine; the cargo registry is already
# downloaded, which favours the source path). Prints a markdown table and
# rewrites the section of BENCHMARKS.md between <!-- bench:install:start -->
# and <!-- bench:install:end -->.
#
#   tests/bench/install.sh            # packages from DIST (default dist/,
#                                     # built in release when missing)
#
# Environment: DIST, BENCH_TMP (parent of the temp dirs), BENCH_OUT (default
# BENCHMARKS.md), SKIP_SOURCE=1 (packages only: the source builds take
# minutes each). pip and npm install from local files only for the packages
# (--no-index, --offline): the time is the install's, not a download's.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
DIST="${DIST:-$ROOT/dist}"
OUT="${BENCH_OUT:-$ROOT/BENCHMARKS.md}"
log() { echo "install.sh: $*" >&2; }
# shellcheck source=tests/bench/common.sh
. "$ROOT/tests/bench/common.sh"

if ! ls "$DIST"/coord-*.whl "$DIST"/coord-*.tgz "$DIST"/libcoord-*.tar.gz >/dev/null 2>&1; then
  log "no packages in $DIST: building them (release)"
  scripts/package.sh "$DIST"
fi
wheel="$(ls "$DIST"/coord-*.whl | head -n1)"
tarball="$(ls "$DIST"/coord-*.tgz | head -n1)"
libtar="$(ls "$DIST"/libcoord-*.tar.gz | head -n1)"
binary="$(ls "$DIST"/coord-*-linux-x86_64 | head -n1)"

WORK="$(mktemp -d "${BENCH_TMP:-/tmp}/coord-install.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
RESULTS="$WORK/results.tsv"
: > "$RESULTS"

# timed NAME CMD...: runs CMD, appends "NAME<TAB>seconds" to RESULTS.
timed() {
  local name="$1" start end
  shift
  start=$(date +%s.%N)
  "$@" > "$WORK/$name.log" 2>&1 || { log "$name failed:"; tail -20 "$WORK/$name.log" >&2; exit 1; }
  end=$(date +%s.%N)
  printf '%s\t%s\n' "$name" "$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')" >> "$RESULTS"
  log "$name: $(tail -n1 "$RESULTS" | cut -f2) s"
}
size_of() { du -sb "$1" | cut -f1; }

load_start="$(cut -d' ' -f1-3 /proc/loadavg)"

# Python: the wheel into a fresh venv (venv creation not counted).
python3 -m venv "$WORK/py-wheel"
timed py_wheel "$WORK/py-wheel/bin/pip" install --no-index --no-deps -q "$wheel"
"$WORK/py-wheel/bin/python" -c 'import coord; print(coord.__name__)' >/dev/null
py_installed=$(size_of "$("$WORK/py-wheel/bin/python" -c 'import coord, os; print(os.path.dirname(coord.__file__))')")

# Node: the tarball into an empty project.
mkdir -p "$WORK/node-pkg"
(cd "$WORK/node-pkg" && npm init -y >/dev/null)
timed node_tarball bash -c "cd '$WORK/node-pkg' && npm install --offline --no-audit --no-fund '$tarball'"
(cd "$WORK/node-pkg" && node -e 'require("coord")')
node_installed=$(size_of "$WORK/node-pkg/node_modules/coord")

# C: unpack the tarball and compile a program against it with pkg-config.
mkdir -p "$WORK/c-pkg"
cat > "$WORK/c-pkg/prog.c" <<'C'
#include <coord.h>
#include <stdio.h>
int main(void) { printf("%s\n", coord_version()); return 0; }
C
timed c_tarball bash -c "cd '$WORK/c-pkg' && tar xzf '$libtar' && \
  pc=\$(dirname \$(find . -name coord.pc)) && \
  cc prog.c -o prog \$(PKG_CONFIG_PATH=\$pc pkg-config --cflags --libs coord) && ./prog"
c_installed=$(size_of "$(find "$WORK/c-pkg" -maxdepth 1 -type d -name 'libcoord-*')")

if [ -z "${SKIP_SOURCE:-}" ]; then
  # From source, each with its own empty target dir.
  python3 -m venv "$WORK/py-src"
  timed py_source env CARGO_TARGET_DIR="$WORK/target-py" "$WORK/py-src/bin/pip" install -q "$ROOT/bindings/python"
  rm -rf "$WORK/target-py"
  timed node_source env CARGO_TARGET_DIR="$WORK/target-node" bash -c \
    "cd '$ROOT/bindings/node' && npm ci --ignore-scripts --no-audit --no-fund && npx napi build --platform --release -o '$WORK/node-src-out'"
  rm -rf "$WORK/target-node"
  timed c_source env CARGO_TARGET_DIR="$WORK/target-c" cargo build --release -p coord-ffi
  rm -rf "$WORK/target-c"
fi
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

SECTION="$(python3 - "$RESULTS" "$load_start" "$load_end" "$(git rev-parse --short HEAD)" \
  "$wheel" "$tarball" "$libtar" "$binary" "$py_installed" "$node_installed" "$c_installed" <<'PY'
import os, sys, time
res, ls, le, rev, wheel, tarball, libtar, binary, py_i, node_i, c_i = sys.argv[1:]
t = dict(line.rstrip("\n").split("\t") for line in open(res) if line.strip())
def sec(k):
    return f"{float(t[k]):.1f} s" if k in t else "not run"
def ratio(a, b):
    return f"{float(t[b]) / float(t[a]):.0f}x" if a in t and b in t else "n/a"
def mib(n):
    return f"{int(n) / 1048576:.1f} MiB"
rows = [
    ("Python", os.path.basename(wheel), os.path.getsize(wheel), py_i, "py_wheel", "py_source",
     "`pip install ./bindings/python`"),
    ("Node", os.path.basename(tarball), os.path.getsize(tarball), node_i, "node_tarball", "node_source",
     "`npm ci && napi build --release`"),
    ("C", os.path.basename(libtar), os.path.getsize(libtar), c_i, "c_tarball", "c_source",
     "`cargo build --release -p coord-ffi`"),
]
out = [f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {rev}; load average {ls} at the start, {le} at the end.", "",
       "| language | package | size | installed | install from package | from source (fresh target dir) | source path | package faster by |",
       "|---|---|---|---|---|---|---|---|"]
for lang, name, size, inst, a, b, how in rows:
    out.append(f"| {lang} | `{name}` | {mib(size)} | {mib(inst)} | {sec(a)} | {sec(b)} | {how} | {ratio(a, b)} |")
out += ["", f"The `coord` binary (server and CLI, stripped): `{os.path.basename(binary)}`, {mib(os.path.getsize(binary))}.",
        "The package installs run from local files only (pip --no-index, npm --offline); the C row includes compiling and running a program against the unpacked tarball through pkg-config."]
print("\n".join(out))
PY
)"
echo "$SECTION"
write_section "$OUT" install "$SECTION" "## Install time and package sizes (issue 17)"
log "BENCHMARKS.md updated"
