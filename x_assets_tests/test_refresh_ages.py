"""The refresh-by-age policy never skips a day it has not read completely.

since_id reads only posts newer than the newest stored one. That is safe only when every
earlier day of the window was read completely: a day that failed, or was never loaded, must
be read again from its start, whatever newer posts are stored.
"""

from __future__ import annotations

import datetime as dt

from .conftest import TODAY, Project, account_by_name, control, expected_tweet_rows

AGES = {"refresh_policy": "ages", "refresh_ages": [1, 3, 7], "backoff_seconds": 0.01, "max_attempts": 2}
ACCOUNTS = ("AcmeNews", "GlobexDev", "InitechHQ")


def day(n: int) -> dt.date:
    return TODAY - dt.timedelta(days=n)


def stored_ids(project: Project, first: dt.date, last: dt.date) -> set[str]:
    rows = project.query("SELECT tweet_id FROM x.tweet_insights WHERE created_date BETWEEN ? AND ?", [first, last])
    return {r[0] for r in rows}


def truth_ids(project: Project, first: dt.date, last: dt.date) -> set[str]:
    return {t for u in ACCOUNTS for t in expected_tweet_rows(project.server, u, first, last)}


def test_an_account_that_failed_on_a_day_gets_that_day_later(project: Project) -> None:
    project.write_source({"accounts": [{"username": u} for u in ACCOUNTS]})
    acme = account_by_name(project.server, "AcmeNews")
    control(project.server, "POST", "/faults", {"kind": "server_error", "path": f"/2/users/{acme.id}/tweets"})
    failed = project.materialize(["tweet_insights"], partition=str(day(2)), **AGES)
    assert not failed.success  # the run names the failed account
    assert project.query(
        "SELECT status FROM x.account_status WHERE account_id = ? AND date = ?", [str(acme.id), day(2)]
    ) == [("failed",)]
    control(project.server, "DELETE", "/faults")
    assert project.materialize(["tweet_insights"], partition=str(day(1)), **AGES).success
    # the lookback over both days must fetch AcmeNews's posts of the failed day, although newer ones are stored
    assert project.materialize(["tweet_insights"], days=(day(2), day(1)), **AGES).success
    acme_day = set(expected_tweet_rows(project.server, "AcmeNews", day(2), day(2)))
    assert acme_day and acme_day <= stored_ids(project, day(2), day(2))
    assert stored_ids(project, day(2), day(1)) == truth_ids(project, day(2), day(1))
    statuses = project.query(
        "SELECT DISTINCT status FROM x.account_status WHERE account_id = ? AND date = ?", [str(acme.id), day(2)]
    )
    assert statuses == [("ok",)]


def test_a_range_with_a_day_never_loaded_reads_that_day(project: Project) -> None:
    project.write_source({"accounts": [{"username": u} for u in ACCOUNTS]})
    assert project.materialize(["tweet_insights"], partition=str(day(1)), **AGES).success
    assert stored_ids(project, day(5), day(2)) == set()
    control(project.server, "POST", "/stats/reset")
    assert project.materialize(["tweet_insights"], days=(day(5), day(1)), **AGES).success
    older = truth_ids(project, day(5), day(2))
    assert older and stored_ids(project, day(5), day(2)) == older
    assert stored_ids(project, day(5), day(1)) == truth_ids(project, day(5), day(1))


def test_a_complete_window_still_reads_only_what_is_new(project: Project) -> None:
    project.write_source({"accounts": [{"username": u} for u in ACCOUNTS]})
    window = (day(4), day(1))
    no_refresh = {**AGES, "refresh_ages": [30]}  # nothing due: the second run reads only what is new
    assert project.materialize(["tweet_insights"], days=window, **no_refresh).success
    assert stored_ids(project, *window) == truth_ids(project, *window)
    control(project.server, "POST", "/stats/reset")
    assert project.materialize(["tweet_insights"], days=window, **no_refresh).success
    stats = project.stats()
    assert stats["requests"]["GET /2/users/:id/tweets"] == len(ACCOUNTS)  # one since_id page each
    newer = truth_ids(project, TODAY, TODAY)  # posted after the newest stored one: today's
    assert stats["posts_returned"] <= 2 * len(newer)  # each new post, and at most one original it references
    assert stored_ids(project, *window) == truth_ids(project, *window)
