#!/usr/bin/env bash
# The README's second command: install what the tests need, type-check, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/require-node.sh
bash scripts/install-test-packages.sh
npm ci --no-audit --no-fund
npx tsc --noEmit
npm test
