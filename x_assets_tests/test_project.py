"""The project's promises about itself: README in step with the code, CI running the README's command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from x_assets.warehouse.tables import markdown_reference

ROOT = Path(__file__).resolve().parents[1]


def test_readme_table_reference_matches_the_code() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert markdown_reference() in readme, "README tables are stale: paste `python -m x_assets.warehouse.tables` output"


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", readme, re.S)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]
    assert commands == ["scripts/demo.sh", "scripts/test.sh"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "exec scripts/test.sh" in ci


def test_nothing_secret_or_local_is_tracked() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert tracked, "not a git checkout"
    for path in tracked:
        assert not path.endswith((".duckdb", ".duckdb.wal")) and path != ".env"
        assert not path.startswith((".venv/", "data/", ".tmp_dagster_home"))
        assert not path.startswith(".dagster_home/") or path == ".dagster_home/dagster.yaml"


def test_x_assets_cli_validates_the_shipped_demo_source() -> None:
    env = {"PATH": "/usr/bin:/bin", "X_PRIVATELABS_BEARER_TOKEN": "set"}
    env.update(
        (f"X_ACME_{key}", "set") for key in ("CONSUMER_KEY", "CONSUMER_SECRET", "ACCESS_TOKEN", "ACCESS_TOKEN_SECRET")
    )
    result = subprocess.run(
        [sys.executable, "-m", "x_assets.cli", "validate", "x_source.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "10 account(s)" in result.stdout
    assert "query launches: #launch -is:retweet" in result.stdout


@pytest.mark.parametrize("destination", ["duckdb", "iceberg"])
def test_the_demo_loads_every_table_and_draws_the_charts(tmp_path: Path, destination: str) -> None:
    (tmp_path / "x_source.yaml").write_text((ROOT / "x_source.yaml").read_text(encoding="utf-8"))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NO_PROXY": "127.0.0.1", "X_DESTINATION": destination}
    result = subprocess.run(
        [sys.executable, "-m", "x_assets.cli", "demo", "--season-days", "3"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "account_insights" in out and "tweet_insights" in out and "FAILED" not in out
    counts = dict(re.findall(r"x\.(\w+): (\d+) rows", out))
    # 10 configured; the suspended and the missing one have no row; three simulated days and today
    assert int(counts["account_insights"]) == 8 * 4 == int(counts["account_daily_growth"])
    assert int(counts["tweet_insights"]) > 100
    assert int(counts["tweet_engagement"]) == int(counts["tweet_insights"])
    # every read of a post is kept; mentions and searches of the default source (competitors list neither)
    assert int(counts["tweet_metrics_history"]) > int(counts["tweet_insights"])
    assert int(counts["mentions_insights"]) > 10 and int(counts["search_insights"]) > 10
    assert int(counts["engagement_by_age"]) == int(counts["tweet_insights"])
    assert "competitors.mentions_insights: not materialized yet" in out
    for chart in ("followers.png", "weekly_engagement.png", "engagement_by_age.png"):
        assert (tmp_path / "data" / "charts" / chart).read_bytes().startswith(b"\x89PNG")
        assert (tmp_path / "data" / "charts" / "competitors" / chart).read_bytes().startswith(b"\x89PNG")
    # the second source: three competitors, each with a snapshot on four days, in its own schema
    rivals = dict(re.findall(r"competitors\.(\w+): (\d+) rows", out))
    assert int(rivals["account_insights"]) == 3 * 4 == int(rivals["account_daily_growth"])
    assert int(rivals["tweet_insights"]) > 30 and int(rivals["tweet_engagement"]) == int(rivals["tweet_insights"])
    # the brand read with OAuth 1.0a (PrivateLabs with its own token, AcmeNews as itself), the
    # competitors with their app's token
    used = dict(re.findall(r"([\w-]+) (\d+)", re.search(r"X requests by credential: (.*)", out).group(1)))  # type: ignore[union-attr]
    assert set(used) == {"default-oauth1", "default-bearer", "privatelabs-owner", "owner-1272317897733046276"}, used
    assert re.search(r"@BannedBrand\s+account_insights\s+suspended", out)
    # the same summary from either destination; with Iceberg no DuckDB file at all
    assert (tmp_path / "data" / "warehouse.duckdb").exists() == (destination == "duckdb")
    assert (tmp_path / "data" / "iceberg_catalog.db").exists() == (destination == "iceberg")
    assert re.search(
        r"^Iceberg sqlite:///\S+, source x " if destination == "iceberg" else r"^DuckDB \S+, source x ", out, re.M
    )
    # The runs are recorded in the project's instance, so the UI shows what was loaded, day by day.
    home = tmp_path / ".dagster_home"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for key, days in ((["account_insights"], 4), (["competitors", "tweet_engagement"], 4)):
            materialized = instance.get_materialized_partitions(dg.AssetKey(key))
            assert len(materialized) == days, (key, sorted(materialized))
    ui_env = dict(line.split("=", 1) for line in (tmp_path / "data" / "demo.env").read_text().splitlines())
    assert ui_env["X_SNAPSHOTS_FROM"] == min(materialized) and ui_env["DAGSTER_HOME"] == str(home)
    assert "scripts/ui.sh" in out.splitlines()[-1]


def test_readme_pictures_exist_and_are_pngs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    pictures = re.findall(r"!\[[^\]]*\]\((docs/images/[^)]+)\)", readme)
    assert len(pictures) >= 3  # the asset graph, a chart, the chart in the UI
    for picture in pictures:
        assert (ROOT / picture).read_bytes().startswith(b"\x89PNG"), picture


def test_the_plain_logic_imports_no_dagster() -> None:
    """Ingest, warehouse, reports and the X client take plain settings and sessions: scripts and
    notebooks can use them, and the Dagster layer is the only place that knows Dagster."""
    modules = [
        "x_assets.ingest.loads",
        "x_assets.ingest.session",
        "x_assets.warehouse.derived",
        "x_assets.warehouse.read",
        "x_assets.reports.charts",
        "x_assets.x_api.client",
    ]
    code = f"import sys; import {', '.join(modules)}; print('dagster' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_loading_the_definitions_prints_no_warning(tmp_path: Path) -> None:
    """Dagster prints a BetaWarning per asset for backfill_policy and a DeprecationWarning per job
    for partitions_def; a user starting dagster dev should see neither from this project."""
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    code = "import x_assets.definitions"
    result = subprocess.run(
        [sys.executable, "-W", "always", "-c", code], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Warning" not in result.stderr, result.stderr[-2000:]
