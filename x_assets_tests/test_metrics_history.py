"""tweet_metrics_history keeps each day's read of every post, and never rewrites a past day.

The emulator's clock moves through several simulated days while the world's metrics grow;
each day's lookback run adds that day's observations, which must equal what the world held
at that moment, column by column.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from x_assets.clock import use_clock

from .conftest import NOW, Project, expected_tweet_rows, materializations_of

ACCOUNTS = ("AcmeNews", "GlobexDev")
METRICS = (
    "like_count",
    "retweet_count",
    "own_retweet_count",
    "reply_count",
    "quote_count",
    "bookmark_count",
    "impression_count",
)
HISTORY_SQL = "SELECT * EXCLUDE (fetched_at) FROM x.tweet_metrics_history"


def history_reports(result: Any) -> list[Any]:
    """The run's reports that it wrote tweet_metrics_history (a table written beside tweet_insights)."""
    return [m for m in result.get_asset_materialization_events() if m.asset_key.path[-1] == "tweet_metrics_history"]


def observations(project: Project) -> dict[tuple[dt.date, str], dict[str, Any]]:
    frame = project.frame(HISTORY_SQL)
    return {(r["observed_date"], r["tweet_id"]): r for r in frame.to_dicts()}


def expected_observations(project: Project, first: dt.date, last: dt.date, today: dt.date) -> dict[tuple, dict]:
    rows = {}
    for username in ACCOUNTS:
        for tweet_id, row in expected_tweet_rows(project.server, username, first, last).items():
            rows[(today, tweet_id)] = {
                "observed_date": today,
                "tweet_id": tweet_id,
                "account_id": row["account_id"],
                "username": row["username"],
                "account_name": row["account_name"],
                "created_date": row["created_date"],
                "age_days": (today - row["created_date"]).days,
                "is_retweet": row["is_retweet"],
                **{m: row[m] for m in METRICS},
                "client": "acme",
            }
    return rows


def test_history_accumulates_over_days_without_rewriting_the_past(project: Project) -> None:
    project.write_source({"accounts": [{"username": u} for u in ACCOUNTS], "default_schema": {"client": "acme"}})
    world = project.server.world
    truth: dict[tuple, dict] = {}
    clock = [NOW]
    with use_clock(lambda: clock[0]):
        for step in range(4):
            clock[0] = NOW + dt.timedelta(days=step)
            world.set_now_ms(int(clock[0].timestamp() * 1000))
            world.advance(1)  # a day of likes and retweets: each day's read differs from the last
            today = clock[0].date()
            first, last = today - dt.timedelta(days=3), today - dt.timedelta(days=1)
            result = project.materialize(["tweet_insights"], days=(first, last))
            assert result.success
            truth.update(expected_observations(project, first, last, today))
            # the run reports the history it wrote
            reported = [
                m for m in result.get_asset_materialization_events() if m.asset_key.path[-1] == "tweet_metrics_history"
            ]
            assert len(reported) == 1
            assert materializations_of(result, "tweet_insights")
            stored = observations(project)
            assert stored == truth  # every earlier day exactly as it was read then
    ages = {key[0]: set() for key in truth}
    for (observed, _), row in truth.items():
        ages[observed].add(row["age_days"])
    assert len(ages) == 4 and all(a <= {1, 2, 3} for a in ages.values())
    # the same post read on two days has two rows with the counts of each day
    assert any(
        truth[(d1, t)]["like_count"] < truth[(d2, t)]["like_count"]
        for (d1, t) in truth
        for (d2, t2) in truth
        if t == t2 and d2 > d1 and not truth[(d1, t)]["is_retweet"]
    )


def test_a_second_read_the_same_day_replaces_that_days_row(project: Project) -> None:
    project.write_source({"accounts": [{"username": "AcmeNews"}], "default_schema": {"client": "acme"}})
    world = project.server.world
    first, last = NOW.date() - dt.timedelta(days=3), NOW.date() - dt.timedelta(days=1)
    assert project.materialize(["tweet_insights"], days=(first, last)).success
    before = observations(project)
    assert before and {d for d, _ in before} == {NOW.date()}
    world.advance(1)  # later the same UTC day, the counts have moved
    assert project.materialize(["tweet_insights"], days=(first, last)).success
    after = observations(project)
    assert after.keys() == before.keys()  # replaced, not added
    expected = {}
    for tweet_id, row in expected_tweet_rows(project.server, "AcmeNews", first, last).items():
        expected[(NOW.date(), tweet_id)] = row["like_count"]
    assert {k: v["like_count"] for k, v in after.items()} == expected
    assert after != before


