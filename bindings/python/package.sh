#!/usr/bin/env bash
# Builds the Python packages of coord into DIST and prints each file written:
#   bindings/python/package.sh DIST [--profile release|dev]
#   coord-<version>-cp39-abi3-manylinux*_x86_64.whl  abi3 wheel, CPython >= 3.9, glibc >= 2.17
#   coord-<version>.tar.gz                           sdist (builds with maturin)
# `release` (the default) is what users get; `dev` builds in debug, only to
# check the packaging quickly. The wheel is checked twice: maturin audits it
# against the manylinux policy given by --compatibility (COORD_PY_MANYLINUX,
# default manylinux_2_17) and `auditwheel show` must report that same policy.
#
# The extension is linked by zig (`maturin build --zig`) against glibc 2.17's
# symbols, whatever the build host's glibc: a plain link on a glibc >= 2.34
# host references GLIBC_2.34 symbols and gives manylinux_2_34 at best, which
# e.g. Debian 11 and Ubuntu 20.04 cannot install. COORD_PY_ZIG=0 links with
# the host's cc instead (set COORD_PY_MANYLINUX to what the host's glibc
# allows, e.g. manylinux_2_34 on glibc 2.36).
#
# Tools (maturin, auditwheel, ziglang) live in their own venv,
# target/python-tools (a cache: delete it to rebuild); maturin builds in
# target/maturin like run-tests.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target="${CARGO_TARGET_DIR:-$root/target}"
python="${PYTHON:-python3}"
# The oldest glibc the wheel may need (manylinux_2_17 = manylinux2014).
policy="${COORD_PY_MANYLINUX:-manylinux_2_17}"
use_zig="${COORD_PY_ZIG:-1}"
# maturin: same pin as run-tests.sh.
maturin_req="maturin>=1.16,<2"
auditwheel_req="auditwheel>=6.1,<7"
zig_req="ziglang>=0.17,<0.18"

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }
dist=""
profile=release
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="${2:?--profile needs release or dev}"; shift 2 ;;
    --profile=*) profile="${1#--profile=}"; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "bindings/python/package.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) dist="$1"; shift ;;
  esac
done
if [ -z "$dist" ]; then
  echo "bindings/python/package.sh: missing DIST (the output directory; see --help)" >&2
  exit 2
fi
case "$profile" in
  release|dev) ;;
  *) echo "bindings/python/package.sh: --profile must be release or dev, not '$profile'" >&2; exit 2 ;;
esac
mkdir -p "$dist"
dist=$(cd "$dist" && pwd)

tools="$target/python-tools"
if [ ! -x "$tools/bin/python" ]; then
  "$python" -m venv "$tools"
fi
if ! "$tools/bin/python" -c 'import maturin, auditwheel, ziglang' >/dev/null 2>&1; then
  "$tools/bin/python" -m pip install -q --disable-pip-version-check "$maturin_req" "$auditwheel_req" "$zig_req"
fi
zig=()
[ "$use_zig" = 0 ] || zig=(--zig)
# Users get no debug sections (the release profile keeps line tables for
# profiling the server; a 36 MB extension would be mostly those).
strip=()
[ "$profile" = release ] && strip=(--strip)

# Build into a scratch directory first so that only this run's files are
# listed (and an older wheel in DIST cannot pass the checks).
scratch=$(mktemp -d "$target/python-package.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

cd "$here"
PATH="$tools/bin:$PATH" maturin build --locked --profile "$profile" "${zig[@]}" "${strip[@]}" \
  --compatibility "$policy" --auditwheel check \
  --target-dir "$target/maturin" --out "$scratch/wheel" >&2
PATH="$tools/bin:$PATH" maturin sdist --out "$scratch/sdist" >&2

shopt -s nullglob
wheels=("$scratch"/wheel/coord-*-cp39-abi3-*.whl)
sdists=("$scratch"/sdist/coord-*.tar.gz)
if [ ${#wheels[@]} -ne 1 ] || [ ${#sdists[@]} -ne 1 ]; then
  echo "bindings/python/package.sh: expected one abi3 wheel and one sdist, got: $(ls "$scratch"/wheel "$scratch"/sdist)" >&2
  exit 1
fi
wheel=${wheels[0]}

# auditwheel's own verdict must agree with the tag maturin wrote.
report=$("$tools/bin/auditwheel" show "$wheel")
echo "$report" >&2
if ! grep -q "\"${policy}_x86_64\"" <<<"$report"; then
  echo "bindings/python/package.sh: auditwheel does not find $(basename "$wheel") consistent with ${policy}_x86_64 (report above)" >&2
  exit 1
fi
# The wheel must say abi3 for CPython >= 3.9 and carry the native module.
"$tools/bin/python" - "$wheel" "${policy}_x86_64" <<'EOF'
import sys, zipfile
wheel, platform = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = z.namelist()
    meta = [n for n in names if n.endswith(".dist-info/WHEEL")]
    tags = [l.split(":", 1)[1].strip() for l in z.read(meta[0]).decode().splitlines() if l.startswith("Tag:")]
want = f"cp39-abi3-{platform}"
if want not in tags or any(not t.startswith("cp39-abi3-manylinux") for t in tags):
    sys.exit(f"bindings/python/package.sh: {wheel} is tagged {tags}, expected {want!r}")
if "coord/_coord.abi3.so" not in names:
    sys.exit(f"bindings/python/package.sh: {wheel} lacks coord/_coord.abi3.so")
EOF

for f in "$wheel" "${sdists[0]}"; do
  cp "$f" "$dist/"
  echo "$dist/$(basename "$f")"
done
