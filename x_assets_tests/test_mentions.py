"""mentions_insights against the emulator's world, column by column; its 800-mention reach; and
the 'ages' policy reading only mentions that are new."""

from __future__ import annotations

import datetime as dt
from typing import Any

from x_assets.emulator.world import MENTIONS_CAP

from .conftest import NOW_MS, TODAY, Project, account_by_name, control, expected_others_post, utc_date

ACCOUNTS = ("AcmeNews", "GlobexDev", "LockedVault", "FirehoseNews", "BannedBrand")
COLUMNS = (
    "created_date",
    "tweet_id",
    "account_id",
    "username",
    "account_name",
    "author_id",
    "author_username",
    "created_at",
    "text",
    "lang",
    "is_retweet",
    "is_quote",
    "is_reply",
    "retweet_count",
    "like_count",
    "reply_count",
    "quote_count",
    "bookmark_count",
    "impression_count",
    "client",
)


def source(**extra: Any) -> dict[str, Any]:
    return {
        "accounts": [{"username": u} for u in ACCOUNTS],
        "endpoints": ["mentions_insights"],
        "default_schema": {"client": "acme"},
        **extra,
    }


def expected_mentions(project: Project, username: str, first: dt.date, last: dt.date) -> dict[tuple, dict]:
    """Rows as they should be, from the world's objects: the 800 most recent mentions X reaches,
    of authors whose posts are public, created within the window."""
    world = project.server.world
    account = account_by_name(project.server, username)
    rows = {}
    visible = [t for t in world.mentions_of(account) if not world.accounts[t.author_id].is_protected]
    for tweet in visible[:MENTIONS_CAP]:
        day = utc_date(tweet.created_ms)
        if not first <= day <= last:
            continue
        rows[(str(account.id), str(tweet.id))] = {
            **expected_others_post(project.server, tweet),
            "account_id": str(account.id),
            "username": account.username,
            "account_name": account.username,
            "client": "acme",
        }
    return rows


def stored(project: Project) -> dict[tuple, dict]:
    frame = project.frame(f"SELECT {', '.join(COLUMNS)} FROM x.mentions_insights")
    return {(r["account_id"], r["tweet_id"]): r for r in frame.to_dicts()}


def statuses(project: Project, username: str) -> dict[dt.date, tuple[str, str]]:
    rows = project.query(
        "SELECT date, status, detail FROM x.account_status WHERE endpoint = 'mentions_insights' AND username = ?",
        [username],
    )
    return {d: (s, detail) for d, s, detail in rows}


def test_mentions_column_by_column_with_the_800_reach_flagged(project: Project) -> None:
    project.write_source(source())
    first, last = TODAY - dt.timedelta(days=30), TODAY - dt.timedelta(days=1)
    result = project.materialize(["mentions_insights"], days=(first, last))
    assert result.success
    truth: dict[tuple, dict] = {}
    for username in ACCOUNTS:
        truth.update(expected_mentions(project, username, first, last))
    rows = stored(project)
    assert rows.keys() == truth.keys()
    for key, row in rows.items():
        assert row == truth[key], key
    acme = account_by_name(project.server, "AcmeNews")
    assert sum(1 for a, _ in rows if a == str(acme.id)) >= 30
    assert any(r["account_id"] == str(account_by_name(project.server, "LockedVault").id) for r in rows.values()) or (
        not expected_mentions(project, "LockedVault", first, last)
    )
    # FirehoseNews has more mentions than X reaches: the days before the reach are flagged, the rest ok
    firehose = statuses(project, "FirehoseNews")
    oldest_reached = min(r["created_date"] for r in expected_mentions(project, "FirehoseNews", first, last).values())
    assert first < oldest_reached <= last
    for day, (status, detail) in firehose.items():
        if day <= oldest_reached:
            assert status == "incomplete" and "800 most recent mentions" in detail, day
        else:
            assert status == "ok", day
    assert statuses(project, "AcmeNews") == {d: ("ok", "") for d in firehose}
    assert {s for s, _ in statuses(project, "BannedBrand").values()} == {"suspended"}
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {
        "unique_key": True,
        "no_negative_counts": True,
        "accounts_accounted_for": True,
        "complete_slices": False,
    }
    # reads: one post read per mention served; authors are user reads
    tags = project.instance.get_run_by_id(result.dagster_run.run_id).tags
    assert int(tags["x/post_reads"]) == project.stats()["posts_returned"]


def test_a_rerun_replaces_and_ages_reads_only_whats_new(project: Project) -> None:
    project.write_source(source(accounts=[{"username": "AcmeNews"}, {"username": "GlobexDev"}]))
    first, last = TODAY - dt.timedelta(days=6), TODAY
    ages = {"refresh_policy": "ages", "refresh_ages": [30]}
    assert project.materialize(["mentions_insights"], days=(first, last), **ages).success
    before = stored(project)
    assert project.materialize(["mentions_insights"], days=(first, last), **ages).success
    assert stored(project) == before  # nothing new: the same rows, none twice
    # a new mention arrives; the next run asks only for what is newer than the newest stored
    world = project.server.world
    acme, fan = account_by_name(project.server, "AcmeNews"), account_by_name(project.server, "FanClub2024")
    new = world.add_tweet(fan.id, "@AcmeNews just read the release notes", created_ms=NOW_MS // 1000 * 1000)
    new.mentions = (acme.id,)
    fan.tweets.sort(key=lambda t: t.id, reverse=True)
    control(project.server, "POST", "/stats/reset")
    assert project.materialize(["mentions_insights"], days=(first, last), **ages).success
    stats = project.stats()
    assert stats["requests"]["GET /2/users/:id/mentions"] == 2  # one since_id page each
    assert stats["posts_returned"] == 1
    after = stored(project)
    assert after.keys() == before.keys() | {(str(acme.id), str(new.id))}
    truth = {
        **expected_mentions(project, "AcmeNews", first, last),
        **expected_mentions(project, "GlobexDev", first, last),
    }
    assert after.keys() == truth.keys()


def test_ages_refreshes_due_mentions_and_drops_deleted_ones(project: Project) -> None:
    """Under 'ages', mentions are re-read by id on the days they are 1 (here) days old, as posts are."""
    project.write_source(source(accounts=[{"username": "AcmeNews"}]))
    first, last = TODAY - dt.timedelta(days=3), TODAY
    ages = {"refresh_policy": "ages", "refresh_ages": [1]}
    assert project.materialize(["mentions_insights"], days=(first, last), **ages).success
    due_day = TODAY - dt.timedelta(days=1)
    due = [k for k, r in stored(project).items() if r["created_date"] == due_day]
    assert len(due) >= 2
    project.server.world.advance(1)  # their counts move
    gone = due[0][1]
    control(project.server, "DELETE", f"/tweets/{gone}")
    control(project.server, "POST", "/stats/reset")
    assert project.materialize(["mentions_insights"], days=(first, last), **ages).success
    stats = project.stats()
    assert stats["requests"]["GET /2/tweets"] == 1  # the due ones, in one lookup
    rows = stored(project)
    assert (due[0][0], gone) not in rows
    truth = expected_mentions(project, "AcmeNews", first, last)
    for key in due[1:]:
        assert rows[key] == truth[key]  # the counts as they are now, column by column
