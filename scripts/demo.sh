#!/usr/bin/env bash
# The demo: set up, start the bundled emulator, load all four assets into data/warehouse.duckdb, print a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/x-assets demo "$@"
