#!/usr/bin/env bash
# The Dagster UI on what scripts/demo.sh loaded: its runs (.dagster_home), both sources, the same
# partitions, and the emulator on 127.0.0.1:8787 for anything launched from the UI. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f data/demo.env ]; then
  echo "ui.sh: data/demo.env is missing: run scripts/demo.sh first" >&2
  exit 2
fi
set -a
. data/demo.env
set +a
unset X_BEARER_TOKEN  # the default source is read with the demo's OAuth 1.0a values
# The world the demo left (its season, replayed from its first day), so a run launched from the UI
# reads the same accounts and posts the tables hold.
.venv/bin/x-assets-emulator --host 127.0.0.1 --port 8787 --demo-season "$X_SNAPSHOTS_FROM" > /dev/null &
emulator=$!
trap 'kill "$emulator" 2>/dev/null || true' EXIT
.venv/bin/dagster dev -m x_assets.demo_defs -h 127.0.0.1 "$@"
