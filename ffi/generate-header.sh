#!/usr/bin/env bash
# Regenerates include/coord.h from ffi/src with the pinned cbindgen.
#   ffi/generate-header.sh            # writes include/coord.h
#   ffi/generate-header.sh OUT.h      # writes OUT.h (the drift test uses this)
# The pinned cbindgen is installed once into target/tools/ and reused.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/include/coord.h}"
version=0.29.4
tools="$root/target/tools"
cbindgen="$tools/bin/cbindgen"
if ! "$cbindgen" --version 2>/dev/null | grep -qx "cbindgen $version"; then
  echo "installing cbindgen $version into $tools (once, ~2 min)" >&2
  cargo install cbindgen --version "$version" --locked --root "$tools" >&2
fi
mkdir -p "$(dirname "$out")"
cd "$root/ffi"
"$cbindgen" --quiet --config cbindgen.toml --crate coord-ffi --output "$out"
