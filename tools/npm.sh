#!/usr/bin/env bash
# Installs the npm packages the tests use (tools/npm/package.json, every
# version pinned) into tools/npm/node_modules, once. Safe to run from
# several test processes at a time: one installs, the others wait.
# Prints the node_modules directory.
set -euo pipefail
dir="$(cd "$(dirname "$0")/npm" && pwd)"
if ! command -v npm >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get install -y -q nodejs npm >&2
  else
    echo "npm is not installed: install Node.js and npm (Debian: apt-get install nodejs npm)" >&2
    exit 2
  fi
fi
stamp="$dir/node_modules/.ptoy-installed"
exec 9>"$dir/.lock"
flock 9
if [ ! -e "$stamp" ] || [ "$dir/package.json" -nt "$stamp" ]; then
  (cd "$dir" && npm install --no-save --no-package-lock --no-audit --no-fund --loglevel=error >&2)
  touch "$stamp"
fi
echo "$dir/node_modules"
