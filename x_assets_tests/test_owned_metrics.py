"""Owned-account metrics: X shows a post's non-public and organic metrics only to its author
(user-context auth as that account), and only for posts of the last 30 days; the connector asks
exactly there, and bills that account's own timeline at the owned rate.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import tweepy

from x_assets.emulator import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET, EmulatorServer
from x_assets.emulator.auth import OWNER_TOKEN_SECRET, owner_token
from x_assets.warehouse.tables import PRIVATE_METRIC_COLUMNS
from x_assets.x_api.client import ScopeCredentials, make_client

from .conftest import NOW, NOW_MS, TODAY, Project, account_by_name, expected_tweet_rows

OWNED_DAYS = 29
OAUTH_KEYS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")


def owner_scope(account_id: int) -> ScopeCredentials:
    return ScopeCredentials(
        "owner",
        consumer_key=DEMO_CONSUMER_KEY,
        consumer_secret=DEMO_CONSUMER_SECRET,
        access_token=owner_token(account_id),
        access_token_secret=OWNER_TOKEN_SECRET,
    )


def own_credentials(project: Project, prefix: str, token_of: int) -> dict[str, str]:
    secrets = (DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET, owner_token(token_of), OWNER_TOKEN_SECRET)
    values = dict(zip(OAUTH_KEYS, secrets, strict=True))
    for key, value in values.items():
        project.monkeypatch.setenv(f"{prefix}_{key.upper()}", value)
    return {key: f"{prefix}_{key.upper()}" for key in OAUTH_KEYS}


def expected_private(server: EmulatorServer, username: str, tweet_id: str) -> dict[str, Any]:
    tweet = server.world.tweets[int(tweet_id)]
    non_public, organic = server.world.private_metrics(tweet)
    groups = {"non_public_metrics": non_public, "organic_metrics": organic}
    return {name: groups[group][key] for name, (group, key) in PRIVATE_METRIC_COLUMNS.items()}


def test_owned_metrics_exactly_for_the_owners_recent_posts(project: Project) -> None:
    server = project.server
    acme, initech = account_by_name(server, "AcmeNews"), account_by_name(server, "InitechHQ")
    project.write_source(
        {
            "accounts": [
                {"username": "AcmeNews", "credentials": own_credentials(project, "ACME", acme.id)},
                {"username": "GlobexDev"},  # the default bearer token: the app, never an account
                # user context, but another account's token: its posts' private metrics are not its to see
                {"username": "InitechHQ", "credentials": own_credentials(project, "INITECH", acme.id)},
            ]
        }
    )
    first, last = TODAY - dt.timedelta(days=35), TODAY - dt.timedelta(days=1)
    result = project.materialize(["tweet_insights"], days=(first, last))
    assert result.success
    rows = {r["tweet_id"]: r for r in project.frame("SELECT * FROM x.tweet_insights").to_dicts()}
    cutoff = NOW - dt.timedelta(days=OWNED_DAYS)
    owned_seen = 0
    for username in ("AcmeNews", "GlobexDev", "InitechHQ"):
        expected = expected_tweet_rows(server, username, first, last)
        assert expected.keys() <= rows.keys()
        for tweet_id, truth in expected.items():
            row = rows[tweet_id]
            private = {name: row[name] for name in PRIVATE_METRIC_COLUMNS}
            if username == "AcmeNews" and not truth["is_retweet"] and truth["created_at"] >= cutoff:
                assert private == expected_private(server, username, tweet_id), tweet_id
                owned_seen += 1
            else:
                assert set(private.values()) == {None}, (username, tweet_id)
            assert {k: row[k] for k in truth if k != "account_name"} == {
                k: v for k, v in truth.items() if k != "account_name"
            }
    assert owned_seen >= 20
    # older AcmeNews posts were read (with their public metrics) all the same
    assert any(r["account_id"] == str(acme.id) and r["created_at"] < cutoff for r in rows.values())
    assert any(r["account_id"] == str(initech.id) for r in rows.values())
    # the cost counts AcmeNews's own timeline at the owned rate
    materialization = result.asset_materializations_for_node("tweet_insights")[-1]
    run = result.dagster_run
    tags = project.instance.get_run_by_id(run.run_id).tags
    owned_reads = int(tags["x/owned_reads"])
    post_reads = int(tags["x/post_reads"])
    user_reads = int(tags["x/user_reads"])
    acme_posts = len(expected_tweet_rows(server, "AcmeNews", first, TODAY))  # the open window reads up to now
    assert owned_reads == acme_posts
    assert float(tags["x/estimated_usd"]) == pytest.approx(post_reads * 0.005 + owned_reads * 0.001 + user_reads * 0.01)
    assert materialization.metadata is not None


def test_the_emulator_enforces_xs_rules_for_private_metrics(server: EmulatorServer) -> None:
    acme, globex = account_by_name(server, "AcmeNews"), account_by_name(server, "GlobexDev")
    fields = ["non_public_metrics", "organic_metrics", "created_at"]
    owner = make_client(owner_scope(acme.id), server.base_url, timeout=10, return_type=dict).tweepy_client
    recent = [t for t in server.world.visible_tweets(acme) if t.created_ms >= NOW_MS - 30 * 86_400_000]
    old = [t for t in server.world.visible_tweets(acme) if t.created_ms < NOW_MS - 31 * 86_400_000]
    assert recent and old
    # the author, its recent post: served
    body = owner.get_tweets([recent[0].id], tweet_fields=fields, user_auth=True)
    assert set(body["data"][0]) >= {"non_public_metrics", "organic_metrics"}
    # another account's post, or its own older than 30 days: left out, each with a field error
    other = server.world.visible_tweets(globex)[0]
    body = owner.get_tweets([other.id, old[0].id], tweet_fields=fields, user_auth=True)
    assert "data" not in body
    assert {e["resource_id"] for e in body["errors"]} == {str(other.id), str(old[0].id)}
    assert {e["type"] for e in body["errors"]} == {"https://api.twitter.com/2/problems/not-authorized-for-field"}
    # a timeline with private fields reaches only the last 30 days
    page = owner.get_users_tweets(acme.id, tweet_fields=fields, max_results=100, user_auth=True)
    assert {int(t["id"]) for t in page["data"]} <= {t.id for t in recent}
    # app-only auth (a bearer token) may not ask at all: 403, before anything is read
    app = make_client(ScopeCredentials("app", bearer_token="demo-bearer-token"), server.base_url, timeout=10)
    with pytest.raises(tweepy.Forbidden) as refused:
        app.tweepy_client.get_tweets([recent[0].id], tweet_fields=fields)
    assert "Unsupported Authentication" in str(refused.value) or refused.value.response.status_code == 403
    assert refused.value.response.json()["type"].endswith("/problems/unsupported-authentication")


def test_a_token_names_the_account_it_belongs_to() -> None:
    assert owner_scope(2244994945).owner_id == "2244994945"
    assert ScopeCredentials("app", bearer_token="AAAA-1").owner_id is None
    assert (
        ScopeCredentials(
            "x", consumer_key="k", consumer_secret="s", access_token="abc", access_token_secret="t"
        ).owner_id
        is None
    )
