#!/usr/bin/env bash
# Builds the Python package `coord` into a venv under target/ and runs its
# pytest suite (acceptance tests included) and the stub check, then the
# API page (build-docs.py) and the package test (test-package.sh: the
# wheel installed without Rust).
# Called by scripts/test-all.sh; works on a fresh machine with Rust and
# Python >= 3.9. The venv is a cache: delete target/python-venv to rebuild it.
#
# maturin gets its own target dir (target/maturin, or $CARGO_TARGET_DIR/maturin
# when that is set) so that it does not fight cargo over pyo3's build
# configuration in target/debug.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv="${COORD_PY_VENV:-$root/target/python-venv}"
target="${CARGO_TARGET_DIR:-$root/target}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import maturin, pytest, mypy, kazoo, pdoc' >/dev/null 2>&1; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    "maturin>=1.16,<2" "pytest>=7" "mypy>=1.8" "kazoo==2.11.0" "pdoc>=15,<16"
fi

cd "$here"
VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" \
  "$venv/bin/maturin" develop --locked --features testing --target-dir "$target/maturin" ${MATURIN_ARGS:-}
cd "$here/tests"
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
# The API page (target/docs/python); fails if pdoc warns or a public name
# has no docstring.
"$venv/bin/python" "$here/build-docs.py" "$root/target/docs/python"
# Last: the wheel installed on a PATH without cargo (from $COORD_DIST, or
# built with --profile dev when that holds none).
"$here/test-package.sh"
