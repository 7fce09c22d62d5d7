#!/usr/bin/env bash
# Runs every test suite of coord: Rust (unit, integration, doc), C (libcoord),
# Python, Node, ZooKeeper clients (kazoo, zkCli.sh, cli_mt) against the
# ZooKeeper port, and the dashboard in headless Chromium. CI runs exactly this (.ci/run), as root, on a clean clone.
#
#   ./scripts/test-all.sh               # everything
#   ./scripts/test-all.sh --build-only  # checks, format, build and clippy only
#
# It works on a fresh machine that has only the toolchains: Rust (cargo,
# rustfmt, clippy; cargo-nextest optional), gcc/binutils, Python >= 3.9 with
# venv + pip, Node >= 20 with npm, git. Everything else is either installed by
# the project's scripts or refused up front, naming the tool and the suite:
#
#   suite   tool                     provided by
#   Rust    protoc                   scripts/protoc: the protoc of the
#                                    protoc-bin-vendored crate in cargo's
#                                    registry (PROTOC, .cargo/config.toml);
#                                    etcd-client (tests/bench) needs it
#   C       cbindgen 0.29.4          ffi/generate-header.sh: cargo install
#                                    into target/tools, once (~2 min)
#   C       pkg-config, valgrind     tests/c/run.sh: apt-get, when missing
#                                    (root or sudo; refused otherwise)
#   C       timeout, install, diff   base system (coreutils, diffutils)
#   Python  maturin, pytest, mypy    bindings/python/run-tests.sh: pip, into
#                                    the venv target/python-venv
#   Node    @napi-rs/cli, typescript bindings/node/run-tests.sh: npm ci
#           (napi, tsc), @types/node (package-lock.json)
#   ZK      kazoo, pytest            tests/zk/run.sh: pip, into the venv
#                                    target/zk-venv
#   ZK      zkCli.sh + Java, cli_mt  tests/zk/cli.sh: apt-get (zookeeper,
#                                    default-jre-headless, zookeeper-bin),
#                                    when missing (root or sudo)
#   Dash    chromium                 tests/dashboard/run.sh: apt-get, when
#                                    missing (root or sudo)
#   Dash    puppeteer-core           tests/dashboard/run.sh: npm ci
#                                    (package-lock.json; no browser download)
#   Python  pdoc                     bindings/python/run-tests.sh: pip, into
#                                    target/python-venv (the API page)
#   Node    typedoc                  bindings/node/run-tests.sh: npm ci
#   Pkg     maturin, auditwheel,     bindings/python/package.sh: pip, into
#           ziglang (links the wheel the venv target/python-tools
#           for manylinux_2_17)
#   Pkg     strip, tar               base system (binutils, tar)
#
# The guard: every cargo step (format, build, clippy, tests) runs with a PATH
# holding only an allowlist of toolchain tools (scripts/toolchain-path.sh), so
# a build script that needs anything else (protoc, cmake, pkg-config, perl...)
# fails here, loudly, on every machine, not only on a fresh one.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

build_only=""
case "${1:-}" in
  "") ;;
  --build-only) build_only=1 ;;
  *) echo "usage: $0 [--build-only]" >&2; exit 2 ;;
esac

step() { printf '\n==> %s\n' "$*"; }
start=$(date +%s)

# --- preflight: refuse early, naming the suite and the tool -----------------
refuse() { # suite, message
  printf 'test-all.sh: %s suite: %s\n' "$1" "$2" >&2
  exit 1
}
need() { # suite, tool, what it is for
  command -v "$2" >/dev/null 2>&1 || refuse "$1" "needs \`$2\` ($3), which is not installed"
}
# A tool a suite script installs with apt-get when it is missing: refuse now if
# it is missing and apt-get (as root or through sudo) is not there to install it.
need_apt() { # suite, tool, Debian package
  command -v "$2" >/dev/null 2>&1 && return 0
  if command -v apt-get >/dev/null 2>&1 &&
    { [ "$(id -u)" = 0 ] || command -v sudo >/dev/null 2>&1; }; then
    return 0
  fi
  refuse "$1" "needs \`$2\`, which is not installed; the suite installs it with apt-get (package $3) as root or through sudo, which this machine lacks: install $3 yourself"
}

