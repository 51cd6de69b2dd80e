#!/usr/bin/env bash
# Installs the Debian packages listed in scripts/test-packages.txt (or the list files given as arguments, e.g.
# scripts/bench-packages.txt for npm run bench) whose binary is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
lists=("$@")
((${#lists[@]} > 0)) || lists=(scripts/test-packages.txt)
missing=()
for list in "${lists[@]}"; do
  while read -r binary package; do
    [[ -z "${binary:-}" || "$binary" == \#* ]] && continue
    command -v "$binary" >/dev/null 2>&1 || [[ "$binary" == /* && -e "$binary" ]] || missing+=("$package")
  done < "$list"
done
if ((${#missing[@]} > 0)); then
  echo "installing Debian packages for the tests: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# pdns-server enables a system service (pdns.service: port 53 on every address, Debian's
# /etc/powerdns) where systemd runs, and its start failing does not fail the install (in containers
# policy-rc.d keeps it from starting at all). The tests neither use nor collide with it: they start
# their own pdns_server with its own config and socket directories and database, on loopback ports.
