"""Kills, concurrent runs and a soak: tables are always exactly before or after, never torn.

Materializations run in child processes (x_assets_tests.child_run) against the in-process
emulator over HTTP on 127.0.0.1, and are killed with SIGKILL.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb
import pytest

from .conftest import TODAY, Project, control, expected_tweet_rows

ROOT = Path(__file__).resolve().parents[1]
WEEK = (TODAY - dt.timedelta(days=7), TODAY - dt.timedelta(days=1))
READABLE = ("AcmeNews", "GlobexDev", "InitechHQ", "PrivateLabs")


def spawn(project: Project, *extra: str, days: tuple[dt.date, dt.date] = WEEK) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "x_assets_tests.child_run", "tweet_insights", str(days[0]), str(days[1]), *extra],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"child ended before the signal: {proc.stdout.read() if proc.stdout else ''}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("child never reached its write")
        time.sleep(0.05)


def rows(project: Project) -> list[tuple[Any, ...]]:
    if not Path(project.database).exists():
        return []
    with duckdb.connect(project.database, read_only=True) as conn:
        exists = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'x' AND table_name = 'tweet_insights'"
        ).fetchone()
        if not exists or not exists[0]:
            return []
        return conn.execute("SELECT * EXCLUDE (fetched_at) FROM x.tweet_insights ORDER BY tweet_id").fetchall()


def truth_ids(project: Project) -> dict[tuple[str, dt.date], set[str]]:
    slices: dict[tuple[str, dt.date], set[str]] = defaultdict(set)
    for username in READABLE:
        for tweet_id, row in expected_tweet_rows(project.server, username, *WEEK).items():
            slices[(row["account_id"], row["created_date"])].add(tweet_id)
    return slices


def assert_no_torn_slice(project: Project) -> None:
    """Every (account, day) slice is absent or complete, and no post appears twice."""
    with duckdb.connect(project.database, read_only=True) as conn:
        stored = conn.execute("SELECT account_id, created_date, tweet_id FROM x.tweet_insights").fetchall()
    ids = [r[2] for r in stored]
    assert len(ids) == len(set(ids)), "duplicate posts"
    got: dict[tuple[str, dt.date], set[str]] = defaultdict(set)
    for account_id, day, tweet_id in stored:
        got[(account_id, day)].add(tweet_id)
    truth = truth_ids(project)
    for key, present in got.items():
        assert present == truth.get(key), f"torn or foreign slice {key}"


def test_sigkill_inside_the_write_transaction_leaves_the_table_as_before(project: Project, tmp_path: Path) -> None:
    first = spawn(project)
    assert first.wait(timeout=180) == 0, first.stdout.read() if first.stdout else ""
    before = rows(project)
    assert before
    control(project.server, "POST", "/advance", {"steps": 3})  # a re-run would now change every count

    signal_file = tmp_path / "in-write"
    victim = spawn(project, "--pause-in-write", "60", "--signal-file", str(signal_file))
    wait_for(signal_file, victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert victim.returncode == -signal.SIGKILL
    assert rows(project) == before  # the deleted and re-inserted slice was never committed
    stages = Path(project.database).parent / ".x_assets_stage"
    left = list(stages.iterdir())
    assert len(left) == 1 and str(victim.pid) in left[0].name and any(left[0].iterdir())  # its staged posts

    again = spawn(project)
    assert again.wait(timeout=180) == 0
    assert list(stages.iterdir()) == []  # the next run swept the dead run's staging folder
    after = rows(project)
    assert after != before and len(after) == len(before)
    assert_no_torn_slice(project)


def test_two_runs_at_once_wait_for_each_other(project: Project, tmp_path: Path) -> None:
    signal_file, release = tmp_path / "holding-lock", tmp_path / "release"
    holder = spawn(
        project, "--pause-in-write", "120", "--signal-file", str(signal_file), "--release-file", str(release)
    )
    wait_for(signal_file, holder)
    rival = spawn(project)
    assert rival.stdout is not None
    seen: list[str] = []
    for line in rival.stdout:  # the holder keeps the lock until the rival says it waits for it
        seen.append(line)
        if "is locked by another process; waiting" in line:
            break
    release.write_text("go")
    holder_out, _ = holder.communicate(timeout=180)
    rival_rest, _ = rival.communicate(timeout=180)
    rival_out = "".join(seen) + rival_rest
    assert holder.returncode == 0, holder_out
    assert rival.returncode == 0, rival_out
    assert "is locked by another process; waiting" in rival_out
    assert "DuckDB lock acquired" in rival_out
    assert_no_torn_slice(project)
    assert len(rows(project)) == sum(len(s) for s in truth_ids(project).values())


@pytest.mark.timeout(600)
def test_soak_random_faults_and_kills(project: Project, tmp_path: Path) -> None:
    rng = random.Random(20261128)
    outcomes: dict[str, int] = defaultdict(int)
    started = time.monotonic()
    for i in range(40):
        control(project.server, "DELETE", "/faults")
        plan = rng.choice(["clean", "faults", "kill", "kill-in-write", "advance"])
        if plan == "advance":
            control(project.server, "POST", "/advance", {"steps": 1})
            plan = "clean"
        if plan == "faults":
            kind = rng.choice(["server_error", "truncated", "reset", "rate_limit"])
            control(
                project.server,
                "POST",
                "/faults",
                {"kind": kind, "every": rng.randint(2, 5), "times": rng.randint(1, 6), "reset_in": 0.2},
            )
        if plan == "kill-in-write":
            signal_file = tmp_path / f"write-{i}"
            proc = spawn(project, "--pause-in-write", "60", "--signal-file", str(signal_file))
            wait_for(signal_file, proc)
            proc.send_signal(signal.SIGKILL)
        elif plan == "kill":
            proc = spawn(project)
            try:
                proc.wait(timeout=rng.uniform(0.5, 4.0))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
        else:
            proc = spawn(project)
        proc.communicate(timeout=180)
        outcomes[f"{plan}:{'ok' if proc.returncode == 0 else proc.returncode}"] += 1
        if Path(project.database).exists() and rows(project):
            assert_no_torn_slice(project)
    control(project.server, "DELETE", "/faults")
    final = spawn(project)
    assert final.wait(timeout=180) == 0
    assert_no_torn_slice(project)
    truth = {}
    for username in READABLE:
        truth.update(expected_tweet_rows(project.server, username, *WEEK))
    with duckdb.connect(project.database, read_only=True) as conn:
        likes = dict(conn.execute("SELECT tweet_id, like_count FROM x.tweet_insights").fetchall())
    assert likes == {k: v["like_count"] for k, v in truth.items()}
    assert sum(outcomes.values()) == 40
    plans = {key.split(":")[0] for key in outcomes}
    assert {"kill", "kill-in-write", "faults", "clean"} <= plans, outcomes  # the soak exercised each
    print(f"soak: 40 runs in {time.monotonic() - started:.0f}s: {dict(outcomes)}")