def test_history_off_when_not_among_the_endpoints(project: Project) -> None:
    project.write_source({"accounts": [{"username": "AcmeNews"}], "endpoints": ["tweet_insights"]})
    result = project.materialize(["tweet_insights"], partition=str(NOW.date() - dt.timedelta(days=1)))
    assert result.success
    assert project.query("SELECT count(*) FROM x.tweet_insights")[0][0] > 0
    tables = project.query("SELECT table_name FROM duckdb_tables() WHERE table_name = 'tweet_metrics_history'")
    assert tables == []
    assert not history_reports(result)


def test_engagement_by_age_follows_the_history(project: Project) -> None:
    project.write_source({"accounts": [{"username": u} for u in ACCOUNTS], "default_schema": {"client": "acme"}})
    world = project.server.world
    clock = [NOW]
    post_day = NOW.date() - dt.timedelta(days=1)
    engagement_at: dict[int, dict[str, int]] = {}
    with use_clock(lambda: clock[0]):
        for age in range(1, 8):  # the post day read each day at ages 1..7, as the lookback does
            clock[0] = dt.datetime.combine(post_day + dt.timedelta(days=age), dt.time(1), tzinfo=dt.UTC)
            world.set_now_ms(int(clock[0].timestamp() * 1000))
            world.advance(1)
            assert project.materialize(["tweet_insights"], partition=str(post_day)).success
            engagement_at[age] = {
                tweet_id: row["like_count"] + row["own_retweet_count"] + row["reply_count"] + row["quote_count"]
                for username in ACCOUNTS
                for tweet_id, row in expected_tweet_rows(project.server, username, post_day, post_day).items()
            }
        result = project.materialize(["engagement_by_age"], partition=str(post_day))
    assert result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"unique_key": True, "no_negative_counts": True, "follows_from_history": True}
    rows = {r["tweet_id"]: r for r in project.frame("SELECT * FROM x.engagement_by_age").to_dicts()}
    assert rows.keys() == engagement_at[7].keys() and rows
    for tweet_id, row in rows.items():
        assert (row["engagement_day_1"], row["engagement_day_3"], row["engagement_day_7"]) == (
            engagement_at[1][tweet_id],
            engagement_at[3][tweet_id],
            engagement_at[7][tweet_id],
        )
        assert row["observations"] == 7 and row["last_observed_age"] == 7 and row["client"] == "acme"
    weekly = project.frame("SELECT * FROM x.engagement_by_age_weekly").to_dicts()
    assert sum(w["posts"] for w in weekly) == len(rows)
    for week in weekly:
        mine = [r for r in rows.values() if r["account_id"] == week["account_id"]]
        assert week["avg_engagement_day_7"] == round(sum(r["engagement_day_7"] for r in mine) / len(mine), 2)
    chart = project.tmp / "data" / "charts" / "engagement_by_age.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_read_is_observed_on_its_utc_day_at_any_hour() -> None:
    """The suite runs at one instant; this holds for every hour, whenever it runs (a read after
    12:00 UTC once landed on the next day: DuckDB's // on a DOUBLE does not floor)."""
    import duckdb

    from x_assets.warehouse.store import EPOCH_DAY

    day = dt.date(2026, 12, 3)
    with duckdb.connect() as conn:
        conn.execute("SET TimeZone = 'Pacific/Kiritimati'")  # +14:00: the session's zone must not matter
        for seconds in (0, 1, 11 * 3600 + 59 * 60, 12 * 3600, 12 * 3600 + 38 * 60, 86399):
            at = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)
            ((observed,),) = conn.execute(f"SELECT {EPOCH_DAY.format('?::TIMESTAMPTZ')}", [at]).fetchall()
            assert observed == day, at
