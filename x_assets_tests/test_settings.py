"""Settings with bounds, checked when the definitions load; bad paths and pipes get a sentence."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from x_assets.cli import main as cli_main
from x_assets.definitions import SettingsError
from x_assets.orchestration.assets import account_insights
from x_assets.orchestration.resources import Warehouse

from .conftest import TODAY, Project

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("X_MAX_WORKERS", "0", "X_MAX_WORKERS must be a whole number of workers from 1 to 256, got '0'"),
        ("X_MAX_WORKERS", "20000", "X_MAX_WORKERS must be a whole number of workers from 1 to 256, got '20000'"),
        ("X_REFRESH_POLICY", "ages:0", "X_REFRESH_POLICY must be a list of ages in days from 1 to 365, got '0'"),
        ("X_REFRESH_POLICY", "ages:99999999999999999999", "X_REFRESH_POLICY must be a list of ages in days"),
        ("X_REFRESH_POLICY", "ages:1,x", "got 'x'"),
        ("X_REFRESH_POLICY", "sometimes", "X_REFRESH_POLICY must be 'window', 'ages', 'ages:1,3,7', 'adaptive'"),
        ("X_REFRESH_POLICY", "window:3", "X_REFRESH_POLICY must be 'window', 'ages', 'ages:1,3,7', 'adaptive'"),
        ("X_REFRESH_POLICY", "adaptive:2,9", "X_REFRESH_POLICY re-reads posts when they are 9 days old, but the"),
        ("X_REFRESH_TOLERANCE", "5", "X_REFRESH_TOLERANCE must be a share between 0 and 1 (0.05 = 5%), got '5'"),
        ("X_REFRESH_TOLERANCE", "0", "X_REFRESH_TOLERANCE must be a share between 0 and 1"),
        ("X_MAX_POST_READS", "-5", "X_MAX_POST_READS must be a whole number of reads from 1 to"),
        ("X_FOLLOWER_DROP_WARN", "5", "X_FOLLOWER_DROP_WARN must be a share between 0 and 1"),
        ("X_LOOKBACK_DAYS", "-1", "X_LOOKBACK_DAYS must be a whole number of days from 1 to 90, got '-1'"),
        ("X_LOOKBACK_DAYS", "9" * 30, "X_LOOKBACK_DAYS must be a whole number of days from 1 to 90"),
        ("X_DESTINATION", "parquet", "X_DESTINATION must be duckdb or iceberg, got 'parquet'"),
        ("X_EXECUTOR", "dask", "X_EXECUTOR must be in_process or celery, got 'dask'"),
        ("X_REFRESH_POLICY", "ages:1,3,8", "X_REFRESH_POLICY re-reads posts when they are 8 days old, but the"),
        ("X_ARCHIVE_DAYS", "-1", "X_ARCHIVE_DAYS must be a whole number of days from 0 to 3,650, got '-1'"),
        ("X_ARCHIVE_DAYS", "forever", "X_ARCHIVE_DAYS must be a whole number of days from 0 to 3,650"),
    ],
)
def test_bad_settings_are_refused_at_load_with_a_sentence(
    project: Project, variable: str, value: str, message: str
) -> None:
    project.monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError) as info:
        project.resources()
    assert message in str(info.value) and len(str(info.value)) < 200


def test_dagster_definitions_validate_reports_a_bad_lookback(tmp_path: Path) -> None:
    env = {**os.environ, "X_LOOKBACK_DAYS": "-1", "DAGSTER_HOME": str(tmp_path)}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-m", "x_assets.definitions"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode != 0
    assert "X_LOOKBACK_DAYS must be a whole number of days from 1 to 90, got '-1'" in result.stdout + result.stderr


def test_good_settings_load(project: Project) -> None:
    for variable, value in {"X_MAX_WORKERS": "200", "X_REFRESH_POLICY": "ages:7, 1,3", "X_LOOKBACK_DAYS": "90"}.items():
        project.monkeypatch.setenv(variable, value)
    x = project.resources()["x"]
    assert (x.max_workers, x.refresh_policy, x.refresh_ages) == (200, "ages", [1, 3, 7])
    project.monkeypatch.setenv("X_REFRESH_POLICY", "adaptive:7,2")
    project.monkeypatch.setenv("X_REFRESH_TOLERANCE", "0.05")
    x = project.resources()["x"]
    assert (x.refresh_policy, x.refresh_ages, x.refresh_tolerance) == ("adaptive", [2, 7], 0.05)
    assert x.settings().refresh_tolerance == 0.05
    project.monkeypatch.setenv("X_REFRESH_POLICY", "adaptive")  # its own default ages
    assert project.resources()["x"].settings().refresh_ages == [4, 7]
    assert issubclass(SettingsError, ValueError)


@pytest.mark.parametrize("kind", ["folder", "garbage", "read-only"])
def test_a_bad_warehouse_path_fails_the_run_with_a_sentence_before_any_request(
    project: Project, tmp_path: Path, kind: str
) -> None:
    path = tmp_path / "wh"
    if kind == "folder":
        path.mkdir()
    elif kind == "garbage":
        path.write_bytes(os.urandom(8192))
    else:
        path = Path("/proc/x_assets_cannot_write_here/warehouse.duckdb")
    project.monkeypatch.setenv("X_DUCKDB_PATH", str(path))
    for asset in ("account_insights", "tweet_insights", "account_daily_growth"):
        result = project.materialize([asset], partition=str(TODAY))
        assert not result.success
        error = result.get_step_failure_events()[0].step_failure_data
        assert "DuckDB warehouse" in error.error.message and "set X_DUCKDB_PATH" in error.error.message
        assert error.user_failure_data is not None  # a Failure with the sentence, not a bare traceback
    assert project.stats()["requests_total"] == 0


def test_validate_into_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    accounts = "".join(f"  - username: acct_{i}\n" for i in range(5000))
    (tmp_path / "x_source.yaml").write_text("accounts:\n" + accounts)
    code = (
        f"import sys; from x_assets.cli import main; sys.exit(main(['validate', {str(tmp_path / 'x_source.yaml')!r}]))"
    )
    result = subprocess.run(
        f'{sys.executable} -c "{code}" | head -1', shell=True, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.startswith(str(tmp_path / "x_source.yaml"))
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr


def test_cli_validate_exit_code(tmp_path: Path) -> None:
    (tmp_path / "x_source.yaml").write_text("accounts:\n  - username: AcmeNews\n")
    assert cli_main(["validate", str(tmp_path / "x_source.yaml")]) == 0


def test_a_lock_held_past_the_wait_limit_fails_with_a_sentence(project: Project) -> None:
    assert project.materialize(["account_insights"], partition=str(TODAY)).success
    resources = {**project.resources(), "warehouse": Warehouse(database=project.database, lock_timeout_seconds=1.0)}
    hold = f"import duckdb, time; c = duckdb.connect({project.database!r}); print('held', flush=True); time.sleep(30)"
    holder = subprocess.Popen([sys.executable, "-c", hold], stdout=subprocess.PIPE, text=True)  # another writer
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = dg.materialize(
            [account_insights],
            resources=resources,
            partition_key=str(TODAY),
            instance=project.instance,
            raise_on_error=False,
        )
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert not result.success
    message = result.get_step_failure_events()[0].step_failure_data.error.message
    assert "stayed locked by another process for 1s" in message