step "preflight: tools each suite needs"
need Rust cargo "the Rust toolchain"
need Rust rustc "the Rust toolchain"
need Rust cc "the linker driver, from gcc"
cargo fmt --version >/dev/null 2>&1 || refuse Rust "needs rustfmt (rustup component add rustfmt)"
cargo clippy --version >/dev/null 2>&1 || refuse Rust "needs clippy (rustup component add clippy)"
if [ -z "$build_only" ]; then
  if [ -x tests/c/run.sh ]; then
    need C gcc "compiles the C tests and examples"
    for tool in timeout install diff; do need C "$tool" "coreutils / diffutils"; done
    need_apt C pkg-config pkg-config
    need_apt C valgrind valgrind
  fi
  if [ -x bindings/python/run-tests.sh ]; then
    py="${PYTHON:-python3}"
    need Python "$py" "CPython >= 3.9"
    "$py" -c 'import sys; sys.exit(sys.version_info < (3, 9))' ||
      refuse Python "needs CPython >= 3.9; \`$py\` is $("$py" --version 2>&1)"
    "$py" -c 'import venv, ensurepip' >/dev/null 2>&1 ||
      refuse Python "\`$py -m venv\` cannot create a venv with pip (Debian: apt-get install python3-venv)"
  fi
  if [ -x tests/zk/run.sh ]; then
    py="${PYTHON:-python3}"
    need ZooKeeper "$py" "CPython >= 3.9, for kazoo"
  fi
  if [ -x tests/zk/cli.sh ]; then
    need_apt ZooKeeper java default-jre-headless
    need_apt ZooKeeper cli_mt zookeeper-bin
  fi
  if [ -x tests/dashboard/run.sh ]; then
    need Dashboard node "runs the puppeteer-core driver"
    need Dashboard npm "installs puppeteer-core"
    need_apt Dashboard chromium chromium
  fi
  if [ -x bindings/node/run-tests.sh ]; then
    need Node node "Node >= 20"
    need Node npm "installs the package's JS tooling"
    need Node npx "runs napi and tsc"
    node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
      refuse Node "needs Node >= 20; node is $(node --version)"
  fi
fi

# --- the guard: cargo under a PATH of toolchain tools only ------------------
# A fixed directory, so that PATH is the same from run to run (pyo3's build
# script reruns whenever PATH changes).
toolpath=$(scripts/toolchain-path.sh "$root/target/toolchain-path")
tc() { PATH="$toolpath" "$@"; }
# Build and clippy run every build script: when one fails, say why it may have.
guarded() {
  if ! tc "$@"; then
    cat >&2 <<MSG

test-all.sh: \`$*\` failed under the toolchain-only PATH
($toolpath, made by scripts/toolchain-path.sh). If the error above says that a
build script could not find or run a tool (protoc, cmake, pkg-config, perl...),
a fresh machine lacks it too: vendor it (like scripts/protoc) or install it
from the project's scripts, and list it in the table at the top of
scripts/test-all.sh. Add it to the allowlist only if every fresh machine has it.
MSG
    exit 1
  fi
}

step "format check"
tc cargo fmt --all -- --check

step "README snippets are the files the tests run"
python3 scripts/readme-snippets.py --check

step "dependency arrows (what links the client compiles no server)"
tc scripts/check-deps.sh

step "build (debug, once for every suite; toolchain-only PATH)"
guarded cargo build --workspace --all-targets --locked

step "clippy (toolchain-only PATH)"
guarded cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "rustdoc of the public crates, warnings are errors (toolchain-only PATH)"
RUSTDOCFLAGS="-D warnings" guarded cargo doc --no-deps --locked -p coord-client -p coord-proto

if [ -n "$build_only" ]; then
  printf '\nbuild and clippy passed in %ss\n' "$(( $(date +%s) - start ))"
  exit 0
fi

step "Rust tests (toolchain-only PATH)"
if tc cargo nextest --version >/dev/null 2>&1; then
  tc cargo nextest run --workspace --locked --no-fail-fast
else
  tc cargo test --workspace --locked --no-fail-fast
fi
tc cargo test --workspace --locked --doc

# The packages a user installs without Rust, built once in release; each
# language's suite installs its own from here on a PATH without cargo.
step "packages (scripts/package.sh, release) into target/dist"
scripts/package.sh "$root/target/dist"
export COORD_DIST="$root/target/dist"

step "cargo install --path core/cli"
tc cargo install --path core/cli --locked --force --root "$root/target/install-check" \
  --target-dir "$root/target"
"$root/target/install-check/bin/coord" --version

for suite in tests/c/run.sh bindings/python/run-tests.sh bindings/node/run-tests.sh \
  tests/zk/run.sh tests/zk/cli.sh tests/dashboard/run.sh; do
  if [ -x "$suite" ]; then
    step "$suite"
    "$root/$suite"
  fi
done

step "API table (README) against every binding's exports"
python3 scripts/api-table.py --check

printf '\nall suites passed in %ss\n' "$(( $(date +%s) - start ))"
