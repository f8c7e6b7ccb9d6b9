"""search_insights: each query's matches column by column against the emulator's world, the 7-day
reach of recent search reported instead of written as empty days, incremental 'ages' runs, and
bad queries refused before any request (by the connector, and by the emulator as X answers)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import requests

from x_assets.emulator import DEMO_BEARER_TOKEN, EmulatorServer
from x_assets.emulator.search import matches
from x_assets.ingest.source import SourceConfigError, parse_source
from x_assets.x_api.query import parse_query

from .conftest import NOW_MS, TODAY, Project, account_by_name, control, expected_others_post, utc_date

QUERIES = [
    {"name": "launches", "query": "#launch -is:retweet"},
    {"name": "acme_cashtag", "query": "$ACME lang:en"},
    {"name": "outside_or", "query": '(from:OutsideVoice OR from:NewsWire_) "new release"'},
]


def source(**extra: Any) -> dict[str, Any]:
    return {
        "accounts": [{"username": "AcmeNews"}],
        "endpoints": ["search_insights"],
        "queries": QUERIES,
        "default_schema": {"client": "acme"},
        **extra,
    }


def expected_matches(server: EmulatorServer, first: dt.date, last: dt.date, now_ms: int = NOW_MS) -> dict:
    """What each query should find, from the world's objects: public posts of the last 7 days."""
    world = server.world
    earliest = now_ms - 7 * 86_400_000 + 60_000
    rows = {}
    for spec in QUERIES:
        node = parse_query(spec["query"])
        for tweet in world.tweets.values():
            author = world.accounts[tweet.author_id]
            day = utc_date(tweet.created_ms)
            if not (earliest <= tweet.created_ms <= now_ms and first <= day <= last):
                continue
            if author.is_protected or author.state == "suspended" or not matches(world, node, tweet):
                continue
            rows[(spec["name"], str(tweet.id))] = {
                **expected_others_post(server, tweet),
                "query_name": spec["name"],
                "query": spec["query"],
                "client": "acme",
            }
    return rows


def stored(project: Project) -> dict:
    frame = project.frame("SELECT * EXCLUDE (fetched_at) FROM x.search_insights")
    return {(r["query_name"], r["tweet_id"]): r for r in frame.to_dicts()}


def statuses(project: Project) -> dict[tuple[str, dt.date], tuple[str, str]]:
    rows = project.query(
        "SELECT username, date, status, detail FROM x.account_status WHERE endpoint = 'search_insights'"
    )
    return {(u, d): (s, detail) for u, d, s, detail in rows}


def test_matches_column_by_column_and_the_7_day_reach_said(project: Project) -> None:
    project.write_source(source())
    first, last = TODAY - dt.timedelta(days=10), TODAY - dt.timedelta(days=1)
    result = project.materialize(["search_insights"], days=(first, last))
    assert result.success
    truth = expected_matches(project.server, first, last)
    rows = stored(project)
    assert rows == truth
    assert {name for name, _ in truth} == {q["name"] for q in QUERIES}  # every query found something
    # days older than 7 days: incomplete and said so, not empty days written as if complete
    reach_start = utc_date(NOW_MS - 7 * 86_400_000 + 60_000)
    for (label, day), (status, detail) in statuses(project).items():
        assert label.startswith("query:")
        if day <= reach_start:  # the boundary day is reached only in part
            assert status == "incomplete" and "7 days" in detail, (label, day)
        else:
            assert status == "ok", (label, day)
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"unique_key": True, "no_negative_counts": True, "complete_slices": False}
    tags = project.instance.get_run_by_id(result.dagster_run.run_id).tags
    assert int(tags["x/post_reads"]) == len({t for _, t in truth})  # a post matched twice is billed once
    stats = project.stats()
    assert set(stats["requests"]) >= {"GET /2/tweets/search/recent"}


def test_a_window_beyond_reach_makes_no_request_and_keeps_stored_rows(project: Project) -> None:
    project.write_source(source())
    old = (TODAY - dt.timedelta(days=20), TODAY - dt.timedelta(days=12))
    control(project.server, "POST", "/stats/reset")
    result = project.materialize(["search_insights"], days=old)
    assert result.success
    assert project.stats()["requests"].get("GET /2/tweets/search/recent", 0) == 0
    assert project.query("SELECT count(*) FROM x.search_insights")[0][0] == 0
    assert {s for s, _ in statuses(project).values()} == {"incomplete"}


