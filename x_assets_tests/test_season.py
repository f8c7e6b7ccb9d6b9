"""A season of daily operation through the real schedules and sensor, against the emulator's truth.

Each test runs `python -m x_assets.season` (its own process: the partitions start a few weeks
before the season, from X_FIRST_DAY, so the new-account sensor's history load stays small). Day by
day the world changes (new posts, decaying engagement, a deleted post, a rename and the freed
handle taken, a suspension and its end, an account turning protected, accounts added to and
removed from the source file, a mass unfollow) and faults are injected (429s with and without a
reset, 5xx bursts, truncated bodies, timeouts, a usage cap for a day, a crash inside the write).
The run ends with the warehouse compared with the truth (x_assets/season.py, SeasonRun._compare).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def season(*args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("X_")}  # the season sets its own
    result = subprocess.run(
        [sys.executable, "-m", "x_assets.season", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith(("SEASON ", "PROBLEM "))]
    assert result.returncode == 0, "\n".join(lines[-30:]) or result.stderr[-3000:]
    (figures,) = [json.loads(line[len("SEASON ") :]) for line in lines if line.startswith("SEASON ")]
    print(figures)
    return figures


@pytest.mark.timeout(300)
@pytest.mark.parametrize("policy", ["window", "ages:1,3,7", "adaptive"])
def test_two_weeks_of_daily_runs_end_equal_to_the_truth(policy: str) -> None:
    figures = season("--days", "14", "--policy", policy)
    assert figures["problems"] == 0
    assert sum(figures["faults"].values()) >= 3  # the season was not a quiet one
    assert any(k.endswith(":failed") for k in figures["runs"])  # and runs failed, then caught up
    assert figures["runs"]["account_insights_job:ok"] >= 10


@pytest.mark.timeout(300)
def test_a_read_budget_leaves_every_missing_day_flagged() -> None:
    figures = season("--days", "8", "--policy", "ages:1,3,7", "--budget", "60", "--seed", "5", "--no-faults")
    assert figures["problems"] == 0
    assert figures["post_reads"] <= 60 * sum(figures["runs"].values())
