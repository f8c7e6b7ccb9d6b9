"""The emulator, driven by an unmodified tweepy.Client over HTTP, as the connector drives it."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
import requests
import tweepy

from x_assets.emulator import (
    DEMO_ACCESS_TOKEN,
    DEMO_ACCESS_TOKEN_SECRET,
    DEMO_CONSUMER_KEY,
    DEMO_CONSUMER_SECRET,
    DEMO_OWNER_BEARER_TOKEN,
    EmulatorServer,
    shapes,
)
from x_assets.emulator.world import iso_ms, snowflake_ms
from x_assets.x_api.client import ScopeCredentials, XClient, make_client

from .conftest import NOW_MS, account_by_name, control

FIELDS = ["created_at", "public_metrics", "referenced_tweets", "lang", "note_tweet", "author_id"]


def page_all(client: XClient, account_id: str, **kwargs: object) -> list[dict]:
    pages = []
    token = None
    for _ in range(100):  # bounded: 3,200 posts at 100 a page is 32 pages
        body = client.tweepy_client.get_users_tweets(
            account_id, max_results=100, pagination_token=token, tweet_fields=FIELDS, **kwargs
        )
        pages.append(body)
        token = body.get("meta", {}).get("next_token")
        if not token:
            return pages
    raise AssertionError("pagination did not end")


def test_full_timeline_arrives_once_in_order(server: EmulatorServer, client: XClient) -> None:
    account = account_by_name(server, "AcmeNews")
    pages = page_all(client, str(account.id))
    ids = [t["id"] for p in pages for t in p.get("data", [])]
    expected = [str(t.id) for t in server.world.visible_tweets(account)]
    assert len(expected) > 100  # more than one page, so pagination is exercised
    assert ids == expected
    assert len(set(ids)) == len(ids)
    for page in pages:
        meta = page["meta"]
        assert meta["result_count"] == len(page["data"])
        assert meta["newest_id"] == page["data"][0]["id"] and meta["oldest_id"] == page["data"][-1]["id"]
    assert "previous_token" not in pages[0]["meta"] and "previous_token" in pages[1]["meta"]


def test_previous_token_walks_back(server: EmulatorServer, client: XClient) -> None:
    account = account_by_name(server, "AcmeNews")
    first = client.tweepy_client.get_users_tweets(account.id, max_results=10)
    second = client.tweepy_client.get_users_tweets(
        account.id, max_results=10, pagination_token=first["meta"]["next_token"]
    )
    back = client.tweepy_client.get_users_tweets(
        account.id, max_results=10, pagination_token=second["meta"]["previous_token"]
    )
    assert [t["id"] for t in back["data"]] == [t["id"] for t in first["data"]]


def test_created_at_ids_and_default_fields(server: EmulatorServer, client: XClient) -> None:
    account = account_by_name(server, "GlobexDev")
    body = client.tweepy_client.get_users_tweets(account.id, max_results=5)
    for tweet in body["data"]:
        assert set(tweet) == {"id", "text", "edit_history_tweet_ids"}  # defaults only
    body = client.tweepy_client.get_users_tweets(account.id, max_results=5, tweet_fields=["created_at"])
    for tweet in body["data"]:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z", tweet["created_at"])
        # snowflake ids carry their creation time
        assert iso_ms(snowflake_ms(int(tweet["id"])))[:19] == tweet["created_at"][:19]
    # tweepy's model classes accept the shapes (Response return type)
    plain = tweepy.Client(bearer_token=client.scope.bearer_token)
    plain.session = client.tweepy_client.session
    response = plain.get_users_tweets(account.id, max_results=5, tweet_fields=["created_at", "public_metrics"])
    assert all(isinstance(t, tweepy.Tweet) and t.created_at.tzinfo is not None for t in response.data)


def test_timeline_cap_3200(server: EmulatorServer, client: XClient) -> None:
    account = account_by_name(server, "FirehoseNews")
    visible = server.world.visible_tweets(account)
    assert len(visible) > 3200
    ids = [t["id"] for p in page_all(client, str(account.id)) for t in p.get("data", [])]
    assert ids == [str(t.id) for t in visible[:3200]]
    # a window entirely older than the reachable posts answers successfully and empty
    oldest_reachable = visible[3199]
    end = dt.datetime.fromtimestamp(oldest_reachable.created_ms / 1000 - 60, tz=dt.UTC)
    body = client.tweepy_client.get_users_tweets(account.id, max_results=100, end_time=end)
    assert body == {"meta": {"result_count": 0}}


def test_time_and_id_bounds(server: EmulatorServer, client: XClient) -> None:
    account = account_by_name(server, "InitechHQ")
    visible = server.world.visible_tweets(account)
    newer, mid, older = visible[5], visible[10], visible[20]
    start = dt.datetime.fromtimestamp(older.created_ms / 1000, tz=dt.UTC)
    end = dt.datetime.fromtimestamp(newer.created_ms / 1000, tz=dt.UTC)
    body = client.tweepy_client.get_users_tweets(account.id, max_results=100, start_time=start, end_time=end)
    ids = [t["id"] for t in body["data"]]
    assert ids[0] == str(newer.id) and ids[-1] == str(older.id)  # both bounds inclusive
    body = client.tweepy_client.get_users_tweets(account.id, max_results=100, since_id=older.id, until_id=newer.id)
    ids = [int(t["id"]) for t in body["data"]]
    assert older.id not in ids and newer.id not in ids and mid.id in ids  # ids exclusive
    # since_id overrides start_time
    body = client.tweepy_client.get_users_tweets(account.id, max_results=100, since_id=mid.id, start_time=end)
    assert len(body["data"]) == 10


def test_exclude_retweets_and_replies(server: EmulatorServer, client: XClient) -> None:
    account = account_by_name(server, "AcmeNews")
    pages = page_all(client, str(account.id), exclude=["retweets", "replies"])
    tweets = [t for p in pages for t in p.get("data", [])]
    assert tweets
    for tweet in tweets:
        kinds = {r["type"] for r in tweet.get("referenced_tweets", [])}
        assert "retweeted" not in kinds and "replied_to" not in kinds


def test_max_results_out_of_range_is_the_real_400(server: EmulatorServer, client: XClient) -> None:
    account = account_by_name(server, "AcmeNews")
    with pytest.raises(tweepy.BadRequest) as info:
        client.tweepy_client.get_users_tweets(account.id, max_results=4)
    body = info.value.response.json()
    assert body["title"] == "Invalid Request" and body["type"].endswith("/invalid-request")
    assert body["errors"][0]["message"] == "The `max_results` query parameter value [4] is not between 5 and 100"
    with pytest.raises(tweepy.BadRequest):
        client.tweepy_client.get_users_tweets(account.id, tweet_fields=["nonsense"])


def test_users_lookup_states_and_error_shapes(server: EmulatorServer, client: XClient) -> None:
    body = client.tweepy_client.get_users(
        usernames=["acmenews", "LockedVault", "BannedBrand", "GoneForGood"], user_fields=["public_metrics", "protected"]
    )
    users = {u["username"]: u for u in body["data"]}
    assert set(users) == {"AcmeNews", "LockedVault"}  # handles match case-insensitively
    assert users["LockedVault"]["protected"] is True
    assert set(users["AcmeNews"]["public_metrics"]) == {
        "followers_count",
        "following_count",
        "tweet_count",
        "listed_count",
        "like_count",
    }
    errors = {e["value"]: e for e in body["errors"]}
    assert errors["BannedBrand"] == shapes.suspended("usernames", "BannedBrand")
    assert errors["BannedBrand"]["title"] == "Forbidden"
    assert errors["GoneForGood"]["detail"] == "Could not find user with usernames: [GoneForGood]."
    # by id, and the single-user routes
    acme = account_by_name(server, "AcmeNews")
    assert client.tweepy_client.get_users(ids=[acme.id])["data"][0]["username"] == "AcmeNews"
    assert client.tweepy_client.get_user(id=acme.id)["data"]["id"] == str(acme.id)
    assert client.tweepy_client.get_user(username="GoneForGood")["errors"][0]["parameter"] == "username"


def test_timeline_of_protected_suspended_and_missing(server: EmulatorServer, client: XClient) -> None:
    locked = account_by_name(server, "LockedVault")
    body = client.tweepy_client.get_users_tweets(locked.id, max_results=5)
    assert body == {"errors": [shapes.not_authorized("user", "id", str(locked.id))]}
    assert body["errors"][0]["type"].endswith("/not-authorized-for-resource")
    banned = account_by_name(server, "BannedBrand")
    body = client.tweepy_client.get_users_tweets(banned.id, max_results=5)
    assert body == {"errors": [shapes.suspended("id", str(banned.id))]}
    missing_id = server.world.missing_accounts[0][0]
    body = client.tweepy_client.get_users_tweets(missing_id, max_results=5)
    assert body["errors"][0]["detail"] == f"Could not find user with id: [{missing_id}]."


def test_owner_only_account_needs_its_own_token(server: EmulatorServer, client: XClient) -> None:
    private = account_by_name(server, "PrivateLabs")
    denied = client.tweepy_client.get_users_tweets(private.id, max_results=5)
    assert "data" not in denied and denied["errors"][0]["title"] == "Authorization Error"
    owner = make_client(
        ScopeCredentials("owner", bearer_token=DEMO_OWNER_BEARER_TOKEN), server.base_url, return_type=dict
    )
    allowed = owner.tweepy_client.get_users_tweets(private.id, max_results=5)
    assert len(allowed["data"]) == 5
    assert control(server, "GET", "/stats")["requests_by_credential"]["privatelabs-owner"] == 1


def test_retweet_originals_in_includes(server: EmulatorServer, client: XClient) -> None:
    account = account_by_name(server, "AcmeNews")
    tweets = [t for p in page_all(client, str(account.id), expansions=["referenced_tweets.id"]) for t in p["data"]]
    pages = page_all(client, str(account.id), expansions=["referenced_tweets.id"])
    included = {t["id"]: t for p in pages for t in p.get("includes", {}).get("tweets", [])}
    errors = [e for p in pages for e in p.get("errors", [])]
    retweets = [t for t in tweets if any(r["type"] == "retweeted" for r in t.get("referenced_tweets", []))]
    assert retweets
    orphan = str(server.world.orphan_retweet_id)
    for rt in retweets:
        original_id = next(r["id"] for r in rt["referenced_tweets"] if r["type"] == "retweeted")
        if rt["id"] == orphan:
            assert original_id not in included
            assert any(e["parameter"] == "referenced_tweets.id" and e["value"] == original_id for e in errors)
            continue
        original = included[original_id]
        # the real API's retweet metrics: the original's retweet count, zeros elsewhere
        assert rt["public_metrics"]["retweet_count"] == original["public_metrics"]["retweet_count"]
        assert rt["public_metrics"]["like_count"] == 0
        assert set(original) >= {"created_at", "public_metrics", "lang"}  # requested fields apply to includes
    assert orphan in {t["id"] for t in retweets}


def test_world_variety(server: EmulatorServer) -> None:
    world = server.world
    tweets = [t for a in world.accounts.values() if a.listed for t in world.visible_tweets(a)]
    langs = {t.lang for t in tweets}
    assert {"en", "ja", "ar", "he", "und"} <= langs
    assert any(t.note_text for t in tweets) and any(t.bookmark_count is None for t in tweets)
    kinds = {tuple(sorted(k for k, _ in t.refs)) for t in tweets}
    assert {(), ("replied_to",), ("quoted",), ("quoted", "replied_to"), ("retweeted",)} <= kinds
    assert any(ord(c) > 0xFFFF for t in tweets for c in t.text)  # non-BMP emoji


def test_deterministic_from_seed() -> None:
    from x_assets.emulator import World, WorldSpec

    now = int(time.time() * 1000)
    a, b = World(WorldSpec(seed=3, now_ms=now)), World(WorldSpec(seed=3, now_ms=now))
    assert sorted(a.tweets) == sorted(b.tweets)
    assert [t.text for t in a.tweets.values()] == [t.text for t in b.tweets.values()]


def test_bad_bearer_and_bad_oauth_signature_get_401(server: EmulatorServer) -> None:
    bad = make_client(ScopeCredentials("bad", bearer_token="not-a-token"), server.base_url, return_type=dict)
    with pytest.raises(tweepy.Unauthorized) as info:
        bad.tweepy_client.get_users(usernames=["AcmeNews"])
    assert info.value.response.json() == shapes.UNAUTHORIZED
    oauth = dict(
        consumer_key=DEMO_CONSUMER_KEY,
        consumer_secret=DEMO_CONSUMER_SECRET,
        access_token=DEMO_ACCESS_TOKEN,
        access_token_secret=DEMO_ACCESS_TOKEN_SECRET,
    )
    good = make_client(ScopeCredentials("oauth", **oauth), server.base_url, return_type=dict)
    body = good.tweepy_client.get_users(usernames=["AcmeNews"], user_fields=["public_metrics"], user_auth=True)
    assert body["data"][0]["username"] == "AcmeNews"
    forged = make_client(
        ScopeCredentials("forged", **{**oauth, "consumer_secret": "wrong"}), server.base_url, return_type=dict
    )
    with pytest.raises(tweepy.Unauthorized):
        forged.tweepy_client.get_users(usernames=["AcmeNews"], user_auth=True)
    stats = control(server, "GET", "/stats")
    assert stats["requests_by_credential"]["default-oauth1"] == 1 and stats["statuses"]["401"] == 2


def test_rate_limit_headers_exactly_once_and_enforced(server: EmulatorServer) -> None:
    url = f"{server.base_url}/2/users/by?usernames=AcmeNews"
    headers = {"Authorization": "Bearer demo-bearer-token"}
    response = requests.get(url, headers=headers, timeout=5)
    raw = response.raw.headers
    for name in ("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"):
        assert len(raw.getlist(name)) == 1
    assert int(response.headers["x-rate-limit-reset"]) > time.time()
    control(server, "POST", "/rate-limits", {"enforce": True, "limits": {"users": 2}})
    statuses = [requests.get(url, headers=headers, timeout=5).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


@pytest.mark.parametrize(
    ("fault", "exc_type", "status", "check"),
    [
        (
            {"kind": "rate_limit", "reset_in": 30},
            tweepy.TooManyRequests,
            429,
            lambda e: e.reset_time is not None and e.reset_time > time.time() + 20,
        ),
        ({"kind": "rate_limit", "reset_in": None}, tweepy.TooManyRequests, 429, lambda e: e.reset_time is None),
        (
            {"kind": "server_error", "status": 503},
            tweepy.TwitterServerError,
            503,
            lambda e: e.response.text.startswith("<!DOCTYPE html>"),
        ),
        (
            {"kind": "usage_capped"},
            tweepy.TooManyRequests,
            429,
            lambda e: e.response.json()["type"].endswith("/usage-capped"),
        ),
        (
            {"kind": "credits_depleted"},
            tweepy.HTTPException,
            402,
            lambda e: e.response.json() == shapes.CREDITS_DEPLETED and e.response.json()["title"] == "CreditsDepleted",
        ),
        (
            {"kind": "client_not_enrolled"},
            tweepy.Forbidden,
            403,
            lambda e: e.response.json()["reason"] == "client-not-enrolled",
        ),
        ({"kind": "unauthorized"}, tweepy.Unauthorized, 401, lambda e: e.response.json() == shapes.UNAUTHORIZED),
    ],
)
def test_injected_http_faults(
    server: EmulatorServer, client: XClient, fault: dict, exc_type: type, status: int, check: object
) -> None:
    control(server, "POST", "/faults", {**fault, "times": 1})
    with pytest.raises(exc_type) as info:
        client.tweepy_client.get_users(usernames=["AcmeNews"])
    assert info.value.response.status_code == status
    assert check(info.value)  # type: ignore[operator]
    assert client.tweepy_client.get_users(usernames=["AcmeNews"])["data"]  # times=1: the next one is fine
    assert control(server, "GET", "/stats")["faults"] == {fault["kind"]: 1}


def test_truncated_json_reset_connection_and_slow(server: EmulatorServer, client: XClient) -> None:
    control(server, "POST", "/faults", {"kind": "truncated", "times": 1})
    with pytest.raises(requests.exceptions.JSONDecodeError):
        client.tweepy_client.get_users(usernames=["AcmeNews"])
    control(server, "POST", "/faults", {"kind": "reset", "times": 1})
    with pytest.raises(requests.exceptions.ConnectionError):
        client.tweepy_client.get_users(usernames=["AcmeNews"])
    control(server, "DELETE", "/faults")
    control(server, "POST", "/faults", {"kind": "slow", "delay_ms": 300, "times": 1})
    started = time.monotonic()
    client.tweepy_client.get_users(usernames=["AcmeNews"])
    assert time.monotonic() - started >= 0.3


def test_fault_every_nth_on_a_path(server: EmulatorServer, client: XClient) -> None:
    acme = account_by_name(server, "AcmeNews")
    control(server, "POST", "/faults", {"kind": "server_error", "every": 2, "path": f"/2/users/{acme.id}/tweets"})
    outcomes = []
    for _ in range(4):
        try:
            client.tweepy_client.get_users_tweets(acme.id, max_results=5)
            outcomes.append("ok")
        except tweepy.TwitterServerError:
            outcomes.append("5xx")
    client.tweepy_client.get_users(usernames=["AcmeNews"])  # other paths unaffected
    assert outcomes == ["ok", "5xx", "ok", "5xx"]


def test_control_endpoints_move_the_world(server: EmulatorServer, client: XClient) -> None:
    acme = account_by_name(server, "AcmeNews")
    before = client.tweepy_client.get_users(ids=[acme.id], user_fields=["public_metrics"])["data"][0]
    control(server, "POST", "/advance", {"steps": 1})
    after = client.tweepy_client.get_users(ids=[acme.id], user_fields=["public_metrics"])["data"][0]
    assert after["public_metrics"] != before["public_metrics"]
    control(server, "POST", "/rename", {"account_id": str(acme.id), "username": "AcmeNewsroom"})
    newcomer = control(server, "POST", "/users", {"username": "AcmeNews"})
    by_name = client.tweepy_client.get_users(usernames=["AcmeNews", "AcmeNewsroom"])["data"]
    assert {u["username"]: u["id"] for u in by_name} == {"AcmeNews": newcomer["id"], "AcmeNewsroom": str(acme.id)}
    added = control(server, "POST", "/tweets", {"author_id": str(acme.id), "text": "fresh"})
    assert client.tweepy_client.get_tweet(added["id"])["data"]["text"] == "fresh"
    control(server, "DELETE", f"/tweets/{added['id']}")
    gone = client.tweepy_client.get_tweets([added["id"]])
    assert "data" not in gone and gone["errors"][0]["detail"] == f"Could not find tweet with ids: [{added['id']}]."


def test_stats_bill_a_post_once_per_day(server: EmulatorServer, client: XClient) -> None:
    acme = account_by_name(server, "AcmeNews")
    for _ in range(2):
        client.tweepy_client.get_users_tweets(acme.id, max_results=10)
    client.tweepy_client.get_users(ids=[acme.id])
    stats = control(server, "GET", "/stats")
    assert stats["posts_returned"] == 20 and stats["billable_post_reads"] == 10
    assert stats["billable_user_reads"] == 1
    assert stats["requests"] == {"GET /2/users/:id/tweets": 2, "GET /2/users": 1}
    assert stats["requests_by_credential"] == {"default-bearer": 3}


def test_accounts_listing(server: EmulatorServer) -> None:
    listing = {a["username"]: a for a in control(server, "GET", "/accounts")["accounts"]}
    states = {a["state"] for a in listing.values()}
    assert states == {"active", "protected", "suspended", "capped", "owner_only", "not_found"}
    assert listing["FirehoseNews"]["past_timeline_cap"] is True
    assert listing["PrivateLabs"]["readable_only_with"] == "privatelabs-owner"


def test_times_are_rfc_3339_with_z_or_an_offset_as_the_spec_says(server: EmulatorServer, client: XClient) -> None:
    # twarc sends +00:00; X's spec gives start_time the `date-time` format, which allows an offset
    account = account_by_name(server, "AcmeNews").id
    start = dt.datetime.fromtimestamp(NOW_MS / 1000, tz=dt.UTC) - dt.timedelta(days=5)
    zulu = start.strftime("%Y-%m-%dT%H:%M:%SZ")

    def ids(start_time: str) -> list[str]:
        page = client.tweepy_client.get_users_tweets(account, start_time=start_time, max_results=100)
        return [t["id"] for t in page.get("data", [])]

    assert ids(zulu) == ids(start.isoformat(timespec="seconds")) != []
    # the same instant written two hours ahead of UTC
    assert ids(zulu) == ids((start + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02:00"))
    with pytest.raises(tweepy.BadRequest):
        client.tweepy_client.get_users_tweets(account, start_time=start.strftime("%Y-%m-%d %H:%M:%S"))
