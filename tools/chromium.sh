#!/usr/bin/env bash
# Installs a headless Chromium for the browser tests if none is there
# (Debian's chromium-headless-shell; apt-get when root), once. Safe to run
# from several test processes at a time. Prints the browser's path.
set -euo pipefail
find_browser() {
  for b in chromium-headless-shell chrome-headless-shell chromium chromium-browser; do
    if p="$(command -v "$b" 2>/dev/null)"; then echo "$p"; return 0; fi
  done
  for p in /usr/lib/chromium/chrome-headless-shell /usr/lib/chromium-headless-shell/chrome-headless-shell /usr/lib/chromium/headless_shell; do
    if [ -x "$p" ]; then echo "$p"; return 0; fi
  done
  return 1
}
if find_browser; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "no headless Chromium found: install it (Debian: apt-get install -y chromium-headless-shell) and run the tests again" >&2
  exit 2
fi
exec 9>/tmp/ptoy-chromium-install.lock
flock 9
if find_browser; then exit 0; fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q chromium-headless-shell >&2 || { apt-get update -q >&2 && apt-get install -y -q chromium-headless-shell >&2; }
find_browser || { echo "chromium-headless-shell installed but no browser binary found" >&2; exit 2; }
