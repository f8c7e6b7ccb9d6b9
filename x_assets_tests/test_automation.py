"""Schedules, the new-account sensor, and the Definitions as Dagster loads them."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from x_assets.constants import ACCOUNTS_TAG
from x_assets.definitions import defs
from x_assets.orchestration.resources import XResource
from x_assets.orchestration.schedules import x_daily_schedule, x_tweet_lookback_schedule
from x_assets.orchestration.sensors import x_new_accounts_sensor
from x_assets.warehouse.tables import (
    ACCOUNT_DAILY_GROWTH_TABLE,
    ACCOUNT_INSIGHTS_TABLE,
    ACCOUNT_STATUS_TABLE,
    ENGAGEMENT_BY_AGE_TABLE,
    MENTIONS_INSIGHTS_TABLE,
    SEARCH_INSIGHTS_TABLE,
    TWEET_ENGAGEMENT_TABLE,
    TWEET_INSIGHTS_TABLE,
)

from .conftest import TODAY, Project, account_by_name, control

ROOT = Path(__file__).resolve().parents[1]


def test_definitions_load() -> None:
    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    assert {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()} >= {"account_insights", "tweet_insights"}
    assert {s.name for s in repo.schedule_defs} == {"x_daily_schedule", "x_tweet_lookback_schedule"}
    assert {s.name for s in repo.sensor_defs} == {"x_new_accounts_sensor", "x_dead_runs_sensor"}


def test_every_asset_explains_itself() -> None:
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    tables = {
        t.name: t
        for t in (
            ACCOUNT_INSIGHTS_TABLE,
            TWEET_INSIGHTS_TABLE,
            ACCOUNT_DAILY_GROWTH_TABLE,
            TWEET_ENGAGEMENT_TABLE,
            ENGAGEMENT_BY_AGE_TABLE,
            MENTIONS_INSIGHTS_TABLE,
            SEARCH_INSIGHTS_TABLE,
        )
    }
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == {*tables, *SIDE_TABLES}
    for name, table in tables.items():
        node = graph.get(dg.AssetKey(name))
        assert node.group_name == "x" and node.kinds == {"x", "duckdb", "polars"}
        assert node.description and "\n" not in node.description.strip()  # one line in the UI
        assert node.owners == []  # left to the user
        schema = node.metadata["dagster/column_schema"]
        # The table's own columns, then x_source.yaml's default_schema column, which every row carries.
        assert [c.name for c in schema.columns] == [*table.column_names, "client"]
        assert schema.columns[-1].type == "VARCHAR" and "default_schema" in (schema.columns[-1].description or "")
        assert all(c.description for c in schema.columns)
        assert node.metadata["dagster/table_name"] == f"warehouse.x.{name}"
    for name, checks in (("account_insights", 4), ("tweet_insights", 5)):
        node = graph.get(dg.AssetKey(name))
        assert len(node.check_keys) == checks
        assert isinstance(node.freshness_policy, dg.FreshnessPolicy)
    assert {k.to_user_string() for k in graph.get(dg.AssetKey("tweet_engagement")).parent_keys} == {
        "account_insights",
        "tweet_insights",
    }
    assert {k.to_user_string() for k in graph.get(dg.AssetKey("engagement_by_age")).parent_keys} == {
        "tweet_insights",
        "tweet_metrics_history",
    }


SIDE_TABLES = {
    "account_status": {"account_insights", "tweet_insights", "mentions_insights", "search_insights"},
    "account_registry": {"account_insights", "tweet_insights", "mentions_insights"},
    "top_tweets_weekly": {"tweet_engagement"},
    "tweet_metrics_history": {"tweet_insights"},
    "engagement_by_age_weekly": {"engagement_by_age"},
}


def test_the_tables_written_beside_the_assets_are_in_the_catalog() -> None:
    """account_status (which the checks point to), the registry and the weekly view: described, with
    their columns and where they come from; written by the assets' runs, not materialized alone."""
    graph = defs.get_repository_def().asset_graph
    for name, parents in SIDE_TABLES.items():
        node = graph.get(dg.AssetKey(name))
        assert node.description and "\n" not in node.description and not node.is_materializable
        assert {k.to_user_string() for k in node.parent_keys} == parents
        columns = node.metadata["dagster/column_schema"].columns
        assert columns and all(c.description for c in columns)
        assert node.metadata["dagster/table_name"] == f"warehouse.x.{name}"
    status = graph.get(dg.AssetKey("account_status")).metadata["dagster/column_schema"]
    # status rows carry the source's default_schema columns too (x_source.yaml's client)
    assert [c.name for c in status.columns] == [*ACCOUNT_STATUS_TABLE.column_names, "client"]


