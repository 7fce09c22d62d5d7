#!/usr/bin/env bash
# Checks the docs of every function declared in coord.h (what cbindgen
# copies from the Rust `///` lines) and lists each function that fails:
# - a comment must be right above the declaration (the line before it is a
#   `//`, `/*` or `*/` comment line);
# - a function returning coord_result must name its results (`Results:` or
#   a `COORD_RESULT_` code);
# - a function with a `**` parameter (an out-parameter the library fills
#   with something the caller then owns) must say who owns it
#   (`Ownership` / `owned by`), the coord_free_* functions excepted.
#   tests/c/check-header-docs.sh [HEADER]     (default: include/coord.h)
# Called by tests/c/run.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
header="${1:-$root/include/coord.h}"
awk '
  function finish() {
    if (name == "") return
    if (!commented) { printf "%s: %s has no comment right above it\n", FILENAME, name; bad++ }
    else {
      if (decl ~ /^coord_result / && doc !~ /Results:|COORD_RESULT_/) {
        printf "%s: %s does not say which results it returns\n", FILENAME, name; bad++
      }
      if (decl ~ /\*\*/ && name !~ /^coord_free_/ && doc !~ /Ownership|owned by/) {
        printf "%s: %s does not say who owns its ** argument\n", FILENAME, name; bad++
      }
    }
    name = ""
  }
  # A declaration starts at column 0 with a return type and `coord_...(`;
  # typedefs, macros and struct fields are not functions.
  /^[A-Za-z_][A-Za-z0-9_ ]*[ *]coord_[a-z0-9_]+\(/ && !/^typedef/ {
    name = $0
    sub(/\(.*/, "", name)
    sub(/.*[ *]/, "", name)
    count++
    commented = (prev ~ /^[ \t]*(\/\/|\*\/|\/\*)/)
    doc = comment
    decl = $0
    if ($0 ~ /\);/) finish()
    prev = $0
    next
  }
  name != "" { decl = decl " " $0; if ($0 ~ /\);/) finish(); prev = $0; next }
  /^[ \t]*\/\// { comment = comment "\n" $0; prev = $0; next }
  { comment = ""; prev = $0 }
  END {
    if (count == 0) { print FILENAME ": no function declarations found" > "/dev/stderr"; exit 2 }
    if (bad > 0) { printf "%d problems in the docs of %d functions in %s\n", bad, count, FILENAME > "/dev/stderr"; exit 1 }
    printf "all %d functions in %s are documented (results, ownership)\n", count, FILENAME
  }
' "$header"
