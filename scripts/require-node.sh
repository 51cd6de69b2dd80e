#!/usr/bin/env bash
# dnsplane needs Node.js 20 or newer with npm; on a fresh Debian 12 without it, say so plainly.
set -euo pipefail
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "dnsplane needs Node.js >= 20 and npm; install them first (e.g. from NodeSource)" >&2
  exit 1
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if (( major < 20 )); then
  echo "dnsplane needs Node.js >= 20, found $(node --version)" >&2
  exit 1
fi
