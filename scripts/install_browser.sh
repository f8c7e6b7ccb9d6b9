#!/usr/bin/env bash
# Debian's Chromium for the browser test (x_assets_tests/test_ui.py). Playwright drives it; its own
# browser download is not used. Safe to re-run: does nothing when Chromium is already there.
set -euo pipefail
chromium="${X_ASSETS_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$chromium" ]; then
  exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 && sudo="sudo" || {
      echo "install Debian's chromium package (apt-get install chromium) for the browser test" >&2; exit 1; }
  fi
  echo "installing Debian's chromium for the browser test..." >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
  [ -x "$chromium" ] && exit 0
fi
echo "no Chromium at $chromium: install it, or set X_ASSETS_CHROMIUM to a Chromium binary" >&2
exit 1
