"""What runs cost: billable reads in the metadata, the read budget, and the refresh-by-age policy."""

from __future__ import annotations

import datetime as dt
import math

from .conftest import TODAY, Project, account_by_name, control, expected_tweet_rows, materializations_of, utc_date

WEEK = (TODAY - dt.timedelta(days=7), TODAY - dt.timedelta(days=1))
READABLE = ("AcmeNews", "GlobexDev", "InitechHQ", "PrivateLabs")


def metadata(result: object, asset: str = "tweet_insights") -> dict:
    """The run's figures: its totals (run_* keys, on every day's materialization) and its detail
    (said once, in the observation of its last day)."""
    materialization = materializations_of(result, asset)[0]  # type: ignore[arg-type]
    figures = {k: v.value for k, v in materialization.metadata.items()}
    for observation in result.asset_observations_for_node(asset):  # type: ignore[attr-defined]
        figures.update({k: v.value for k, v in observation.metadata.items()})
    return figures


def test_metadata_counts_what_x_bills(project: Project) -> None:
    result = project.materialize(["tweet_insights"], days=WEEK)
    meta = metadata(result)
    stats = project.stats()
    # the same original can come back on several pages; X bills it once a day, and so do we
    assert meta["run_post_reads"] == stats["billable_post_reads"] <= stats["posts_returned"]
    assert meta["run_user_reads"] == stats["users_returned"] == 5  # five accounts exist and are not suspended
    assert meta["run_estimated_usd"] == round(meta["run_post_reads"] * 0.005 + meta["run_user_reads"] * 0.010, 4)
    assert meta["requests"] == stats["requests"]
    cheaper = project.materialize(["tweet_insights"], days=WEEK, post_read_usd=0.001, user_read_usd=0.0)
    assert metadata(cheaper)["run_estimated_usd"] == round(metadata(cheaper)["run_post_reads"] * 0.001, 4)


def test_requests_are_the_minimum_plus_at_most_one_per_account(project: Project) -> None:
    result = project.materialize(["tweet_insights"], days=WEEK)
    stats = project.stats()
    minimum = 2  # one handle lookup per credential scope (default, PrivateLabs' own)
    for username in READABLE:
        account = account_by_name(project.server, username)
        posts = sum(utc_date(t.created_ms) >= WEEK[0] for t in project.server.world.visible_tweets(account))
        minimum += math.ceil(posts / 100)
    minimum += 1  # LockedVault: one request learns that its timeline is protected
    assert minimum <= metadata(result)["requests_total"] == stats["requests_total"] <= minimum + len(READABLE)


def test_a_read_budget_stops_before_it_is_exceeded_and_flags_the_rest(project: Project) -> None:
    project.write_source({"accounts": [{"username": "FirehoseNews"}, {"username": "AcmeNews"}]})
    budget = 600
    result = project.materialize(["tweet_insights"], days=WEEK, max_post_reads=budget, max_workers=1)
    assert result.success
    stats = project.stats()
    assert stats["posts_returned"] <= budget
    meta = metadata(result)
    assert meta["run_post_reads"] == stats["billable_post_reads"]
    flagged = project.query("SELECT DISTINCT detail FROM x.account_status WHERE status = 'incomplete'")
    assert flagged == [("not read: the run's post-read budget was reached",)]
    # what was written is whole days: each stored day holds every post of that day
    firehose = account_by_name(project.server, "FirehoseNews")
    truth = expected_tweet_rows(project.server, "FirehoseNews", *WEEK)
    per_day: dict[dt.date, set[str]] = {}
    for tweet_id, row in truth.items():
        per_day.setdefault(row["created_date"], set()).add(tweet_id)
    stored = project.query(
        "SELECT created_date, list(tweet_id) FROM x.tweet_insights WHERE account_id = ? GROUP BY 1", [str(firehose.id)]
    )
    incomplete_days = {
        d
        for (d,) in project.query(
            "SELECT date FROM x.account_status WHERE status = 'incomplete' AND account_id = ?", [str(firehose.id)]
        )
    }
    complete = [(day, ids) for day, ids in stored if day not in incomplete_days]
    assert complete and incomplete_days  # the budget cut the week: some days whole, the rest flagged
    for day, ids in complete:
        assert set(ids) == per_day[day]