def test_only_days_that_can_be_filled_are_offered(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Posts of any day since the first day can be read later; a snapshot only of the present, so the
    snapshot assets start on the day snapshots began (default: yesterday as the definitions load)."""
    from x_assets.definitions import build_defs

    monkeypatch.delenv("X_SNAPSHOTS_FROM")
    defs = build_defs(defs_folder=None)
    graph = defs.get_repository_def().asset_graph
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    for name, start in (
        ("account_insights", yesterday),
        ("account_daily_growth", yesterday),
        ("tweet_insights", dt.date(2024, 1, 1)),
        ("tweet_engagement", dt.date(2024, 1, 1)),
    ):
        partitions = graph.get(dg.AssetKey(name)).partitions_def
        assert isinstance(partitions, dg.DailyPartitionsDefinition)
        assert partitions.start.date() == start, name
    snapshot = graph.get(dg.AssetKey("account_insights")).partitions_def
    assert snapshot.get_partition_keys() == [str(yesterday), str(yesterday + dt.timedelta(days=1))]
    assert defs.resolve_job_def("account_insights_job").partitions_def == snapshot


def test_snapshots_start_where_configured(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from x_assets.definitions import build_defs

    monkeypatch.setenv("X_SNAPSHOTS_FROM", "2026-01-10")
    graph = build_defs(defs_folder=None).get_repository_def().asset_graph
    assert graph.get(dg.AssetKey("account_insights")).partitions_def.start.date() == dt.date(2026, 1, 10)
    for bad, said in (("2026-13-01", "YYYY-MM-DD"), ("2999-01-01", "past day"), ("2001-01-01", "2006-03-21")):
        monkeypatch.setenv("X_SNAPSHOTS_FROM", bad)
        with pytest.raises(ValueError, match=f"X_SNAPSHOTS_FROM must be .*{said}"):
            build_defs(defs_folder=None)


def test_dg_check_defs() -> None:
    dg_cli = Path(sys.executable).parent / "dg"
    result = subprocess.run([str(dg_cli), "check", "defs"], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully" in result.stdout + result.stderr


def test_dagster_definitions_validate_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "x_assets.definitions"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful" in result.stdout + result.stderr


def test_daily_schedule_requests_yesterday() -> None:
    today = dt.datetime.now(dt.UTC).date()
    when = dt.datetime.combine(today, dt.time(0, 30), tzinfo=dt.UTC)
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=when, repository_def=defs.get_repository_def()
        )
        requests = list(x_daily_schedule.evaluate_tick(context).run_requests or [])
    assert [r.partition_key for r in requests] == [str(today - dt.timedelta(days=1))]
    assert x_daily_schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_lookback_schedule_requests_one_ranged_run(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    when = dt.datetime(2026, 3, 5, 1, 0, tzinfo=dt.UTC)
    for days, start in ((None, "2026-02-26"), ("3", "2026-03-02")):
        if days:
            monkeypatch.setenv("X_LOOKBACK_DAYS", days)
        context = dg.build_schedule_context(scheduled_execution_time=when)
        (request,) = x_tweet_lookback_schedule.evaluate_tick(context).run_requests or []
        assert request.tags["dagster/asset_partition_range_start"] == start
        assert request.tags["dagster/asset_partition_range_end"] == "2026-03-04"


def test_sensor_requests_history_for_new_accounts_only(project: Project) -> None:
    x = XResource(source_file=str(project.tmp / "x_source.yaml"))
    first = x_new_accounts_sensor(dg.build_sensor_context(cursor=None, resources={"x": x}))
    assert len(first.run_requests) == 1  # first sight: every account's history once
    cursor = first.cursor
    quiet = x_new_accounts_sensor(dg.build_sensor_context(cursor=cursor, resources={"x": x}))
    assert not quiet.run_requests

    project.write_source({**project.source, "accounts": [*project.source["accounts"], {"username": "HooliTech"}]})
    result = x_new_accounts_sensor(dg.build_sensor_context(cursor=cursor, resources={"x": x}))
    (request,) = result.run_requests
    assert request.tags[ACCOUNTS_TAG] == "username:hoolitech"
    assert request.tags["dagster/asset_partition_range_end"] == str(TODAY)
    assert "username:hoolitech" in json.loads(result.cursor)["requested"]
    # the new account's own tables; not search, whose queries the lookback already keeps
    assert {k.to_user_string() for k in request.asset_selection or []} == {
        "tweet_insights",
        "tweet_engagement",
        "engagement_by_age",
        "mentions_insights",
    }

    # the requested run loads only the new account, over its whole reachable history
    start = dt.date.fromisoformat(request.tags["dagster/asset_partition_range_start"])
    outcome = project.materialize(
        ["tweet_insights"], days=(start, TODAY), tags={ACCOUNTS_TAG: request.tags[ACCOUNTS_TAG]}
    )
    assert outcome.success
    hooli = account_by_name(project.server, "HooliTech")
    assert project.query("SELECT DISTINCT account_id FROM x.tweet_insights") == [(str(hooli.id),)]
    assert project.query("SELECT count(*) FROM x.tweet_insights")[0][0] == len(
        project.server.world.visible_tweets(hooli)
    )
    timeline_paths = [p for p in project.stats()["requests_by_path"] if p.endswith("/tweets")]
    assert timeline_paths == [f"/2/users/{hooli.id}/tweets"]


def test_a_failed_history_run_is_requested_again(project: Project) -> None:
    x = XResource(source_file=str(project.tmp / "x_source.yaml"))
    project.write_source({"accounts": [{"username": "AcmeNews"}]})

    def tick(cursor: str | None) -> dg.SensorResult:
        result = x_new_accounts_sensor(
            dg.build_sensor_context(cursor=cursor, resources={"x": x}, instance=project.instance)
        )
        assert isinstance(result, dg.SensorResult)
        return result

    def execute(request: dg.RunRequest) -> dg.ExecuteInProcessResult:
        # the world's posts span 40 days: a shorter range than the request's keeps the events few
        start = max(
            dt.date.fromisoformat(request.tags["dagster/asset_partition_range_start"]), TODAY - dt.timedelta(41)
        )
        tags = {k: v for k, v in request.tags.items() if not k.startswith("dagster/asset_partition_range")}
        return project.materialize(["tweet_insights"], days=(start, TODAY), tags=tags)

    first = tick(None)
    (request,) = first.run_requests or []
    control(project.server, "POST", "/faults", {"kind": "credits_depleted"})
    assert not execute(request).success
    control(project.server, "DELETE", "/faults")
    second = tick(first.cursor)
    (again,) = second.run_requests or []  # before: the account counted as loaded, its history never came
    assert again.tags[ACCOUNTS_TAG] == "username:acmenews" and again.run_key != request.run_key
    assert execute(again).success
    assert not tick(second.cursor).run_requests  # loaded: not requested a third time
    acme = account_by_name(project.server, "AcmeNews")
    assert project.query("SELECT count(*) FROM x.tweet_insights")[0][0] == len(
        project.server.world.visible_tweets(acme)
    )


def test_sensor_skips_an_unusable_source_file(project: Project) -> None:
    (project.tmp / "x_source.yaml").write_text("acounts: []\n")
    x = XResource(source_file=str(project.tmp / "x_source.yaml"))
    result = x_new_accounts_sensor(dg.build_sensor_context(cursor=None, resources={"x": x}))
    assert isinstance(result, dg.SkipReason) and "unknown key 'acounts'" in (result.skip_message or "")


def test_the_history_sensor_spends_nothing_until_started_and_says_what_it_costs() -> None:
    # Its first evaluation reads every account's history: with real credentials up to $16 an account.
    assert x_new_accounts_sensor.default_status == dg.DefaultSensorStatus.STOPPED
    description = x_new_accounts_sensor.description or ""
    assert "Stopped by default" in description and "$16 per account" in description
