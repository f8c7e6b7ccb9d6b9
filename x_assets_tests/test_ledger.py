"""The read ledger: what X bills, once per post or user per UTC day across every run, against X's
own count (GET /2/usage/tweets on the emulator), over simulated days."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import tweepy

from x_assets.cli import main
from x_assets.emulator import DEMO_BEARER_TOKEN, Emulator, WorldSpec
from x_assets.emulator.auth import (
    DEMO_ACCESS_TOKEN,
    DEMO_ACCESS_TOKEN_SECRET,
    DEMO_CONSUMER_KEY,
    DEMO_CONSUMER_SECRET,
)
from x_assets.emulator.server import EmulatorServer
from x_assets.x_api.client import ScopeCredentials, make_client
from x_assets.x_api.usage import parse_usage

from .conftest import NOW, Project, account_by_name, materializations_of, simulated_days
from .test_cost import metadata

DAYS = 4
START = NOW - dt.timedelta(days=DAYS - 1)  # the simulated days end today: Dagster offers no later partition


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    world = WorldSpec(seed=7, accounts=5, days=40, tweets_per_day=4, now_ms=int(START.timestamp() * 1000))
    with EmulatorServer(Emulator(world)) as srv:
        yield srv


def x_usage(server: EmulatorServer, days: int) -> dict[dt.date, int]:
    client = make_client(ScopeCredentials("t", bearer_token=DEMO_BEARER_TOKEN), server.base_url, 10, dict)
    body = client.tweepy_client.request(
        "GET", "/2/usage/tweets", params={"days": days, "usage.fields": "daily_project_usage"}
    )
    return parse_usage(body.json()).daily


def test_runs_of_one_utc_day_are_billed_once_and_the_ledger_matches_x(project: Project) -> None:
    project.write_source(
        {
            "accounts": [{"username": u} for u in ("AcmeNews", "GlobexDev", "InitechHQ")],
            "endpoints": ["account_insights", "tweet_insights", "mentions_insights"],
        }
    )
    billed_posts = billed_users = 0
    for today in simulated_days(project, START, DAYS):
        week = (today - dt.timedelta(days=7), today - dt.timedelta(days=1))
        first = project.materialize(["tweet_insights"], days=week)
        again = project.materialize(["tweet_insights"], days=week)  # a re-run the same day
        mentions = project.materialize(["mentions_insights"], days=week)
        snapshot = project.materialize(["account_insights"], partition=str(today - dt.timedelta(days=1)))
        runs = [first, again, mentions, snapshot]
        assert all(r.success for r in runs)
        assets = ["tweet_insights", "tweet_insights", "mentions_insights", "account_insights"]
        figures = [metadata(r, a) for r, a in zip(runs, assets, strict=True)]
        # the re-run read every post again, and X bills none of them again today
        assert figures[1]["run_post_reads"] == figures[0]["run_post_reads"] > 0
        assert figures[1]["run_billed_post_reads"] == 0 and figures[1]["run_billed_usd"] == 0
        assert figures[1]["run_estimated_usd"] > 0  # the run alone, priced as if nothing else ran today
        # the snapshot looks up the same three accounts the posts' run did: not billed again
        assert figures[3]["run_user_reads"] == 3 and figures[3]["run_billed_user_reads"] == 0
        for f in figures:
            assert f["billed_day"] == str(today)
            assert f["run_billed_usd"] == round(
                (f["run_billed_post_reads"]) * 0.005 + f["run_billed_user_reads"] * 0.010, 4
            )
            billed_posts += f["run_billed_post_reads"]
            billed_users += f["run_billed_user_reads"]
        # each partition's own share of the bill, adding up to the run's
        for result, asset, f in zip(runs[:3], assets[:3], figures[:3], strict=True):
            days = materializations_of(result, asset)
            assert sum(m.metadata["billed_post_reads"].value for m in days) == f["run_billed_post_reads"]
            assert sum(m.metadata["billed_usd"].value for m in days) == pytest.approx(f["run_billed_usd"], abs=1e-3)
        # X's count of the day equals the ledger's, day after day
        ledger = dict(project.query("SELECT read_date, count(*) FROM x.read_ledger WHERE resource = 'post' GROUP BY 1"))
        assert x_usage(project.server, DAYS) == {
            today - dt.timedelta(days=n): ledger.get(today - dt.timedelta(days=n), 0) for n in range(DAYS)
        }
    stats = project.stats()
    assert billed_posts == stats["billable_post_reads"] > 0
    assert billed_users == stats["billable_user_reads"] > 0
    # the ledger holds one row per resource and day
    assert project.query(
        "SELECT count(*) FROM (SELECT read_date, resource, resource_id FROM x.read_ledger "
        "GROUP BY ALL HAVING count(*) > 1)"
    ) == [(0,)]


@pytest.mark.parametrize("destination", ["duckdb", "iceberg"])
def test_the_usage_command_reconciles_x_with_the_ledger(
    project: Project, capsys: pytest.CaptureFixture[str], destination: str
) -> None:
    project.monkeypatch.setenv("X_DESTINATION", destination)
    project.write_source({"accounts": [{"username": "AcmeNews"}]})
    project.server.world.set_now_ms(int(NOW.timestamp() * 1000))  # the suite's instant, as the connector's
    week = (NOW.date() - dt.timedelta(days=7), NOW.date() - dt.timedelta(days=1))
    result = project.materialize(["tweet_insights"], days=week)
    assert result.success
    posts = metadata(result, "tweet_insights")["run_billed_post_reads"]
    assert posts > 0
    assert main(["usage", "--days", "2"]) == 0
    out = capsys.readouterr().out
    assert f"{NOW.date()!s:<12} {posts:>10,} {posts:>10,} {0:>+11,}" in out
    assert "ledgers counted: x" in out and "a difference" not in out
    # another tool of the same project reads a timeline: X counts it, the ledger cannot
    other = make_client(ScopeCredentials("t", bearer_token=DEMO_BEARER_TOKEN), project.server.base_url, 10, dict)
    globex = account_by_name(project.server, "GlobexDev").id
    extra = len(other.tweepy_client.get_users_tweets(globex, max_results=5)["data"])
    assert main(["usage", "--days", "1"]) == 0
    out = capsys.readouterr().out
    assert f"{NOW.date()!s:<12} {posts + extra:>10,} {posts:>10,} {extra:>+11,}" in out
    assert "a difference is X counting reads the ledgers do not hold" in out
    assert main(["usage", "--days", "91"]) == 2
    assert "--days must be 1 to 90" in capsys.readouterr().err


def test_the_usage_endpoint_is_app_only_and_checks_its_parameters(server: EmulatorServer) -> None:
    bearer = make_client(ScopeCredentials("t", bearer_token=DEMO_BEARER_TOKEN), server.base_url, 10, dict)
    body = bearer.tweepy_client.request(
        "GET", "/2/usage/tweets", params={"usage.fields": "project_usage,project_cap,daily_project_usage"}
    ).json()
    data = body["data"]
    assert isinstance(data["project_usage"], str) and isinstance(data["project_cap"], str)  # as X sends them
    assert len(data["daily_project_usage"]["usage"]) == 7  # the default, today included
    for params, wanted in (
        ({"days": "0"}, "days"),
        ({"days": "x"}, "days"),
        ({"usage.fields": "cost"}, "usage.fields"),
    ):
        with pytest.raises(tweepy.BadRequest) as refused:
            bearer.tweepy_client.request("GET", "/2/usage/tweets", params=params)
        assert wanted in refused.value.response.json()["errors"][0]["parameters"]
    user = make_client(
        ScopeCredentials(
            "u",
            consumer_key=DEMO_CONSUMER_KEY,
            consumer_secret=DEMO_CONSUMER_SECRET,
            access_token=DEMO_ACCESS_TOKEN,
            access_token_secret=DEMO_ACCESS_TOKEN_SECRET,
        ),
        server.base_url,
        10,
        dict,
    )
    with pytest.raises(tweepy.Forbidden) as forbidden:
        user.tweepy_client.request("GET", "/2/usage/tweets", user_auth=True)
    problem = forbidden.value.response.json()
    assert problem["type"].endswith("/unsupported-authentication") and "Application-Only" in problem["detail"]