def test_refresh_by_age_rereads_only_due_posts(project: Project) -> None:
    assert project.materialize(["tweet_insights"], days=WEEK).success
    before = dict(project.query("SELECT tweet_id, like_count FROM x.tweet_insights"))
    control(project.server, "POST", "/advance", {"steps": 2})
    due_days = {TODAY - dt.timedelta(days=a) for a in (1, 3, 7)}
    doomed = next(
        k for k, v in expected_tweet_rows(project.server, "AcmeNews", *WEEK).items() if v["created_date"] in due_days
    )
    control(project.server, "DELETE", f"/tweets/{doomed}")
    control(project.server, "POST", "/stats/reset")

    result = project.materialize(["tweet_insights"], days=WEEK, refresh_policy="ages", refresh_ages=[1, 3, 7])
    assert result.success
    after = dict(project.query("SELECT tweet_id, like_count FROM x.tweet_insights"))
    assert doomed not in after  # reported gone by the lookup, so removed
    for username in READABLE:
        for tweet_id, row in expected_tweet_rows(project.server, username, *WEEK).items():
            if row["created_date"] in due_days:
                assert after[tweet_id] == row["like_count"]  # refreshed
            else:
                assert after[tweet_id] == before[tweet_id]  # not due: not read again
    due = (
        sum(
            1
            for u in READABLE
            for r in expected_tweet_rows(project.server, u, *WEEK).values()
            if r["created_date"] in due_days
        )
        + 1
    )  # the deleted one was asked for too
    stats = project.stats()
    assert stats["requests"]["GET /2/tweets"] == len(READABLE)  # one lookup of up to 100 ids per account
    assert stats["requests"]["GET /2/users/:id/tweets"] == len(READABLE) + 1  # since_id pages; LockedVault
    newer_posts = sum(
        utc_date(t.created_ms) == TODAY
        for u in READABLE
        for t in project.server.world.visible_tweets(account_by_name(project.server, u))
    )
    window_posts = sum(len(expected_tweet_rows(project.server, u, *WEEK)) for u in READABLE)
    # far fewer post reads than re-reading the week (refreshed posts, their originals, and today's new ones)
    assert stats["posts_returned"] < window_posts
    assert stats["posts_returned"] >= due - 1 + newer_posts


def test_refresh_policy_from_the_environment(project: Project) -> None:
    project.monkeypatch.setenv("X_REFRESH_POLICY", "ages:7,1")
    project.monkeypatch.setenv("X_MAX_POST_READS", "1000")
    resources = project.resources()
    assert (resources["x"].refresh_policy, resources["x"].refresh_ages) == ("ages", [1, 7])
    assert resources["x"].max_post_reads == 1000
    project.monkeypatch.setenv("X_REFRESH_POLICY", "sometimes")
    try:
        project.resources()
    except ValueError as exc:
        assert "X_REFRESH_POLICY must be" in str(exc)
    else:
        raise AssertionError("a bad X_REFRESH_POLICY was accepted")


def test_the_runs_cost_is_a_run_tag_and_in_the_summary_line(project: Project) -> None:
    result = project.materialize(["account_insights", "tweet_insights"], partition=str(WEEK[1]))
    assert result.success
    run = project.instance.get_run_by_id(result.run_id)
    assert run is not None
    totals = [metadata(result, asset) for asset in ("account_insights", "tweet_insights")]
    # the runs list shows the run's cost: both steps added up
    assert float(run.tags["x/estimated_usd"]) == round(sum(t["run_estimated_usd"] for t in totals), 4) > 0
    assert int(run.tags["x/post_reads"]) == sum(t["run_post_reads"] for t in totals)
    assert int(run.tags["x/user_reads"]) == sum(t["run_user_reads"] for t in totals)
    lines = [r.user_message for r in project.instance.all_logs(result.run_id)]
    summary = next(m for m in lines if m.startswith(f"tweet_insights {WEEK[1]}.."))
    assert f"about ${totals[1]['run_estimated_usd']:,.3f}" in summary
