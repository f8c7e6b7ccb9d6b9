"""Each partition's metadata is that day's own truth: rows, reads and cost summing to the run's.

A ranged run writes one materialization per day. Before, each carried the run's totals, so a
3-day run that X billed $1.665 showed $1.665 on every day ($4.995 summed). Read back here from
the Dagster event log, as the UI reads it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import dagster as dg

from .conftest import TODAY, Project


def events(project: Project, kind: dg.DagsterEventType, asset: str, run_id: str) -> list[Any]:
    records = project.instance.fetch_materializations(dg.AssetKey(asset), limit=10_000).records
    if kind == dg.DagsterEventType.ASSET_OBSERVATION:
        records = project.instance.fetch_observations(dg.AssetKey(asset), limit=10_000).records
    return [r for r in records if r.run_id == run_id]


def day_metadata(project: Project, asset: str, run_id: str) -> dict[str, dict[str, Any]]:
    found = events(project, dg.DagsterEventType.ASSET_MATERIALIZATION, asset, run_id)
    return {
        r.partition_key: {k: v.value for k, v in r.asset_materialization.metadata.items()}  # type: ignore[union-attr]
        for r in found
    }


def assert_days_sum_to_the_run(project: Project, run_id: str, first: dt.date, last: dt.date) -> dict[str, Any]:
    days = day_metadata(project, "tweet_insights", run_id)
    assert set(days) == {str(first + dt.timedelta(days=i)) for i in range((last - first).days + 1)}
    stored = dict(
        project.query(
            "SELECT created_date::VARCHAR, count(*) FROM x.tweet_insights WHERE created_date BETWEEN ? AND ? "
            "GROUP BY 1",
            [first, last],
        )
    )
    for day, meta in days.items():
        assert meta["dagster/row_count"] == stored.get(day, 0), day  # that day's rows, not the run's
        assert meta["estimated_usd"] == round(meta["post_reads"] * 0.005 + meta["user_reads"] * 0.010, 4)
    run = next(iter(days.values()))
    assert sum(m["dagster/row_count"] for m in days.values()) == run["run_row_count"]
    assert sum(m["post_reads"] for m in days.values()) == run["run_post_reads"]
    assert sum(m["user_reads"] for m in days.values()) == run["run_user_reads"]
    assert round(sum(m["estimated_usd"] for m in days.values()), 4) == run["run_estimated_usd"]
    stats = project.stats()
    assert run["run_post_reads"] == stats["billable_post_reads"] and run["run_user_reads"] == stats["users_returned"]
    # the run's detail is said once, in one observation of its last day, not on every day
    (observation,) = events(project, dg.DagsterEventType.ASSET_OBSERVATION, "tweet_insights", run_id)
    assert observation.partition_key == str(last)
    assert "account_states" in observation.asset_observation.metadata  # type: ignore[union-attr]
    assert not any(k in m for m in days.values() for k in ("account_states", "requests", "preview"))
    return days


def test_a_three_day_run_gives_each_day_its_own_rows_reads_and_cost(project: Project) -> None:
    first, last = TODAY - dt.timedelta(days=3), TODAY - dt.timedelta(days=1)
    result = project.materialize(["tweet_insights"], days=(first, last))
    assert result.success
    days = assert_days_sum_to_the_run(project, result.run_id, first, last)
    assert len({m["dagster/row_count"] for m in days.values()}) > 1  # the emulator's days differ: no copies
    assert days[str(last)]["user_reads"] == 5 and days[str(first)]["user_reads"] == 0  # lookups once, last day
    # the derived asset's days too
    assert project.materialize(["tweet_engagement"], days=(first, last)).success
    derived = day_metadata(project, "tweet_engagement", project.instance.get_runs(limit=1)[0].run_id)
    assert {d: m["dagster/row_count"] for d, m in derived.items()} == {
        d: m["dagster/row_count"] for d, m in days.items()
    }
    # and numbers worth plotting, each day's own
    engagement = dict(
        project.query("SELECT created_date::VARCHAR, sum(engagement)::BIGINT FROM x.tweet_engagement GROUP BY 1")
    )
    assert {d: m["engagement_total"] for d, m in derived.items() if d in engagement} == engagement
    assert all(isinstance(m.get("median_engagement_rate"), float | None) for m in derived.values())
    # the tables written beside them say so in the catalog, once per run, not per day
    for side, asset in (("account_status", "tweet_insights"), ("top_tweets_weekly", "tweet_engagement")):
        runs = {r.run_id for r in project.instance.fetch_materializations(dg.AssetKey(asset), limit=100).records}
        written = project.instance.fetch_materializations(dg.AssetKey(side), limit=100).records
        assert {r.run_id for r in written} == runs and len(written) == len(runs), side


def test_a_history_run_gives_each_day_its_own_figures_and_lists_cut_days_as_ranges(project: Project) -> None:
    project.write_source({"accounts": [{"username": "FirehoseNews"}, {"username": "AcmeNews"}]})
    first, last = TODAY - dt.timedelta(days=120), TODAY
    result = project.materialize(["tweet_insights"], days=(first, last), tags={"x/history": "x"})
    assert result.success
    days = assert_days_sum_to_the_run(project, result.run_id, first, last)
    assert len(days) == 121
    (observation,) = events(project, dg.DagsterEventType.ASSET_OBSERVATION, "tweet_insights", result.run_id)
    cut = observation.asset_observation.metadata["incomplete_days"].value  # type: ignore[union-attr]
    # FirehoseNews posts more than the 3,200 a timeline reaches: its older days, one range, not 100 dates
    assert list(cut) == ["username:firehosenews"] and len(cut["username:firehosenews"]) == 1
    assert cut["username:firehosenews"][0].startswith(f"{first}..")
