#!/usr/bin/env bash
# Prints a PATH made of one directory of symlinks to an explicit allowlist of
# tools: the toolchains a fresh machine has (Rust, gcc/binutils, Python 3,
# Node, git) plus the POSIX shell and core utilities that build scripts use.
#
#   PATH=$(scripts/toolchain-path.sh [DIR]) cargo build --workspace --all-targets
#
# DIR (default: a new temp dir; the caller removes it) is emptied and refilled.
# scripts/test-all.sh runs the cargo build and clippy under this PATH so that a
# build script that needs anything else (protoc, cmake, pkg-config, perl...)
# fails here loudly instead of passing by accident on a machine that happens to
# have it. Do not "fix" such a failure by extending the allowlist unless a
# fresh machine (see README, "The two commands") really has the tool: vendor it
# (like scripts/protoc) or install it from the project's scripts instead.
set -euo pipefail

# Rust: the active toolchain's own binaries, not rustup's proxies (a proxy
# puts ~/.cargo/bin back on PATH for everything cargo runs), and cargo-nextest.
rust=(cargo rustc rustdoc cargo-clippy clippy-driver cargo-fmt rustfmt)
# C toolchain: the linker driver and binutils (cc crate, -sys crates, linking).
c=(cc gcc c++ g++ cpp ld ld.bfd ar as nm ranlib strip objcopy)
# Shells and the core utilities build and test scripts typically call.
posix=(sh bash dash env uname id cat cp mv rm ln ls mkdir rmdir chmod touch
  dirname basename readlink realpath pwd head tail tr cut sort uniq wc tee
  date sleep mktemp test '[' true false expr printf echo sed grep awk find
  xargs diff cmp install)
# Other toolchains of a fresh machine.
other=(cargo-nextest git python3 node npm npx)

dir=${1:-$(mktemp -d "${TMPDIR:-/tmp}/coord-toolchain-path.XXXXXX")}
rm -rf "$dir"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# rustup: link the tools of the toolchain active in this workspace.
toolchain_bin=
if type -P rustup >/dev/null && cargo=$(cd "$(dirname "$0")/.." && rustup which cargo 2>/dev/null); then
  toolchain_bin=$(dirname "$cargo")
fi

missing=()
for tool in "${rust[@]}" "${c[@]}" "${posix[@]}" "${other[@]}"; do
  if [ -n "$toolchain_bin" ] && [ -x "$toolchain_bin/$tool" ]; then
    src=$toolchain_bin/$tool
  elif ! src=$(type -P "$tool"); then
    missing+=("$tool")
    continue
  fi
  if [ "$tool" = python3 ]; then
    # pyenv/asdf shims are scripts that need their manager on PATH: link the
    # interpreter itself.
    src=$("$src" -c 'import sys; print(sys.executable)')
  fi
  ln -s "$src" "$dir/$tool"
done

# The toolchains themselves must be there; a missing optional tool is reported
# (a build that needs it then fails with its name).
for tool in cargo rustc cc sh; do
  if [ ! -e "$dir/$tool" ]; then
    echo "toolchain-path.sh: $tool is not installed (it is part of the toolchains the tests assume)" >&2
    exit 1
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "toolchain-path.sh: not on this machine, left out: ${missing[*]}" >&2
fi
printf '%s\n' "$dir"
