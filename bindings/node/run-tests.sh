#!/usr/bin/env bash
# Tests of the Node package: install the JS tooling, build the addon (debug),
# check that the generated index.d.ts / index.js and the error declarations
# have not drifted, type-check the TypeScript example, build the API page
# (typedoc), run node's test runner, then the install test of the package.
# Called by scripts/test-all.sh; works on a fresh machine with Rust and Node.
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n--> node: %s\n' "$*"; }

step "npm dependencies"
# --ignore-scripts: this package's own install script would build the addon
# in release mode; the tests build it in debug below.
# Plain `npm ci`, no fallback: the committed lock must install as it is
# (issue 17: a lock missing other platforms' optional packages made `npm ci`
# refuse it, and a fallback to `npm install` hid that). After changing
# package.json, refresh the lock with `npm install --package-lock-only`.
npm ci --ignore-scripts --no-audit --no-fund

step "build the addon (debug) and check the generated bindings for drift"
saved=$(mktemp -d)
trap 'rm -rf "$saved"' EXIT
cp index.d.ts index.js "$saved/"
npx napi build --platform --features testing
if ! diff -u "$saved/index.d.ts" index.d.ts || ! diff -u "$saved/index.js" index.js; then
  echo "the generated index.d.ts / index.js drifted from the Rust code: commit the regenerated files" >&2
  exit 1
fi
node scripts/gen-error-types.js --check

step "tsc --noEmit (TypeScript example and declarations)"
npx tsc --noEmit -p tsconfig.json

step "typedoc: API page into target/docs/node (warnings are errors: every export needs TSDoc)"
npx typedoc

step "node --test"
node --test test/*.test.js

step "install test of the npm package (test-package.sh)"
./test-package.sh
