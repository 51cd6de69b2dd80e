#!/usr/bin/env bash
# The README's first command: install dependencies and start the whole system (demo by default).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/require-node.sh
# npm ci builds dist/ (prepare); on an installed tree the build brings dist/ up to date with src/ (a second at most).
if [[ -d node_modules/better-sqlite3/build ]]; then node scripts/build.mjs; else npm ci --no-audit --no-fund; fi
exec node bin/dnsplane.mjs up "$@"
