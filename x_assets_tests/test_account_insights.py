"""account_insights against the emulator: snapshots keyed by id, states recorded, no past days."""

from __future__ import annotations

import datetime as dt

import duckdb

from .conftest import NOW, TODAY, Project, account_by_name, control, materializations_of


def snapshot(project: Project, day: dt.date) -> dict[str, dict]:
    frame = project.frame(f"SELECT * FROM x.account_insights WHERE date = DATE '{day}'")
    return {row["account_id"]: row for row in frame.to_dicts()}


def test_snapshot_matches_the_world(project: Project) -> None:
    result = project.materialize(["account_insights"], partition=str(TODAY))
    assert result.success
    rows = snapshot(project, TODAY)
    world = project.server.world
    expected = {"AcmeNews", "GlobexDev", "InitechHQ", "LockedVault", "PrivateLabs"}  # protected ones included
    assert {r["username"] for r in rows.values()} == expected
    for username in expected:
        account = account_by_name(project.server, username)
        row = rows[str(account.id)]
        assert row == {
            "date": TODAY,
            "account_id": str(account.id),
            "username": account.username,
            "account_name": "Acme News" if username == "AcmeNews" else account.username,
            "followers_count": account.followers_count,
            "following_count": account.following_count,
            "tweet_count": world.tweet_count(account),
            "listed_count": account.listed_count,
            "like_count": account.like_count,
            "fetched_at": row["fetched_at"],
            "client": "acme",
            "region": "emea",
        }
        assert row["fetched_at"].tzinfo is not None
    statuses = dict(
        project.query(
            "SELECT username, status FROM x.account_status WHERE endpoint = 'account_insights' AND date = ?", [TODAY]
        )
    )
    assert statuses["BannedBrand"] == "suspended" and statuses["GoneForGood"] == "not_found"
    assert statuses["LockedVault"] == "protected" and statuses["AcmeNews"] == "ok"
    assert project.query("SELECT account_id FROM x.account_status WHERE username = 'GoneForGood'")[0][0] is None


def test_rerun_replaces_the_snapshot(project: Project) -> None:
    assert project.materialize(["account_insights"], partition=str(TODAY)).success
    control(project.server, "POST", "/advance", {"steps": 1})
    assert project.materialize(["account_insights"], partition=str(TODAY)).success
    rows = snapshot(project, TODAY)
    assert len(rows) == 5 == project.query("SELECT count(*) FROM x.account_insights")[0][0]
    acme = account_by_name(project.server, "AcmeNews")
    assert rows[str(acme.id)]["followers_count"] == acme.followers_count  # the newer observation
    assert project.query("SELECT count(*) FROM x.account_status WHERE endpoint = 'account_insights'")[0][0] == 7


def test_yesterday_can_be_observed_but_not_earlier(project: Project) -> None:
    assert project.materialize(["account_insights"], partition=str(TODAY - dt.timedelta(days=1))).success
    result = project.materialize(["account_insights"], partition=str(TODAY - dt.timedelta(days=2)))
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "X keeps no history of follower or post counts" in failure.message
    assert project.query("SELECT count(*) FROM x.account_insights WHERE date = ?", [TODAY - dt.timedelta(days=2)]) == [
        (0,)
    ]
    assert project.stats()["requests_total"] == 2  # the refused run asked X nothing


def test_a_renamed_handle_keeps_its_id_and_a_freed_handle_is_not_followed(project: Project) -> None:
    acme = account_by_name(project.server, "AcmeNews")
    assert project.materialize(["account_insights"], partition=str(TODAY)).success
    control(project.server, "POST", "/rename", {"account_id": str(acme.id), "username": "AcmeMedia"})
    squatter = control(project.server, "POST", "/users", {"username": "AcmeNews"})
    control(project.server, "POST", "/advance", {"steps": 1})
    control(project.server, "POST", "/stats/reset")
    assert project.materialize(["account_insights"], partition=str(TODAY)).success
    rows = snapshot(project, TODAY)
    assert squatter["id"] not in rows
    assert rows[str(acme.id)]["username"] == "AcmeMedia"
    assert rows[str(acme.id)]["account_name"] == "Acme News"  # the configured name is kept
    assert rows[str(acme.id)]["followers_count"] == acme.followers_count
    # later runs looked the account up by its stored id, not by the handle
    assert project.query("SELECT account_id FROM x.account_registry WHERE account_key = 'username:acmenews'") == [
        (str(acme.id),)
    ]
    # only the handles never resolved (the suspended and the missing one) are tried by handle again
    assert project.stats()["requests"] == {"GET /2/users/by": 1, "GET /2/users": 2}


