"""Asset checks: they pass on what the connector writes, and fail on data broken on purpose."""

from __future__ import annotations

import datetime as dt
from typing import Any

import dagster as dg
import duckdb

from x_assets.ingest.harvest import AccountState
from x_assets.ingest.source import AccountSpec
from x_assets.orchestration.checks import CHECKS, CheckInput, run_checks
from x_assets.warehouse.tables import ACCOUNT_DAILY_GROWTH_TABLE, ACCOUNT_INSIGHTS_TABLE, TWEET_ENGAGEMENT_TABLE

from .conftest import TODAY, Project, account_by_name, control

YESTERDAY = TODAY - dt.timedelta(days=1)


def evaluations(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    return {e.check_name: e for e in result.get_asset_check_evaluations() if e.asset_key == dg.AssetKey(asset)}


def offending(evaluation: Any) -> int:
    return int(evaluation.metadata["offending_rows"].value)


def test_every_check_passes_on_what_the_connector_writes(project: Project) -> None:
    result = project.materialize(["account_insights", "tweet_insights"], partition=str(TODAY))
    assert result.success
    for asset in ("account_insights", "tweet_insights"):
        found = evaluations(result, asset)
        assert set(found) == {c.name for c in CHECKS[asset]}
        failed = {name: e.metadata for name, e in found.items() if not e.passed}
        assert failed == {}, failed


def test_a_follower_drop_warns_without_failing_the_run(project: Project) -> None:
    assert project.materialize(["account_insights"], partition=str(YESTERDAY)).success
    acme = account_by_name(project.server, "AcmeNews")
    globex = account_by_name(project.server, "GlobexDev")
    lost = acme.followers_count // 10  # 10% of followers gone in a day; the default threshold is 5%
    before = acme.followers_count
    control(project.server, "POST", "/metrics", {"account_id": acme.id, "metrics": {"followers_count": before - lost}})
    # GlobexDev loses 1%: under the threshold
    small = globex.followers_count // 100
    control(
        project.server,
        "POST",
        "/metrics",
        {"account_id": globex.id, "metrics": {"followers_count": globex.followers_count - small}},
    )

    result = project.materialize(["account_insights"], partition=str(TODAY))
    assert result.success  # a warning, not an error
    drop = evaluations(result, "account_insights")["follower_drop"]
    assert not drop.passed and drop.severity == dg.AssetCheckSeverity.WARN
    assert offending(drop) == 1
    assert str(acme.id) in drop.metadata["sample"].value and str(globex.id) not in drop.metadata["sample"].value

    # A higher threshold lets the same drop pass.
    again = project.materialize(["account_insights"], partition=str(TODAY), follower_drop_warn=0.2)
    assert evaluations(again, "account_insights")["follower_drop"].passed


def test_a_duplicate_snapshot_fails_the_check_and_blocks_the_derived_asset(project: Project) -> None:
    assert project.materialize(["account_insights"], partition=str(TODAY)).success
    # Another tool wrote the same account twice into the table (the connector never does).
    with duckdb.connect(project.database) as conn:
        for _ in range(2):
            conn.execute(
                "INSERT INTO x.account_insights (date, account_id, username, followers_count) VALUES (?, '42', 'x', 1)",
                [TODAY],
            )
    result = project.materialize(["account_insights", "account_daily_growth"], partition=str(TODAY))
    unique = evaluations(result, "account_insights")["unique_key"]
    assert not unique.passed and unique.severity == dg.AssetCheckSeverity.ERROR
    assert offending(unique) == 1 and "42" in unique.metadata["sample"].value
    assert not result.success  # the blocking check stops the run before the derived asset reads bad data
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert dg.AssetKey("account_daily_growth") not in {k for k in materialized if k is not None}


def test_negative_counts_and_inconsistent_retweets_fail(project: Project) -> None:
    assert project.materialize(["tweet_insights"], partition=str(TODAY)).success
    with duckdb.connect(project.database) as conn:
        # A foreign account's rows, outside every slice the connector replaces.
        conn.execute(
            "INSERT INTO x.tweet_insights (created_date, tweet_id, account_id, is_retweet, retweet_count, "
            "own_retweet_count, like_count) VALUES (?, '1', '42', false, 5, 5, -3), "
            "(?, '2', '42', true, 5, 5, 0), (?, '3', '42', false, 5, 2, 0)",
            [TODAY, TODAY, TODAY],
        )
    result = project.materialize(["tweet_insights"], partition=str(TODAY))
    found = evaluations(result, "tweet_insights")
    assert offending(found["no_negative_counts"]) == 1 and not found["no_negative_counts"].passed
    # tweet 2 is a retweet with its own retweets and no original; tweet 3's own count differs
    assert offending(found["retweet_columns_consistent"]) == 2
    assert found["unique_key"].passed and found["accounts_accounted_for"].passed


def test_an_account_with_neither_rows_nor_status_is_reported(project: Project) -> None:
    assert project.materialize(["account_insights"], partition=str(TODAY)).success
    acme = account_by_name(project.server, "AcmeNews")
    known = AccountState(AccountSpec("AcmeNews", None, None), account_id=str(acme.id), username="AcmeNews")
    ghost = AccountState(AccountSpec("Ghost", None, None), account_id="777", username="Ghost")
    with duckdb.connect(project.database) as conn:
        check_input = CheckInput(conn, ACCOUNT_INSIGHTS_TABLE, TODAY, TODAY, [known, ghost], 0.05)
        results = {r.check_name: r for r in run_checks(check_input)}
        assert not results["accounts_accounted_for"].passed
        assert "777" in results["accounts_accounted_for"].metadata["sample"].value
        assert str(acme.id) not in results["accounts_accounted_for"].metadata["sample"].value
        # An ok status without the snapshot row is a contradiction, not an explanation.
        conn.execute("DELETE FROM x.account_insights WHERE account_id = ?", [str(acme.id)])
        results = {r.check_name: r for r in run_checks(check_input)}
        assert offending(results["accounts_accounted_for"]) == 2
        # over a window, every day counts: three days, none with a row or an explaining status
        window = CheckInput(conn, ACCOUNT_INSIGHTS_TABLE, TODAY - dt.timedelta(days=2), TODAY, [known], 0.05)
        results = {r.check_name: r for r in run_checks(window)}
        assert offending(results["accounts_accounted_for"]) == 3


def test_a_slice_cut_by_the_read_budget_is_a_warning(project: Project) -> None:
    first = TODAY - dt.timedelta(days=6)
    result = project.materialize(["tweet_insights"], days=(first, TODAY), max_post_reads=30, max_workers=1)
    complete = evaluations(result, "tweet_insights")["complete_slices"]
    assert not complete.passed and complete.severity == dg.AssetCheckSeverity.WARN
    assert offending(complete) >= 1 and "budget" in complete.metadata["sample"].value


def test_the_derived_tables_checks_pass_and_catch_rows_that_do_not_follow(project: Project) -> None:
    days = (TODAY - dt.timedelta(days=2), TODAY)
    for day in (YESTERDAY, TODAY):
        assert project.materialize(["account_insights"], partition=str(day)).success
    assert project.materialize(["tweet_insights"], days=days).success
    result = project.materialize(["account_daily_growth", "tweet_engagement"], days=days)
    assert result.success
    for asset in ("account_daily_growth", "tweet_engagement"):
        found = evaluations(result, asset)
        assert set(found) == {c.name for c in CHECKS[asset]} and all(e.passed for e in found.values()), found
    # broken on purpose, after the fact: a growth row and an engagement row that no longer follow
    acme = account_by_name(project.server, "AcmeNews")
    with duckdb.connect(project.database) as conn:
        conn.execute(
            "UPDATE x.account_daily_growth SET followers_change = followers_change + 7 WHERE account_id = ?"
            " AND date = ?",
            [str(acme.id), TODAY],
        )
        post = conn.execute("SELECT tweet_id FROM x.tweet_engagement LIMIT 1").fetchall()[0][0]
        conn.execute("UPDATE x.tweet_engagement SET engagement = engagement + 1 WHERE tweet_id = ?", [post])
        conn.execute(
            "DELETE FROM x.tweet_engagement WHERE tweet_id = (SELECT max(tweet_id) FROM x.tweet_engagement "
            "WHERE tweet_id <> ?)",
            [post],
        )
        for table, check, broken in (
            (ACCOUNT_DAILY_GROWTH_TABLE, "follows_from_snapshots", 1),
            (TWEET_ENGAGEMENT_TABLE, "follows_from_posts", 2),  # the changed row, and the post with no row
        ):
            results = {r.check_name: r for r in run_checks(CheckInput(conn, table, *days, [], 0.0))}
            assert not results[check].passed and offending(results[check]) == broken, check
