"""OAuth 1.0a end to end: signed over the URL actually sent, verified strictly by the emulator.

A real server verifies the signature over the URL it received. The emulator does the same, so a
client that signs for https://api.twitter.com and then sends the request elsewhere is refused.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import requests
import tweepy
from requests.adapters import HTTPAdapter

from x_assets.emulator import (
    DEMO_ACCESS_TOKEN,
    DEMO_ACCESS_TOKEN_SECRET,
    DEMO_CONSUMER_KEY,
    DEMO_CONSUMER_SECRET,
)
from x_assets.emulator.server import EmulatorServer
from x_assets.x_api.client import ScopeCredentials, make_client

from .conftest import TODAY, Project, account_by_name, control, expected_tweet_rows

DEMO_OAUTH = {
    "X_CONSUMER_KEY": DEMO_CONSUMER_KEY,
    "X_CONSUMER_SECRET": DEMO_CONSUMER_SECRET,
    "X_ACCESS_TOKEN": DEMO_ACCESS_TOKEN,
    "X_ACCESS_TOKEN_SECRET": DEMO_ACCESS_TOKEN_SECRET,
}
OWNER_OAUTH = {
    "consumer_key": "owner-ck-5d1e",
    "consumer_secret": "sEcReT-owner-cs-77aa",
    "access_token": "owner-at-4c2b",
    "access_token_secret": "sEcReT-owner-ats-19fe",
}


def use_default_oauth(project: Project, values: dict[str, str]) -> None:
    project.monkeypatch.delenv("X_BEARER_TOKEN", raising=False)
    for name, value in values.items():
        project.monkeypatch.setenv(name, value)


class _RewriteAfterSigning(HTTPAdapter):
    """How the connector used to reach X_API_BASE_URL: sign for api.twitter.com, then send elsewhere."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        request.url = self.base_url + (request.url or "")[len("https://api.twitter.com") :]
        return super().send(request, **kwargs)


def test_a_signature_over_another_host_is_refused(server: EmulatorServer) -> None:
    stale = tweepy.Client(
        consumer_key=DEMO_CONSUMER_KEY,
        consumer_secret=DEMO_CONSUMER_SECRET,
        access_token=DEMO_ACCESS_TOKEN,
        access_token_secret=DEMO_ACCESS_TOKEN_SECRET,
        return_type=dict,
    )
    stale.session.mount("https://api.twitter.com", _RewriteAfterSigning(server.base_url))
    with pytest.raises(tweepy.Unauthorized):
        stale.get_users(usernames=["AcmeNews"], user_auth=True)
    # the connector's client signs over the URL it sends to, and is accepted
    scope = ScopeCredentials(
        "oauth",
        consumer_key=DEMO_CONSUMER_KEY,
        consumer_secret=DEMO_CONSUMER_SECRET,
        access_token=DEMO_ACCESS_TOKEN,
        access_token_secret=DEMO_ACCESS_TOKEN_SECRET,
    )
    client = make_client(scope, server.base_url, timeout=10, return_type=dict)
    body = client.tweepy_client.get_users(usernames=["AcmeNews"], user_auth=True)
    assert body["data"][0]["username"] == "AcmeNews"
    stats = control(server, "GET", "/stats")
    assert stats["statuses"] == {"401": 1, "200": 1}


def test_materialize_with_only_the_four_default_oauth_values(project: Project) -> None:
    use_default_oauth(project, DEMO_OAUTH)
    project.write_source({"accounts": [{"username": "AcmeNews"}, {"username": "GlobexDev"}]})
    days = (TODAY - dt.timedelta(days=3), TODAY - dt.timedelta(days=1))
    result = project.materialize(["tweet_insights"], days=days)
    assert result.success
    stored = {r[0] for r in project.query("SELECT tweet_id FROM x.tweet_insights")}
    truth = {
        **expected_tweet_rows(project.server, "AcmeNews", *days),
        **expected_tweet_rows(project.server, "GlobexDev", *days),
    }
    assert stored == set(truth) and truth
    by_credential = project.stats()["requests_by_credential"]
    assert set(by_credential) == {"default-oauth1"}, by_credential  # no request was refused or anonymous
    assert project.materialize(["account_insights"], partition=str(TODAY)).success
    assert project.query("SELECT count(*) FROM x.account_insights") == [(2,)]


def test_an_account_with_its_own_oauth_values(project: Project, capfd: pytest.CaptureFixture[str]) -> None:
    private = account_by_name(project.server, "PrivateLabs")
    control(
        project.server,
        "POST",
        "/credentials",
        {"label": "owner-oauth1", "kind": "oauth1", **OWNER_OAUTH, "owner_of": str(private.id)},
    )
    use_default_oauth(project, DEMO_OAUTH)
    env = {key: f"PRIVATELABS_{key.upper()}" for key in OWNER_OAUTH}
    for key, name in env.items():
        project.monkeypatch.setenv(name, OWNER_OAUTH[key])
    project.write_source({"accounts": [{"username": "AcmeNews"}, {"username": "PrivateLabs", "credentials": env}]})
    result = project.materialize(["tweet_insights"], partition=str(TODAY - dt.timedelta(days=1)))
    assert result.success
    day = TODAY - dt.timedelta(days=1)
    stored = {
        r[0] for r in project.query("SELECT tweet_id FROM x.tweet_insights WHERE account_id = ?", [str(private.id)])
    }
    assert stored == set(expected_tweet_rows(project.server, "PrivateLabs", day, day))
    routes = project.stats()["requests_by_credential_and_route"]
    assert routes.get("owner-oauth1 GET /2/users/:id/tweets", 0) >= 1, routes
    assert routes.get("default-oauth1 GET /2/users/:id/tweets", 0) >= 1, routes
    # the secrets never show up, not in logs, stdout or tables
    captured = capfd.readouterr()
    texts = [captured.out, captured.err, *(repr(r) for r in project.instance.all_logs(result.run_id))]
    texts.append(repr(project.query("SELECT * FROM x.account_status")))
    blob = "\n".join(texts)
    for secret in (OWNER_OAUTH["consumer_secret"], OWNER_OAUTH["access_token_secret"], DEMO_CONSUMER_SECRET):
        assert secret not in blob
