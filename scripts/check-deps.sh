#!/usr/bin/env bash
# Checks that the crates follow the dependency arrows (README "Layout"): what a
# program links to use coord (the client, libcoord, the Python and Node
# modules) compiles no server, no consensus and no command-line machinery, and
# the server never depends on the client or the recipes. Fails naming the
# crate and what it pulls in. Uses only `cargo tree` (no network, no build).
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
forbid() { # package, edge kinds, forbidden crate names...
  local pkg=$1 edges=$2
  shift 2
  local tree
  tree=$(cargo tree --locked -p "$pkg" -e "$edges" --prefix none --format '{p}' | awk '{print $1}' | sort -u)
  for bad in "$@"; do
    if grep -qx "$bad" <<<"$tree"; then
      echo "check-deps: $pkg ($edges dependencies) pulls in $bad, against the dependency arrows" >&2
      cargo tree --locked -p "$pkg" -e "$edges" -i "$bad" >&2 || true
      status=1
    fi
  done
}

heavy=(coord-server openraft clap tracing-subscriber hdrhistogram tempfile)
for pkg in coord-proto coord-client coord-ffi coord-node coord-python; do
  forbid "$pkg" normal "${heavy[@]}"
done
forbid coord-proto normal coord-client
# (openraft itself depends on clap, so the server cannot forbid it.)
forbid coord-server normal coord-client coord-cli tracing-subscriber hdrhistogram

if [ "$status" = 0 ]; then
  echo "check-deps: the crates follow the dependency arrows"
fi
exit "$status"
