"""A run killed with SIGKILL must not block the instance: its x_api pool slot comes back without a person.

These tests run `dagster asset materialize` in its own process under the shipped
.dagster_home/dagster.yaml (pool x_api, limit 1), kill it while its step holds the slot, and
prove that the next run, or the sensor, releases it.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from x_assets.cli import main as cli_main
from x_assets.orchestration.sensors import x_dead_runs_sensor

from .conftest import TODAY, Project, control

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
YESTERDAY = TODAY - dt.timedelta(days=1)


def shipped_home(tmp_path: Path) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / ".dagster_home" / "dagster.yaml", home / "dagster.yaml")
    return home


def materialize(project: Project, home: Path, asset: str = "account_insights") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            str(BIN / "dagster"),
            "asset",
            "materialize",
            "-m",
            "x_assets.definitions",
            "--select",
            asset,
            "--partition",
            str(YESTERDAY),
        ],
        cwd=project.tmp,
        env={**os.environ, "DAGSTER_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the kill takes the CLI and anything it started
    )


def kill_inside_its_step(project: Project, home: Path) -> str:
    """Start a run, kill -9 it while its step holds the x_api slot; return its run id."""
    control(project.server, "POST", "/latency", {"latency_ms": 20_000})  # its requests do not return in time
    victim = materialize(project, home)
    deadline = time.monotonic() + 120
    with dg.DagsterInstance.from_config(str(home)) as instance:
        while not instance.event_log_storage.get_concurrency_info("x_api").active_slot_count:  # its step runs
            assert victim.poll() is None, victim.stdout.read() if victim.stdout else ""
            assert time.monotonic() < deadline, "the run never claimed its slot"
            time.sleep(0.1)
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=30)
        control(project.server, "POST", "/latency", {"latency_ms": 0})
        info = instance.event_log_storage.get_concurrency_info("x_api")
        assert info.active_slot_count == 1, "the killed run should still hold its slot"
        (run_id,) = info.active_run_ids
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.STARTED
    return run_id


def test_the_next_run_releases_a_killed_run_and_completes(project: Project, tmp_path: Path) -> None:
    home = shipped_home(tmp_path)
    dead = kill_inside_its_step(project, home)
    nxt = materialize(project, home)
    try:
        out, _ = nxt.communicate(timeout=180)  # before the fix: blocked by the dead run's slot, forever
    except subprocess.TimeoutExpired:
        os.killpg(nxt.pid, signal.SIGKILL)
        raise AssertionError("the next run waited for the killed run's slot") from None
    assert nxt.returncode == 0, out
    assert f"run {dead}" in out and "marked failed, its pool slot freed" in out
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE  # type: ignore[union-attr]
        assert instance.event_log_storage.get_concurrency_info("x_api").active_slot_count == 0
    assert project.query("SELECT count(*) FROM x.account_insights") != [(0,)]


def test_the_sensor_and_the_cli_release_a_killed_run(
    project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = shipped_home(tmp_path)
    dead = kill_inside_its_step(project, home)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        result = x_dead_runs_sensor(dg.build_sensor_context(instance=instance))
        assert isinstance(result, dg.SkipReason) and dead in (result.skip_message or "")
        assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE  # type: ignore[union-attr]
        assert instance.event_log_storage.get_concurrency_info("x_api").active_slot_count == 0
    project.monkeypatch.setenv("DAGSTER_HOME", str(home))
    assert cli_main(["release-dead-runs"]) == 0
    assert "0 run(s) released" in capsys.readouterr().out  # nothing left to release


def test_sigterm_ends_a_run_waiting_out_a_rate_limit_within_seconds(project: Project, tmp_path: Path) -> None:
    home = shipped_home(tmp_path)
    control(project.server, "POST", "/faults", {"kind": "rate_limit", "reset_in": 600, "path": "/tweets"})
    run = materialize(project, home, asset="tweet_insights")
    deadline = time.monotonic() + 120
    while not project.stats()["faults"]:  # a 429 with its reset 10 minutes away: the workers wait
        assert run.poll() is None, run.stdout.read() if run.stdout else ""
        assert time.monotonic() < deadline, "the run never met the rate limit"
        time.sleep(0.1)
    time.sleep(1.0)  # into the wait
    os.killpg(run.pid, signal.SIGTERM)
    started = time.monotonic()
    try:
        out, _ = run.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)
        raise AssertionError("SIGTERM did not end the run: it slept on") from None
    assert time.monotonic() - started < 30
    assert "RunStoppedError" in out or "interrupt" in out.lower(), out[-2000:]
    # nothing was written: no table holds a post
    if Path(project.database).exists():
        tables = project.query("SELECT table_name FROM information_schema.tables WHERE table_name = 'tweet_insights'")
        assert not tables or project.query("SELECT count(*) FROM x.tweet_insights") == [(0,)]


def test_the_x_api_pool_runs_one_step_at_a_time(project: Project, tmp_path: Path) -> None:
    home = shipped_home(tmp_path)
    # The emulator holds the first run's requests until the second run's step has queued: a gate, not a guess
    # at how long a loaded machine takes to start the second CLI.
    control(project.server, "POST", "/latency", {"latency_ms": 600_000})
    first = materialize(project, home)
    second = None
    try:
        deadline = time.monotonic() + 120
        with dg.DagsterInstance.from_config(str(home)) as instance:
            while not instance.event_log_storage.get_concurrency_info("x_api").active_slot_count:
                assert first.poll() is None and time.monotonic() < deadline, "the first run never took the slot"
                time.sleep(0.1)
            second = materialize(project, home, asset="tweet_insights")
            while True:
                info = instance.event_log_storage.get_concurrency_info("x_api")
                assert info.active_slot_count <= 1  # never two steps in the pool
                if info.pending_step_count >= 1:  # the second run's step queued behind the first
                    break
                assert first.poll() is None, "the first run ended while the gate was closed"
                assert second.poll() is None, (second.stdout.read() if second.stdout else "")[-2000:]
                assert time.monotonic() < deadline, "the second run's step never waited for the pool"
                time.sleep(0.1)
            control(project.server, "POST", "/latency", {"latency_ms": 0})
            while first.poll() is None and time.monotonic() < deadline:
                assert instance.event_log_storage.get_concurrency_info("x_api").active_slot_count <= 1
                time.sleep(0.1)
        out_first, _ = first.communicate(timeout=120)
        out_second, _ = second.communicate(timeout=120)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    assert first.returncode == 0, out_first[-2000:]
    assert second.returncode == 0, out_second[-2000:]
