#!/usr/bin/env bash
# Runs every test suite of coord: Rust (unit, integration, doc), and, as they
# exist, C (libcoord), Python and Node. Installs what it needs by itself, so it
# works on a fresh machine with only the toolchains present. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

step() { printf '\n==> %s\n' "$*"; }
start=$(date +%s)

step "format check"
cargo fmt --all -- --check

step "build (debug, once for every suite)"
cargo build --workspace --all-targets --locked

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Rust tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
cargo test --workspace --locked --doc

for suite in tests/c/run.sh bindings/python/run-tests.sh bindings/node/run-tests.sh; do
  if [ -x "$suite" ]; then
    step "$suite"
    "$root/$suite"
  fi
done

printf '\nall suites passed in %ss\n' "$(( $(date +%s) - start ))"
