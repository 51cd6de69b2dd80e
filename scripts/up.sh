#!/usr/bin/env bash
# The README's first command: install dependencies and start the whole system (demo by default).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/require-node.sh
[[ -d node_modules/better-sqlite3/build ]] || npm ci --no-audit --no-fund
exec node bin/dnsplane.mjs up "$@"
