#!/usr/bin/env bash
# A long simulated season (default 60 days) under each refresh policy and with a read budget, through
# the real schedules and sensor against the bundled emulator; each prints its figures and ends with
# the warehouse compared with the emulator's truth. Pass e.g. --days 90 to change the length.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "machine: $(nproc) cores; $(.venv/bin/python --version); dagster $(.venv/bin/python -c 'import dagster; print(dagster.__version__)'); commit $(git rev-parse --short HEAD 2>/dev/null || echo none)"
status=0
.venv/bin/python -m x_assets.season --days 60 --policy window "$@" | grep -E '^(SEASON|PROBLEM) ' || status=1
.venv/bin/python -m x_assets.season --days 60 --policy ages:1,3,7 "$@" | grep -E '^(SEASON|PROBLEM) ' || status=1
.venv/bin/python -m x_assets.season --days 60 --policy ages:1,3,7 --budget 300 "$@" | grep -E '^(SEASON|PROBLEM) ' || status=1
exit "$status"
