#!/usr/bin/env bash
# Set up, then lint, format check, type check and the test suite (all against the bundled emulator).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/install_browser.sh  # Chromium for the browser test of the Dagster UI
scripts/install_services.sh  # PostgreSQL and Redis servers, which the deployment tests start on 127.0.0.1
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
