#!/usr/bin/env bash
# Debian's PostgreSQL and Redis servers for the deployment tests (x_assets_tests/test_deploy.py,
# test_iceberg.py). The tests start their own servers on free 127.0.0.1 ports in temporary folders
# and stop them; nothing here starts a service. Safe to re-run: installs only what is missing.
set -euo pipefail
missing=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
[ ${#missing[@]} -eq 0 ] && exit 0
if command -v apt-get >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 && sudo="sudo" || {
      echo "install Debian's ${missing[*]} (apt-get install ${missing[*]}) for the deployment tests" >&2; exit 1; }
  fi
  echo "installing Debian's ${missing[*]} for the deployment tests..." >&2
  $sudo apt-get update -qq
  # a service the package may start is not used: the tests run their own servers on free ports
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi
echo "install PostgreSQL and redis-server for the deployment tests (${missing[*]} missing)" >&2
exit 1
