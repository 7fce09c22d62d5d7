#!/usr/bin/env bash
# Fails when a function declared in coord.h has no comment right above it
# (the line before the declaration must be a `//` or `*/` comment line: the
# doc cbindgen copies from the Rust `///` lines), and lists each such function.
#   tests/c/check-header-docs.sh [HEADER]     (default: include/coord.h)
# Called by tests/c/run.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
header="${1:-$root/include/coord.h}"
awk '
  # A declaration starts at column 0 with a return type and `coord_...(`;
  # typedefs, macros and struct fields are not functions.
  /^[A-Za-z_][A-Za-z0-9_ ]*[ *]coord_[a-z0-9_]+\(/ && !/^typedef/ {
    name = $0
    sub(/\(.*/, "", name)
    sub(/.*[ *]/, "", name)
    count++
    if (prev !~ /^[ \t]*(\/\/|\*\/|\/\*)/) {
      printf "%s:%d: %s has no comment right above it\n", FILENAME, NR, name
      bad++
    }
  }
  { prev = $0 }
  END {
    if (count == 0) { print FILENAME ": no function declarations found" > "/dev/stderr"; exit 2 }
    if (bad > 0) { printf "%d of %d functions in %s are undocumented\n", bad, count, FILENAME > "/dev/stderr"; exit 1 }
    printf "all %d functions in %s are documented\n", count, FILENAME
  }
' "$header"
