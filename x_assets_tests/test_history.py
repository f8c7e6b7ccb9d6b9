"""The 3,200-post horizon: what can be read is loaded, the rest is flagged, never hidden."""

from __future__ import annotations

import datetime as dt

from .conftest import TODAY, Project, account_by_name, control, utc_date

FIREHOSE = {"accounts": [{"username": "FirehoseNews"}, {"username": "AcmeNews"}]}


def test_history_beyond_the_horizon_is_loaded_and_flagged(project: Project) -> None:
    project.write_source(FIREHOSE)
    first = TODAY - dt.timedelta(days=40)
    result = project.materialize(["tweet_insights"], days=(first, TODAY))
    assert result.success
    firehose = account_by_name(project.server, "FirehoseNews")
    reachable = project.server.world.visible_tweets(firehose)[:3200]
    cut_day = utc_date(reachable[-1].created_ms)
    assert project.query("SELECT count(*) FROM x.tweet_insights WHERE account_id = ?", [str(firehose.id)]) == [(3200,)]
    flagged = [
        r[0]
        for r in project.query(
            "SELECT date FROM x.account_status WHERE username = 'FirehoseNews' AND status = 'incomplete' ORDER BY 1"
        )
    ]
    assert flagged[0] == first and flagged[-1] == cut_day and len(flagged) == (cut_day - first).days + 1
    assert project.query("SELECT DISTINCT status FROM x.account_status WHERE username = 'AcmeNews'") == [("ok",)]
    (observation,) = result.asset_observations_for_node("tweet_insights")  # the run's detail, said once
    assert observation.metadata["incomplete_days"].value == {"username:firehosenews": [f"{flagged[0]}..{flagged[-1]}"]}
    logs = [record.user_message for record in project.instance.all_logs(result.run_id)]
    assert any("@FirehoseNews" in m and "beyond the" in m and "marked incomplete" in m for m in logs)


def test_an_old_window_is_checked_with_one_small_probe(project: Project) -> None:
    project.write_source(FIREHOSE)
    firehose = account_by_name(project.server, "FirehoseNews")
    reachable = project.server.world.visible_tweets(firehose)[:3200]
    cut_day = utc_date(reachable[-1].created_ms)
    # a past window straddling the horizon: the days up to the cut are flagged
    window = (cut_day - dt.timedelta(days=2), cut_day + dt.timedelta(days=1))
    assert project.materialize(["tweet_insights"], days=window).success
    statuses = dict(project.query("SELECT date, status FROM x.account_status WHERE username = 'FirehoseNews'"))
    assert [statuses[window[0] + dt.timedelta(days=i)] for i in range(4)] == [
        "incomplete",
        "incomplete",
        "incomplete",
        "ok",
    ]
    # AcmeNews is judged by the same rule: whether its own horizon falls in the window depends on
    # the day the suite runs (the world is built back from now), so the expectation comes from the world.
    acme = account_by_name(project.server, "AcmeNews")
    # its profile counts more than 3,200 posts, so days up to its oldest reachable post are cut short
    acme_cut = utc_date(project.server.world.visible_tweets(acme)[:3200][-1].created_ms)
    days = [window[0] + dt.timedelta(days=i) for i in range(4)]
    acme_statuses = dict(
        project.query("SELECT date, status FROM x.account_status WHERE account_id = ?", [str(acme.id)])
    )
    assert [acme_statuses[d] for d in days] == ["incomplete" if d <= acme_cut else "ok" for d in days]
    # a probe costs one request of at most five posts, only for accounts past 3,200 posts
    stats = project.stats()["requests_by_path"]
    acme_pages = stats[f"/2/users/{acme.id}/tweets"]
    assert acme_pages == 2  # its window page and its probe (its tweet_count is past 3,200 too)


def test_days_that_slipped_past_the_horizon_keep_their_stored_rows(project: Project) -> None:
    project.write_source({"accounts": [{"username": "FirehoseNews"}]})
    first = TODAY - dt.timedelta(days=40)
    assert project.materialize(["tweet_insights"], days=(first, TODAY)).success
    before = dict(project.query("SELECT created_date, count(*) FROM x.tweet_insights GROUP BY 1"))
    flagged_before = {d for (d,) in project.query("SELECT date FROM x.account_status WHERE status = 'incomplete'")}
    assert flagged_before
    firehose = account_by_name(project.server, "FirehoseNews")
    # 300 new posts push the oldest 300 reachable ones past the 3,200 horizon
    control(project.server, "POST", "/tweets", {"author_id": str(firehose.id), "text": "breaking", "count": 300})
    assert project.materialize(["tweet_insights"], days=(first, TODAY)).success
    after = dict(project.query("SELECT created_date, count(*) FROM x.tweet_insights GROUP BY 1"))
    assert sum(after.values()) == sum(before.values()) + 300  # nothing lost, the new ones added
    for day, count in before.items():
        if day != TODAY:
            assert after[day] == count, day
    # the days now past the horizon were read whole by the first run and keep its rows: they stay
    # 'ok'; only the days that were never read whole are flagged
    new_cut = utc_date(project.server.world.visible_tweets(firehose)[3199].created_ms)
    assert new_cut > max(flagged_before)
    flagged = {d for (d,) in project.query("SELECT date FROM x.account_status WHERE status = 'incomplete'")}
    assert flagged == flagged_before
