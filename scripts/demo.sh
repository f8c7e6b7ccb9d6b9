#!/usr/bin/env bash
# The demo: set up, then live two simulated weeks on the bundled emulator, loading two sources into
# data/warehouse.duckdb and recording the runs in .dagster_home, so scripts/ui.sh shows them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/.dagster_home}"
exec .venv/bin/x-assets demo "$@"
