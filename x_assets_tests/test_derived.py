"""account_daily_growth and tweet_engagement: computed from what the emulator served, gaps kept honest."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import re
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from x_assets.warehouse.derived import TOP_TWEETS_PER_WEEK, TOP_TWEETS_VIEW

from .conftest import TODAY, Project, account_by_name, control, expected_tweet_rows

YESTERDAY = TODAY - dt.timedelta(days=1)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    """A run's metadata: its last day's materialization, and for a ranged run the observation that
    says its chart and preview once."""
    events = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(asset)]
    assert events  # a ranged run records one materialization per day
    found = dict(events[-1].materialization.metadata)
    for observation in result.asset_observations_for_node(asset):
        found.update(observation.metadata)
    return found


def test_growth_is_the_change_between_consecutive_snapshots(project: Project) -> None:
    assert project.materialize(["account_insights", "account_daily_growth"], partition=str(YESTERDAY)).success
    acme = account_by_name(project.server, "AcmeNews")
    before = (acme.followers_count, acme.following_count, acme.like_count, acme.listed_count)
    tweets_before = project.server.world.tweet_count(acme)
    control(project.server, "POST", "/advance", {"steps": 1})
    control(project.server, "POST", "/tweets", {"author_id": acme.id, "count": 3})
    result = project.materialize(["account_insights", "account_daily_growth"], partition=str(TODAY))
    assert result.success

    rows = project.frame(
        f"SELECT * FROM x.account_daily_growth WHERE account_id = '{acme.id}' ORDER BY date"
    ).to_dicts()
    assert [r["date"] for r in rows] == [YESTERDAY, TODAY]
    first, second = rows
    assert first["previous_date"] is None and first["followers_change"] is None  # nothing to compare with
    assert second["previous_date"] == YESTERDAY and second["days_since_previous"] == 1
    assert second["followers_change"] == acme.followers_count - before[0]
    assert second["following_change"] == acme.following_count - before[1]
    assert second["likes_given"] == acme.like_count - before[2]
    assert second["listed_change"] == acme.listed_count - before[3]
    assert second["tweets_posted"] == project.server.world.tweet_count(acme) - tweets_before == 3
    assert second["account_name"] == "Acme News" and second["client"] == "acme"  # default schema carried over
    # every snapshotted account, once per day
    assert project.query("SELECT count(*), count(DISTINCT (date, account_id)) FROM x.account_daily_growth")[0] == (
        10,
        10,
    )
    found = metadata(result, "account_daily_growth")
    assert found["dagster/row_count"].value == 5 and found["accounts"].value == 5


def test_a_gap_is_reported_not_filled(project: Project) -> None:
    assert project.materialize(["account_insights"], partition=str(TODAY)).success
    acme = account_by_name(project.server, "AcmeNews")
    long_ago = TODAY - dt.timedelta(days=4)
    with duckdb.connect(project.database) as conn:  # a snapshot kept from a run four days ago
        conn.execute(
            "INSERT INTO x.account_insights SELECT * REPLACE (?::DATE AS date, followers_count - 400 AS "
            "followers_count) FROM x.account_insights WHERE account_id = ?",
            [long_ago, str(acme.id)],
        )
    assert project.materialize(["account_daily_growth"], partition=str(TODAY)).success
    row = project.frame(
        f"SELECT * FROM x.account_daily_growth WHERE account_id = '{acme.id}' AND date = DATE '{TODAY}'"
    ).row(0, named=True)
    assert row["previous_date"] == long_ago and row["days_since_previous"] == 4
    assert row["followers_change"] == 400  # the whole gap's change, on the day it was observed
    assert project.query("SELECT count(*) FROM x.account_daily_growth WHERE date < ?", [TODAY])[0][0] == 0


def test_engagement_counts_retweets_once_and_uses_followers_at_the_time(project: Project) -> None:
    first = TODAY - dt.timedelta(days=13)
    assert project.materialize(["account_insights"], partition=str(TODAY)).success
    result = project.materialize(["tweet_insights", "tweet_engagement"], days=(first, TODAY))
    assert result.success

    acme = account_by_name(project.server, "AcmeNews")
    expected = expected_tweet_rows(project.server, "AcmeNews", first, TODAY, "Acme News")
    rows = {
        r["tweet_id"]: r
        for r in project.frame(f"SELECT * FROM x.tweet_engagement WHERE account_id = '{acme.id}'").to_dicts()
    }
    assert set(rows) == set(expected)
    followers = project.query("SELECT followers_count FROM x.account_insights WHERE account_id = ?", [str(acme.id)])
    retweets = 0
    for tweet_id, truth in expected.items():
        row = rows[tweet_id]
        engagement = truth["like_count"] + truth["own_retweet_count"] + truth["reply_count"] + truth["quote_count"]
        assert row["engagement"] == engagement, tweet_id
        retweets += truth["is_retweet"]
        if truth["is_retweet"]:
            assert row["engagement"] == 0  # the original's retweets are not counted again
        assert row["week"] == truth["created_date"] - dt.timedelta(days=truth["created_date"].weekday())
        if truth["created_date"] == TODAY:  # the only snapshot is today's
            assert row["followers_at_time"] == followers[0][0] and row["followers_date"] == TODAY
            assert abs(row["engagement_rate"] - engagement / followers[0][0]) < 1e-12
        else:
            assert row["followers_at_time"] is None and row["engagement_rate"] is None
    assert retweets > 0  # the window holds retweets, so the rule above was exercised

    top = project.frame(f"SELECT * FROM {TOP_TWEETS_VIEW} WHERE account_id = '{acme.id}'")
    assert top.height > 0
    for (week,), group in top.group_by(["week"]):
        in_week = sorted(
            (r for r in rows.values() if r["week"] == week), key=lambda r: (-r["engagement"], r["tweet_id"])
        )
        assert group.sort("rank_in_week")["tweet_id"].to_list() == [
            r["tweet_id"] for r in in_week[:TOP_TWEETS_PER_WEEK]
        ]
    # the materialization names each account's best post of the latest week
    latest = max(r["week"] for r in rows.values())
    best = min((r for r in rows.values() if r["week"] == latest), key=lambda r: (-r["engagement"], r["tweet_id"]))
    top = metadata(result, "tweet_engagement")["top_posts_of_the_week"]
    assert isinstance(top, dg.TableMetadataValue)  # the UI's own table: sortable, nothing cut at a pipe
    shown = [r.data for r in top.records]
    assert best["tweet_id"] in {r["tweet_id"] for r in shown}
    assert [c.name for c in top.schema.columns][:2] == ["account_name", "week"]  # who and when lead, ids last
    assert top.schema.columns[-1].name == "tweet_id"


def test_rerunning_a_derived_window_replaces_it(project: Project) -> None:
    first = TODAY - dt.timedelta(days=3)
    assert project.materialize(["tweet_insights", "tweet_engagement"], days=(first, TODAY)).success
    count = project.query("SELECT count(*) FROM x.tweet_engagement")[0][0]
    control(project.server, "POST", "/advance", {"steps": 1})
    assert project.materialize(["tweet_insights", "tweet_engagement"], days=(first, TODAY)).success
    assert project.query("SELECT count(*), count(DISTINCT tweet_id) FROM x.tweet_engagement")[0] == (count, count)
    # the new counts, not the old ones
    stale = project.query(
        "SELECT count(*) FROM x.tweet_engagement e JOIN x.tweet_insights t USING (tweet_id) "
        "WHERE e.engagement <> t.like_count + t.own_retweet_count + t.reply_count + t.quote_count"
    )
    assert stale[0][0] == 0 and count > 0


def test_charts_are_attached_and_written_under_data(project: Project) -> None:
    assert project.materialize(["account_insights"], partition=str(TODAY)).success
    result = project.materialize(["account_daily_growth"], partition=str(TODAY))
    assert result.success
    found = metadata(result, "account_daily_growth")
    path = Path(found["chart_path"].value)
    assert path == project.tmp / "data" / "charts" / "followers.png"
    png = path.read_bytes()
    assert png.startswith(PNG_SIGNATURE) and len(png) > 5_000
    embedded = re.fullmatch(r"!\[followers\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", found["chart"].value)
    assert embedded is not None and base64.b64decode(embedded.group(1)) == png
    # 8 pixel-wide bytes at 16..24 of a PNG are its width and height
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width >= 400 and height >= 200
    assert not list(path.parent.glob("*.partial"))


def test_charts_of_a_single_day_keep_a_sane_axis(project: Project, caplog: pytest.LogCaptureFixture) -> None:
    # One snapshot and one week: matplotlib would widen a single date to four years of daily ticks.
    caplog.set_level(logging.WARNING, logger="matplotlib")
    result = project.materialize(
        ["account_insights", "tweet_insights", "account_daily_growth", "tweet_engagement"], partition=str(TODAY)
    )
    assert result.success
    assert "MAXTICKS" not in caplog.text
    for chart in ("followers.png", "weekly_engagement.png"):
        assert (project.tmp / "data" / "charts" / chart).read_bytes().startswith(PNG_SIGNATURE)


def test_followers_at_time_is_the_latest_snapshot_on_or_before_the_post(project: Project) -> None:
    first = TODAY - dt.timedelta(days=9)
    assert project.materialize(["account_insights"], partition=str(TODAY)).success
    assert project.materialize(["tweet_insights"], days=(first, TODAY)).success
    acme = account_by_name(project.server, "AcmeNews")
    # snapshots kept from runs on earlier days (X keeps no history, so they are written as those runs did)
    snapshots = {
        TODAY - dt.timedelta(days=8): 1_000,
        TODAY - dt.timedelta(days=5): 2_000,
        TODAY - dt.timedelta(days=2): 3_000,
    }
    with duckdb.connect(project.database) as conn:
        for day, followers in snapshots.items():
            conn.execute(
                "INSERT INTO x.account_insights BY NAME SELECT * REPLACE (?::DATE AS date, ? AS followers_count) "
                "FROM x.account_insights WHERE account_id = ? AND date = ?",
                [day, followers, str(acme.id), TODAY],
            )
    snapshots[TODAY] = project.query(
        "SELECT followers_count FROM x.account_insights WHERE account_id = ? AND date = ?", [str(acme.id), TODAY]
    )[0][0]
    assert project.materialize(["tweet_engagement"], days=(first, TODAY)).success
    rows = project.query(
        "SELECT created_date, followers_at_time, followers_date, engagement, engagement_rate FROM x.tweet_engagement "
        "WHERE account_id = ?",
        [str(acme.id)],
    )
    seen_dates = set()
    for created, followers, followers_date, engagement, rate in rows:
        earlier = [d for d in snapshots if d <= created]
        if not earlier:
            assert followers is None and followers_date is None and rate is None
            continue
        latest = max(earlier)
        assert (followers, followers_date) == (snapshots[latest], latest), created
        assert abs(rate - engagement / snapshots[latest]) < 1e-12
        seen_dates.add(latest)
    assert len(seen_dates) >= 3  # posts fell between several snapshots: each was matched to its own


def test_derived_assets_need_no_x_credentials(project: Project) -> None:
    assert project.materialize(["account_insights"], partition=str(TODAY)).success
    assert project.materialize(["tweet_insights"], partition=str(TODAY)).success
    project.monkeypatch.delenv("TEST_PRIVATELABS_TOKEN")  # PrivateLabs' own token: unset now
    project.monkeypatch.delenv("X_BEARER_TOKEN")
    control(project.server, "POST", "/stats/reset")
    result = project.materialize(["account_daily_growth", "tweet_engagement"], partition=str(TODAY))
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    assert project.stats()["requests_total"] == 0


def test_line_charts_of_many_accounts_draw_the_largest_and_say_so() -> None:
    from x_assets.reports.charts import LINES_LIMIT, _largest, _lines, _of_accounts

    day = dt.date(2026, 11, 30)
    series = {f"acct{i:03}": ([day, day + dt.timedelta(days=1)], [float(i), float(1000 - i)]) for i in range(40)}
    shown = _largest(series)
    assert len(shown) == LINES_LIMIT == 12
    assert shown == [f"acct{i:03}" for i in range(12)]  # the largest latest values, in name order
    assert _of_accounts("Weekly", len(shown), len(series)) == "Weekly: the 12 largest of 40 accounts"
    assert _of_accounts("Weekly", 3, 3) == "Weekly"
    assert _lines("Weekly", "engagement", series).startswith(b"\x89PNG")
