#!/usr/bin/env bash
# Regenerate the README's pictures with the project itself: the browser test's screenshots of the
# Dagster UI, and the demo's charts. Commit docs/images/ afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/install_browser.sh
.venv/bin/python -m pytest -q x_assets_tests/test_ui.py
demo="$(mktemp -d)"
trap 'rm -rf "$demo"' EXIT
cp x_source.yaml "$demo/"
(cd "$demo" && "$OLDPWD/.venv/bin/x-assets" demo >/dev/null)
mkdir -p docs/images
for picture in asset_graph chart_in_ui account_insights_checks plots run_cost account_status; do
  cp "test-output/ui/$picture.png" docs/images/
done
cp "$demo/data/charts/followers.png" docs/images/followers_chart.png
cp "$demo/data/charts/weekly_engagement.png" docs/images/weekly_engagement_chart.png
cp "$demo/data/charts/engagement_by_age.png" docs/images/engagement_by_age_chart.png
ls -l docs/images
