"""Failures never lose or tear data: faults from the emulator, over HTTP, through real runs."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from x_assets.ingest import loads

from .conftest import TODAY, Project, account_by_name, control, expected_tweet_rows, materializations_of

WEEK = (TODAY - dt.timedelta(days=7), TODAY - dt.timedelta(days=1))
FAST = {"backoff_seconds": 0.01, "max_attempts": 3}


def table(project: Project, name: str) -> list[tuple[Any, ...]]:
    return project.query(f"SELECT * FROM x.{name} ORDER BY ALL")


def failure_message(result: Any) -> str:
    return str(result.get_step_failure_events()[0].step_failure_data.error.to_string())


def test_one_failing_account_keeps_its_rows_and_fails_the_run_by_name(project: Project) -> None:
    assert project.materialize(["tweet_insights"], days=WEEK).success
    acme = account_by_name(project.server, "AcmeNews")
    before_acme = project.query("SELECT * FROM x.tweet_insights WHERE account_id = ? ORDER BY ALL", [str(acme.id)])
    control(project.server, "POST", "/advance", {"steps": 1})
    control(project.server, "POST", "/faults", {"kind": "server_error", "path": f"/2/users/{acme.id}/tweets"})
    result = project.materialize(["tweet_insights"], days=WEEK, **FAST)
    assert not result.success
    message = failure_message(result)
    assert "@AcmeNews" in message and "503" in message and "gave up after 3 attempts" in message
    after_acme = project.query("SELECT * FROM x.tweet_insights WHERE account_id = ? ORDER BY ALL", [str(acme.id)])
    assert after_acme == before_acme  # kept as it was
    globex = account_by_name(project.server, "GlobexDev")
    likes = dict(
        project.query("SELECT tweet_id, like_count FROM x.tweet_insights WHERE account_id = ?", [str(globex.id)])
    )
    assert all(
        likes[str(t.id)] == t.like_count
        for t in project.server.world.visible_tweets(globex)
        if str(t.id) in likes and t.retweeted_id is None
    )  # the others got the new numbers
    assert project.query(
        "SELECT DISTINCT status FROM x.account_status WHERE username = 'AcmeNews' AND endpoint = 'tweet_insights'"
    ) == [("failed",)]
    assert project.stats()["faults"] == {"server_error": 3}


def test_transient_faults_are_retried_then_succeed(project: Project) -> None:
    control(
        project.server,
        "POST",
        "/faults",
        {
            "rules": [
                {"kind": "server_error", "every": 3, "times": 2, "status": 502},
                {"kind": "truncated", "every": 5, "times": 1},
                {"kind": "reset", "every": 7, "times": 1},
            ]
        },
    )
    result = project.materialize(["tweet_insights"], days=WEEK, backoff_seconds=0.01, max_attempts=5)
    assert result.success
    metadata = materializations_of(result, "tweet_insights")[0].metadata
    assert metadata["retries"].value == 4
    assert project.stats()["faults"] == {"server_error": 2, "truncated": 1, "reset": 1}
    # the same run without faults, into another file, loads the same rows
    faulty = project.query("SELECT * EXCLUDE (fetched_at) FROM x.tweet_insights ORDER BY ALL")
    control(project.server, "DELETE", "/faults")
    project.monkeypatch.setenv("X_DUCKDB_PATH", str(project.tmp / "clean.duckdb"))
    assert project.materialize(["tweet_insights"], days=WEEK).success
    project.monkeypatch.setenv("X_DUCKDB_PATH", project.database)
    with duckdb.connect(str(project.tmp / "clean.duckdb"), read_only=True) as conn:
        expected = conn.execute("SELECT * EXCLUDE (fetched_at) FROM x.tweet_insights ORDER BY ALL").fetchall()
    assert faulty == expected and len(faulty) > 50


@pytest.mark.parametrize("reset_in", [1.0, None])
def test_rate_limits_are_waited_out(project: Project, reset_in: float | None) -> None:
    control(project.server, "POST", "/faults", {"kind": "rate_limit", "reset_in": reset_in, "times": 2, "every": 2})
    result = project.materialize(["tweet_insights"], days=WEEK, **FAST)
    assert result.success
    metadata = materializations_of(result, "tweet_insights")[0].metadata
    assert metadata["rate_limit_waits"].value >= 2  # the two 429s, and workers pacing on the spent window
    assert project.stats()["faults"] == {"rate_limit": 2}
    for username in ("AcmeNews", "GlobexDev"):
        truth = expected_tweet_rows(project.server, username, *WEEK)
        stored = dict(project.query("SELECT tweet_id, like_count FROM x.tweet_insights WHERE username = ?", [username]))
        assert stored == {k: v["like_count"] for k, v in truth.items()}


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("credits_depleted", "no API credits left"),
        ("usage_capped", "waiting will not help"),
        ("client_not_enrolled", "not attached to a Project"),
        ("unauthorized", "refused the credentials of scope 'default'"),
    ],
)
def test_fatal_answers_fail_fast_without_retry_or_write(project: Project, kind: str, words: str) -> None:
    assert project.materialize(["tweet_insights"], days=WEEK).success
    before = table(project, "tweet_insights")
    control(project.server, "POST", "/stats/reset")
    acme = account_by_name(project.server, "AcmeNews")
    timeline = f"/2/users/{acme.id}/tweets"
    control(project.server, "POST", "/faults", {"kind": kind, "path": timeline})
    result = project.materialize(["tweet_insights"], days=WEEK, **FAST)
    assert not result.success
    assert words in failure_message(result)
    stats = project.stats()
    assert stats["requests_by_path"][timeline] == 1 and stats["faults"] == {kind: 1}  # no retry after it
    assert table(project, "tweet_insights") == before


def test_a_fatal_answer_is_not_retried_by_a_dagster_retry_policy(project: Project) -> None:
    """Failure(allow_retries=False): a job with a retry policy does not retry it (it does retry others)."""
    from x_assets.orchestration.assets import tweet_insights
    from x_assets.orchestration.partitions import daily_partitions

    job = dg.define_asset_job(
        "with_retries",
        selection=["tweet_insights"],
        partitions_def=daily_partitions,
        op_retry_policy=dg.RetryPolicy(max_retries=2),
    )
    defs = dg.Definitions(assets=[tweet_insights], jobs=[job], resources=project.resources(**FAST))

    def run() -> dg.ExecuteInProcessResult:
        return defs.resolve_job_def("with_retries").execute_in_process(
            partition_key=str(TODAY), instance=project.instance, raise_on_error=False
        )

    def retries(result: dg.ExecuteInProcessResult) -> int:
        return sum(e.event_type_value == "STEP_UP_FOR_RETRY" for e in result.all_events)

    control(project.server, "POST", "/faults", {"kind": "credits_depleted"})
    fatal = run()
    assert not fatal.success and retries(fatal) == 0
    assert project.stats()["faults"] == {"credits_depleted": 1}
    control(project.server, "DELETE", "/faults")
    # an ordinary failure (a failed account) is retried by the same policy: the test can tell them apart
    acme = account_by_name(project.server, "AcmeNews")
    control(project.server, "POST", "/faults", {"kind": "server_error", "path": f"/2/users/{acme.id}/tweets"})
    ordinary = run()
    assert not ordinary.success and retries(ordinary) == 2


def test_a_refused_day_is_explained_without_overwriting_known_days(project: Project) -> None:
    """A run X refuses outright leaves a 'failed' status where a day had none, and no row."""
    yesterday = TODAY - dt.timedelta(days=1)
    assert project.materialize(["tweet_insights"], partition=str(yesterday)).success
    known = table(project, "account_status")
    control(project.server, "POST", "/faults", {"kind": "usage_capped"})
    result = project.materialize(["tweet_insights", "account_insights"], days=(yesterday, TODAY), **FAST)
    assert not result.success
    statuses = project.query("SELECT date, endpoint, status, detail FROM x.account_status ORDER BY ALL")
    refused = [s for s in statuses if s[2] == "failed"]
    assert {(d, e) for d, e, _, _ in refused} == {
        (yesterday, "account_insights"),
        (TODAY, "account_insights"),
        (TODAY, "tweet_insights"),
    }
    assert all("usage-capped" in detail for *_, detail in refused)
    assert set(known) <= set(table(project, "account_status"))  # yesterday's ok statuses stand
    assert project.query("SELECT count(*) FROM information_schema.tables WHERE table_name = 'account_insights'") == [
        (0,)
    ]  # nothing was written but the explanation


def test_refused_override_credentials_are_recorded_not_fatal(project: Project) -> None:
    project.monkeypatch.setenv("TEST_PRIVATELABS_TOKEN", "revoked-token")
    result = project.materialize(["tweet_insights"], days=WEEK, **FAST)
    assert result.success
    statuses = dict(
        project.query(
            "SELECT username, status FROM x.account_status WHERE date = ? AND endpoint = 'tweet_insights'", [WEEK[0]]
        )
    )
    assert statuses["PrivateLabs"] == "credentials_refused" and statuses["AcmeNews"] == "ok"
    assert project.query("SELECT count(DISTINCT username) FROM x.tweet_insights")[0][0] == 3


def test_a_failed_write_leaves_the_tables_as_before(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    assert project.materialize(["tweet_insights", "account_insights"], partition=str(TODAY)).success
    before = {t: table(project, t) for t in ("tweet_insights", "account_status", "account_insights")}
    control(project.server, "POST", "/advance", {"steps": 2})

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")  # after the slice was deleted and re-inserted, inside the transaction

    monkeypatch.setattr(loads, "replace_statuses", broken)
    result = project.materialize(["tweet_insights"], partition=str(TODAY))
    assert not result.success and "disk full" in failure_message(result)
    assert {t: table(project, t) for t in before} == before


def test_pacing_from_rate_limit_headers_provokes_no_429(project: Project) -> None:
    # two timeline requests per 2-second window, four accounts on the default credentials:
    # the run must wait for windows, not burst into them
    control(project.server, "POST", "/rate-limits", {"enforce": True, "limits": {"timeline": 2}, "window_seconds": 2})
    result = project.materialize(["tweet_insights"], days=WEEK, **FAST)
    assert result.success
    assert "429" not in project.stats()["statuses"]
    metadata = materializations_of(result, "tweet_insights")[0].metadata
    assert metadata["rate_limit_waits"].value >= 1


def test_a_reset_beyond_the_longest_wait_fails_the_account_instead_of_sleeping(project: Project) -> None:
    acme = account_by_name(project.server, "AcmeNews")
    control(
        project.server,
        "POST",
        "/faults",
        {"kind": "rate_limit", "reset_in": 3600, "path": f"/2/users/{acme.id}/tweets"},
    )
    result = project.materialize(["tweet_insights"], days=WEEK, max_rate_limit_wait_seconds=5, **FAST)
    assert not result.success
    assert "beyond the 5s allowed" in failure_message(result)
    assert project.stats()["faults"] == {"rate_limit": 1}  # one 429, no loop
    assert project.query("SELECT count(DISTINCT username) FROM x.tweet_insights")[0][0] == 3


def test_timeouts_are_retried(project: Project) -> None:
    control(project.server, "POST", "/faults", {"kind": "slow", "delay_ms": 1500, "times": 1})
    result = project.materialize(["tweet_insights"], days=WEEK, timeout_seconds=0.5, **FAST)
    assert result.success
    assert materializations_of(result, "tweet_insights")[0].metadata["retries"].value == 1


def test_an_unparseable_partition_key_is_refused_before_anything_runs(project: Project) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dagster",
            "asset",
            "materialize",
            "-m",
            "x_assets.definitions",
            "--select",
            "tweet_insights",
            "--partition",
            "2026-13-45",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=project.tmp,
    )
    assert result.returncode != 0
    assert "containing the passed partition key `2026-13-45`" in result.stdout + result.stderr
    assert project.stats()["requests_total"] == 0
    assert not Path(project.database).exists()


def test_a_run_that_dies_in_its_write_leaves_its_days_explained(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("killed")  # inside the write transaction, as a kill -9 would cut it

    day = TODAY - dt.timedelta(days=3)
    with monkeypatch.context() as patched:
        patched.setattr(loads, "replace_statuses", broken)
        assert not project.materialize(["tweet_insights"], partition=str(day)).success
    tables = {t for (t,) in project.query("SELECT table_name FROM information_schema.tables")}
    assert "tweet_insights" not in tables  # the write never committed
    statuses = project.query("SELECT DISTINCT status, detail FROM x.account_status WHERE date = ?", [day])
    assert statuses == [("failed", loads.UNFINISHED)]  # no rows, and a status saying why
    assert project.materialize(["tweet_insights"], partition=str(day)).success
    left = project.query("SELECT count(*) FROM x.account_status WHERE date = ? AND detail = ?", [day, loads.UNFINISHED])
    assert left == [(0,)]  # the run that loaded the day replaced every marker


def test_pacing_spends_each_window_whole_when_it_is_smaller_than_the_workers(project: Project) -> None:
    # a legacy Basic app has 5 or 10 timeline requests per window, fewer than the 16 workers: they
    # must share what the window has, not each wait for a new window (a request a window)
    limit = 3
    control(
        project.server, "POST", "/rate-limits", {"enforce": True, "limits": {"timeline": limit}, "window_seconds": 2}
    )
    result = project.materialize(["tweet_insights"], days=WEEK, **FAST)
    assert result.success
    stats = project.stats()
    assert "429" not in stats["statuses"]
    per_credential = [
        n for key, n in stats["requests_by_credential_and_route"].items() if key.endswith("GET /2/users/:id/tweets")
    ]
    assert sum(per_credential) > limit  # the work needs more than one window
    opened = control(project.server, "GET", "/rate-limits")["windows_opened"]["timeline"]
    assert opened == sum(math.ceil(n / limit) for n in per_credential)