def test_ages_reads_only_new_matches(project: Project) -> None:
    project.write_source(source())
    window = (TODAY - dt.timedelta(days=3), TODAY)
    ages = {"refresh_policy": "ages", "refresh_ages": [30]}
    assert project.materialize(["search_insights"], days=window, **ages).success
    before = stored(project)
    fan = account_by_name(project.server, "FanClub2024")
    # created in the clock's newest second: its id is then the newest, as a new post's is on X
    new = project.server.world.add_tweet(fan.id, "Big day #launch for everyone", created_ms=NOW_MS // 1000 * 1000)
    control(project.server, "POST", "/stats/reset")
    assert project.materialize(["search_insights"], days=window, **ages).success
    stats = project.stats()
    assert stats["requests"]["GET /2/tweets/search/recent"] == len(QUERIES)  # one since_id page each
    assert stats["posts_returned"] == 1
    after = stored(project)
    assert after.keys() == before.keys() | {("launches", str(new.id))}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("lang:en", "standalone"),
        ("-#launch", "standalone"),
        ("filter:links launch", "invalid operator 'filter'"),
        ("launch and release", "Ambiguous use of and"),
        ("(launch OR release", "Unbalanced parentheses"),
        ('"new release', "Unterminated"),
        ("x" * 513, "512"),
        ("from:not-a-handle", "Invalid value"),
    ],
)
def test_bad_queries_are_refused_before_any_request_and_by_x(project: Project, query: str, message: str) -> None:
    bad = source(queries=[{"name": "good", "query": "#launch"}, {"name": "broken", "query": query}])
    with pytest.raises(SourceConfigError, match=r"queries\[1\] \(broken\)") as refused:
        parse_source(bad, "x_source.yaml")
    assert message in str(refused.value)
    project.write_source(bad)
    control(project.server, "POST", "/stats/reset")
    result = project.materialize(["search_insights"], partition=str(TODAY - dt.timedelta(days=1)))
    assert not result.success
    assert sum(project.stats()["requests"].values()) == 0
    # the emulator answers X's 400 for the same query
    response = requests.get(
        f"{project.server.base_url}/2/tweets/search/recent",
        params={"query": query},
        headers={"Authorization": f"Bearer {DEMO_BEARER_TOKEN}"},
        timeout=10,
    )
    assert response.status_code == 400
    body = response.json()
    assert body["title"] == "Invalid Request" and body["type"].endswith("/problems/invalid-request")
    assert message in body["errors"][0]["message"] and body["errors"][0]["parameters"] == {"query": [query]}


def test_the_queries_list_is_validated_whole() -> None:
    bad = source(
        queries=[
            {"name": "Launches", "query": "#launch"},
            {"name": "dup", "query": "#launch"},
            {"name": "dup", "query": "#release"},
            {"name": "notext", "query": 42},
            {"name": "extra", "query": "#launch", "when": "daily"},
        ]
    )
    with pytest.raises(SourceConfigError) as refused:
        parse_source(bad, "x_source.yaml")
    message = str(refused.value)
    assert "4 problem(s)" in message
    for part in ("queries[0] (Launches): name", "queries[2] (dup): duplicate", "queries[3] (notext)", "'when'"):
        assert part in message
    with pytest.raises(SourceConfigError, match="search_insights needs a 'queries' list"):
        parse_source({"accounts": [{"username": "AcmeNews"}], "endpoints": ["search_insights"]}, "x_source.yaml")
    fine = parse_source(source(), "x_source.yaml")
    assert [q.name for q in fine.queries] == [q["name"] for q in QUERIES]


def test_the_emulator_refuses_a_start_older_than_7_days(server: EmulatorServer) -> None:
    url = f"{server.base_url}/2/tweets/search/recent"
    old = (dt.datetime.fromtimestamp(NOW_MS / 1000, tz=dt.UTC) - dt.timedelta(days=8)).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = requests.get(
        url,
        params={"query": "#launch", "start_time": old},
        headers={"Authorization": f"Bearer {DEMO_BEARER_TOKEN}"},
        timeout=10,
    )
    assert response.status_code == 400 and "'start_time' must be on or after" in response.json()["errors"][0]["message"]


def test_a_day_read_whole_stays_ok_when_a_later_run_cannot_reach_it(project: Project) -> None:
    """Searched every day, as the schedule does: each day is read while within the 7 days, and a
    later lookback that can no longer reach it neither erases its rows nor marks it incomplete."""
    from x_assets.clock import use_clock

    project.write_source(source())
    world = project.server.world
    clock = [dt.datetime.fromtimestamp(NOW_MS / 1000, tz=dt.UTC)]
    with use_clock(lambda: clock[0]):
        for step in range(4):
            clock[0] = dt.datetime.fromtimestamp(NOW_MS / 1000, tz=dt.UTC) + dt.timedelta(days=step)
            world.set_now_ms(int(clock[0].timestamp() * 1000))
            today = clock[0].date()
            window = (today - dt.timedelta(days=6), today - dt.timedelta(days=1))
            assert project.materialize(["search_insights"], days=window).success
    first_window = (TODAY - dt.timedelta(days=6), TODAY - dt.timedelta(days=1))
    truth = expected_matches(project.server, *first_window)  # read on the first day, when all was in reach
    rows = stored(project)
    assert truth and truth.keys() <= rows.keys()
    states = statuses(project)
    for day in (TODAY - dt.timedelta(days=d) for d in range(1, 6)):  # within reach on the first day
        assert {states[(f"query:{q['name']}", day)][0] for q in QUERIES} == {"ok"}, day