def test_new_default_schema_column_is_added_to_existing_tables(project: Project) -> None:
    assert project.materialize(["account_insights"], partition=str(TODAY)).success
    project.write_source({**project.source, "default_schema": {"client": "acme", "region": "emea", "tier": 2}})
    assert project.materialize(["account_insights"], partition=str(TODAY)).success
    tiers = project.query("SELECT DISTINCT tier FROM x.account_insights")
    assert tiers == [(2,)]
    assert project.query("SELECT count(*) FROM x.account_insights")[0][0] == 5


def test_many_unknown_accounts_make_one_warning_not_one_each(project: Project) -> None:
    unknown = [{"username": f"nobody_{i}"} for i in range(30)]
    project.write_source({"accounts": [{"username": "AcmeNews"}, *unknown]})
    result = project.materialize(["account_insights"], partition=str(TODAY))
    assert result.success
    warnings = [
        r.user_message
        for r in project.instance.all_logs(result.run_id)
        if r.level >= 30 and "nobody_" in r.user_message
    ]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("30 accounts not_found: @nobody_0") and "and 20 more" in warnings[0]
    statuses = project.query("SELECT count(*) FROM x.account_status WHERE status = 'not_found'")
    assert statuses == [(30,)]  # every one is recorded where a person looks for it


def _stored_snapshot(project: Project, day: dt.date) -> tuple[int, dt.datetime]:
    ((followers, fetched_at),) = project.query(
        "SELECT followers_count, fetched_at FROM x.account_insights WHERE date = ? AND username = 'AcmeNews'", [day]
    )
    return followers, fetched_at


def _pretend_taken(project: Project, day: dt.date, at: dt.datetime, followers: int) -> None:
    with duckdb.connect(project.database) as conn:
        conn.execute(
            "UPDATE x.account_insights SET fetched_at = ?, followers_count = ? "
            "WHERE date = ? AND username = 'AcmeNews'",
            [at, followers, day],
        )


def test_the_snapshot_nearest_the_end_of_the_day_represents_it(project: Project) -> None:
    project.write_source({"accounts": [{"username": "AcmeNews"}]})
    yesterday = TODAY - dt.timedelta(days=1)
    end = dt.datetime.combine(TODAY, dt.time(), tzinfo=dt.UTC)  # yesterday's end
    assert project.materialize(["account_insights"], partition=str(yesterday)).success
    now = NOW
    # a stored snapshot taken closer to yesterday's end than a re-run now is kept ...
    closer = end + (now - end) / 2
    _pretend_taken(project, yesterday, closer, 123)
    rerun = project.materialize(["account_insights"], partition=str(yesterday))
    assert rerun.success
    assert _stored_snapshot(project, yesterday) == (123, closer)
    logs = [r.user_message for r in project.instance.all_logs(rerun.run_id)]
    assert any("kept 1 stored snapshot(s) taken closer to the end of their UTC day" in m for m in logs)
    # ... and one taken farther from it is replaced
    farther = end - (now - end) - dt.timedelta(hours=1)
    _pretend_taken(project, yesterday, farther, 123)
    assert project.materialize(["account_insights"], partition=str(yesterday)).success
    followers, fetched_at = _stored_snapshot(project, yesterday)
    assert followers != 123 and fetched_at >= now
    # during the day, a later snapshot is nearer the day's end: it replaces the earlier one
    assert project.materialize(["account_insights"], partition=str(TODAY)).success
    _pretend_taken(project, TODAY, now - dt.timedelta(minutes=5), 7)
    assert project.materialize(["account_insights"], partition=str(TODAY)).success
    assert _stored_snapshot(project, TODAY)[0] != 7


def test_more_than_100_accounts_are_looked_up_100_at_a_time(project: Project) -> None:
    handles = ["AcmeNews", "GlobexDev"] + [f"nobody_{i}" for i in range(148)]
    project.write_source({"accounts": [{"username": h} for h in handles]})
    assert project.materialize(["account_insights"], partition=str(TODAY)).success
    assert project.stats()["requests"] == {"GET /2/users/by": 2}  # 150 handles, 100 per request
    assert project.query("SELECT count(*) FROM x.account_insights") == [(2,)]
    assert project.query("SELECT count(*) FROM x.account_status WHERE status = 'not_found'") == [(148,)]
    # the next run looks the two resolved accounts up by id, and the others by handle again
    assert project.materialize(["account_insights"], partition=str(TODAY)).success
    assert project.stats()["requests"] == {"GET /2/users/by": 4, "GET /2/users": 1}


def test_a_disabled_endpoint_on_a_fresh_warehouse_is_skipped_cleanly(project: Project) -> None:
    project.write_source({**project.source, "endpoints": ["tweet_insights"]})
    result = project.materialize(["account_insights"], partition=str(TODAY))
    assert result.success
    [materialization] = materializations_of(result, "account_insights")
    assert "disabled" in str(materialization.metadata["skipped"].value)
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks)
    assert project.stats()["requests_total"] == 0
