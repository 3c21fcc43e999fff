#!/usr/bin/env bash
# The whole test suite (`npm test`): contracts checks, type check, then every test file.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "buf lint"
npx --no-install buf lint

step "generated code matches the protos (buf generate)"
generated=$(mktemp -d)
trap 'rm -rf "$generated"' EXIT
npx --no-install buf generate -o "$generated"
if ! diff -r "$generated/packages/contracts/src/gen" packages/contracts/src/gen; then
  echo "packages/contracts/src/gen is stale: run 'npm run generate' and commit the result" >&2
  exit 1
fi

step "buf breaking (FILE) against the previous commit"
if git rev-parse -q --verify HEAD~1 >/dev/null 2>&1 && git cat-file -e HEAD~1:buf.yaml 2>/dev/null; then
  npx --no-install buf breaking --against '.git#ref=HEAD~1'
else
  echo "no previous commit with protos: nothing to compare"
fi

step "type check"
npx --no-install tsc -p tsconfig.json --noEmit

step "tests"
npx --no-install vitest run "$@"
