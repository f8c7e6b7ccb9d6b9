"""tweet_insights against the emulator: every column, idempotent slices, one pass per account."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from x_assets.ingest import loads

from .conftest import TODAY, Project, account_by_name, control, dump, expected_tweet_rows, materializations_of, utc_date

WEEK = (TODAY - dt.timedelta(days=7), TODAY - dt.timedelta(days=1))
COLUMNS = [
    "created_date",
    "tweet_id",
    "account_id",
    "username",
    "account_name",
    "created_at",
    "text",
    "lang",
    "is_retweet",
    "is_quote",
    "is_reply",
    "retweet_count",
    "own_retweet_count",
    "original_tweet_id",
    "original_retweet_count",
    "like_count",
    "reply_count",
    "quote_count",
    "bookmark_count",
    "impression_count",
]


def stored_rows(project: Project, username: str) -> dict[str, dict]:
    frame = project.frame(f"SELECT * FROM x.tweet_insights WHERE username = '{username}'")
    return {row["tweet_id"]: row for row in frame.to_dicts()}


def test_every_column_matches_the_world(project: Project) -> None:
    result = project.materialize(["tweet_insights"], days=(TODAY - dt.timedelta(days=39), TODAY - dt.timedelta(days=1)))
    assert result.success
    kinds_seen: set[str] = set()
    for username, name in (("AcmeNews", "Acme News"), ("GlobexDev", None), ("InitechHQ", None)):
        expected = expected_tweet_rows(
            project.server, username, TODAY - dt.timedelta(days=39), TODAY - dt.timedelta(days=1), name
        )
        stored = stored_rows(project, username)
        assert set(stored) == set(expected), username
        for tweet_id, want in expected.items():
            got = {k: stored[tweet_id][k] for k in COLUMNS}
            assert got == want, f"{username} {tweet_id}:\n{dump(got)}\n!=\n{dump(want)}"
            assert stored[tweet_id]["client"] == "acme" and stored[tweet_id]["region"] == "emea"
            assert stored[tweet_id]["fetched_at"].tzinfo is not None
            kinds_seen.add(_kind(want))
    # the comparison covered every kind of post the issue names
    assert {
        "original",
        "reply",
        "quote",
        "quote_reply",
        "retweet",
        "retweet_of_deleted",
        "long",
        "predates_metrics",
    } <= kinds_seen


def _kind(row: dict) -> str:
    if row["is_retweet"]:
        return "retweet" if row["original_retweet_count"] is not None else "retweet_of_deleted"
    if row["bookmark_count"] == 0 and row["impression_count"] == 0:
        return "predates_metrics"  # X reports 0 for posts older than the metric
    if len(row["text"]) > 280:
        return "long"
    if row["is_quote"] and row["is_reply"]:
        return "quote_reply"
    return "quote" if row["is_quote"] else "reply" if row["is_reply"] else "original"


def test_rerunning_a_day_or_a_range_replaces_rows(project: Project) -> None:
    day = str(TODAY - dt.timedelta(days=4))
    assert project.materialize(["tweet_insights"], partition=day).success
    first = project.query("SELECT count(*), count(DISTINCT tweet_id) FROM x.tweet_insights")[0]
    assert first[0] == first[1] > 0
    control(project.server, "POST", "/advance", {"steps": 1})
    assert project.materialize(["tweet_insights"], partition=day).success
    assert project.query("SELECT count(*), count(DISTINCT tweet_id) FROM x.tweet_insights")[0] == first
    assert project.materialize(["tweet_insights"], days=WEEK).success
    assert project.materialize(["tweet_insights"], days=WEEK).success
    total, distinct, days = project.query(
        "SELECT count(*), count(DISTINCT tweet_id), count(DISTINCT created_date) FROM x.tweet_insights"
    )[0]
    assert total == distinct and days == 7
    expected = sum(
        len(expected_tweet_rows(project.server, u, *WEEK))
        for u in ("AcmeNews", "GlobexDev", "InitechHQ", "PrivateLabs")
    )
    assert total == expected
    # the re-read picked up the advanced metrics
    acme = stored_rows(project, "AcmeNews")
    truth = expected_tweet_rows(project.server, "AcmeNews", *WEEK, "Acme News")
    assert all(acme[k]["like_count"] == v["like_count"] for k, v in truth.items())


def test_a_range_is_one_pass_per_account(project: Project) -> None:
    assert project.materialize(["tweet_insights"], days=WEEK).success
    stats = project.stats()
    for username in ("AcmeNews", "GlobexDev", "InitechHQ"):
        account = account_by_name(project.server, username)
        # a window that ends yesterday is read up to now, so today's posts count too
        posts = sum(utc_date(t.created_ms) >= WEEK[0] for t in project.server.world.visible_tweets(account))
        pages = stats["requests_by_path"][f"/2/users/{account.id}/tweets"]
        assert pages == max(1, math.ceil(posts / 100)), (username, posts, pages)
    # one lookup for the handles; no per-day requests
    assert stats["requests"]["GET /2/users/by"] == 2  # default scope, and PrivateLabs' own scope


def test_per_account_credentials_are_used_for_exactly_that_account(project: Project) -> None:
    assert project.materialize(["tweet_insights"], days=WEEK).success
    private = account_by_name(project.server, "PrivateLabs")
    stats = project.stats()["requests_by_credential_and_route"]
    owner_routes = {k: v for k, v in stats.items() if k.startswith("privatelabs-owner ")}
    assert owner_routes == {"privatelabs-owner GET /2/users/by": 1, "privatelabs-owner GET /2/users/:id/tweets": 1}
    assert project.stats()["requests_by_path"][f"/2/users/{private.id}/tweets"] == 1
    assert stored_rows(project, "PrivateLabs")  # readable with its own token only


def test_bad_accounts_are_recorded_and_the_rest_loaded(project: Project) -> None:
    assert project.materialize(["tweet_insights"], days=WEEK).success
    statuses = dict(
        project.query(
            "SELECT username, list(DISTINCT status)[1] FROM x.account_status "
            "WHERE endpoint = 'tweet_insights' GROUP BY 1"
        )
    )
    assert statuses == {
        "AcmeNews": "ok",
        "GlobexDev": "ok",
        "InitechHQ": "ok",
        "PrivateLabs": "ok",
        "LockedVault": "protected",
        "BannedBrand": "suspended",
        "GoneForGood": "not_found",
    }
    assert project.query("SELECT count(*) FROM x.account_status WHERE endpoint = 'tweet_insights'")[0][0] == 7 * 7
    loaded = {r[0] for r in project.query("SELECT DISTINCT username FROM x.tweet_insights")}
    assert loaded == {"AcmeNews", "GlobexDev", "InitechHQ", "PrivateLabs"}


def test_deleted_posts_leave_the_table_on_rerun(project: Project) -> None:
    assert project.materialize(["tweet_insights"], days=WEEK).success
    acme = account_by_name(project.server, "AcmeNews")
    victim = next(iter(expected_tweet_rows(project.server, "AcmeNews", *WEEK)))
    control(project.server, "DELETE", f"/tweets/{victim}")
    assert project.materialize(["tweet_insights"], days=WEEK).success
    assert not project.query("SELECT 1 FROM x.tweet_insights WHERE tweet_id = ?", [victim])
    assert project.query("SELECT count(*) FROM x.tweet_insights WHERE account_id = ?", [str(acme.id)])[0][0] == len(
        expected_tweet_rows(project.server, "AcmeNews", *WEEK)
    )


def test_metadata_reports_what_the_run_did(project: Project) -> None:
    result = project.materialize(["tweet_insights"], days=WEEK)
    materializations = materializations_of(result, "tweet_insights")
    metadata = materializations[0].metadata
    assert metadata["run_row_count"].value == project.query("SELECT count(*) FROM x.tweet_insights")[0][0]
    assert metadata["requests_total"].value == project.stats()["requests_total"]
    assert metadata["days"].value == f"{WEEK[0]}..{WEEK[1]}"
    (observation,) = result.asset_observations_for_node("tweet_insights")  # a ranged run's detail, said once
    assert "preview" in observation.metadata and "preview" not in metadata


@pytest.mark.parametrize("every", [0.0, 3600.0])
def test_a_ranged_run_logs_progress_by_account(project: Project, monkeypatch: pytest.MonkeyPatch, every: float) -> None:
    monkeypatch.setattr(loads, "PROGRESS_EVERY_S", every)
    first = TODAY - dt.timedelta(days=9)
    result = project.materialize(["tweet_insights"], days=(first, TODAY), max_workers=2)
    assert result.success
    messages = [e.user_message for e in project.instance.all_logs(result.run_id) if e.user_message]
    progress = [m for m in messages if m.startswith("account ") and "left" in m]
    readable = 5  # AcmeNews, GlobexDev, InitechHQ, LockedVault (refused: protected), PrivateLabs
    # every account when each takes longer than the interval; else the first, the last, and any not read
    numbers = [int(m.split()[1].split("/")[0]) for m in progress]
    if every == 0:
        assert numbers == list(range(1, readable + 1))
    else:
        locked = [m for m in progress if "LockedVault" in m]
        assert len(locked) == 1 and "protected" in locked[0]
        assert numbers[0] == 1 and numbers[-1] == readable and len(numbers) <= 3
    assert all("request(s)" in m and "rate-limit wait(s)" in m and "elapsed" in m for m in progress)
    assert any("post(s) in" in m and "page(s)" in m for m in progress)
