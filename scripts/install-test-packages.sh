#!/usr/bin/env bash
# Installs the Debian packages listed in scripts/test-packages.txt whose binary is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
while read -r binary package; do
  [[ -z "${binary:-}" || "$binary" == \#* ]] && continue
  command -v "$binary" >/dev/null 2>&1 || [[ -x "$binary" ]] || missing+=("$package")
done < scripts/test-packages.txt
if ((${#missing[@]} > 0)); then
  echo "installing Debian packages for the tests: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
