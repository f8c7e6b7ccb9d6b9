"""Fixtures: an emulator on 127.0.0.1, a project configured against it, and the world's truth.

Every test talks to the emulator through the real tweepy client over HTTP; nothing
here mocks tweepy.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
import requests
import yaml

from x_assets.clock import ENV_NOW, use_clock
from x_assets.emulator import DEMO_BEARER_TOKEN, DEMO_OWNER_BEARER_TOKEN, Emulator, EmulatorServer, WorldSpec
from x_assets.x_api.client import ScopeCredentials, XClient, make_client

# Keep clients from routing 127.0.0.1 through a proxy set in the environment.
os.environ["NO_PROXY"] = "127.0.0.1,localhost"
os.environ["no_proxy"] = "127.0.0.1,localhost"
# The suite's sources began long ago: account snapshots are offered from the first day, as posts are,
# so the tests can store and derive any day. (test_automation checks the default, yesterday; the
# season, the demo and test_sources check sources that began on a given day.)
os.environ["X_SNAPSHOTS_FROM"] = "2024-01-01"

# The suite runs at one instant: the emulator's world and the connector share this clock, so a
# suite that crosses 00:00 UTC sees one day throughout (child processes get it as X_ASSETS_NOW).
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
NOW_MS = int(NOW.timestamp() * 1000)
TODAY = NOW.date()


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[None]:
    with use_clock(lambda: NOW):
        yield


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(Emulator(WorldSpec(seed=7, accounts=5, days=40, tweets_per_day=4, now_ms=NOW_MS))) as srv:
        yield srv


@pytest.fixture
def client(server: EmulatorServer) -> XClient:
    """tweepy as the connector sets it up, answering parsed JSON for readable assertions."""
    return make_client(
        ScopeCredentials("default", bearer_token=DEMO_BEARER_TOKEN), server.base_url, timeout=10, return_type=dict
    )


def control(server: EmulatorServer, method: str, path: str, body: Any = None) -> Any:
    response = requests.request(method, f"{server.base_url}/_emulator{path}", json=body, timeout=10)
    response.raise_for_status()
    return response.json()


def account_by_name(server: EmulatorServer, username: str) -> Any:
    return server.world.by_username[username.lower()]


DEMO_ACCOUNTS = [
    {"username": "AcmeNews", "name": "Acme News"},
    {"username": "GlobexDev"},
    {"username": "InitechHQ"},
    {"username": "LockedVault"},
    {"username": "BannedBrand"},
    {"username": "PrivateLabs", "credentials": {"bearer_token": "TEST_PRIVATELABS_TOKEN"}},
    {"username": "GoneForGood"},
]


@dataclass
class Project:
    """A source file, environment and DuckDB file pointed at the emulator."""

    server: EmulatorServer
    tmp: Path
    monkeypatch: pytest.MonkeyPatch
    instance: dg.DagsterInstance
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def database(self) -> str:
        return str(self.tmp / "data" / "warehouse.duckdb")

    def write_source(self, source: dict[str, Any] | None = None) -> None:
        if source is not None:
            self.source = source
        (self.tmp / "x_source.yaml").write_text(yaml.safe_dump(self.source, allow_unicode=True))

    def resources(self, **x_overrides: Any) -> dict[str, Any]:
        from x_assets.definitions import build_resources

        return build_resources(**x_overrides)

    def materialize(
        self,
        assets: list[str],
        partition: str | None = None,
        days: tuple[dt.date, dt.date] | None = None,
        tags: dict[str, str] | None = None,
        run_config: dict[str, Any] | None = None,
        **x_overrides: Any,
    ) -> dg.ExecuteInProcessResult:
        from x_assets.orchestration import assets as table_assets
        from x_assets.orchestration import derived_assets

        all_tags = dict(tags or {})
        if days is not None:
            all_tags["dagster/asset_partition_range_start"] = str(days[0])
            all_tags["dagster/asset_partition_range_end"] = str(days[1])
        return dg.materialize(
            [getattr(table_assets, name, None) or getattr(derived_assets, name) for name in assets],
            resources=self.resources(**x_overrides),
            partition_key=partition,
            tags=all_tags or None,
            run_config=run_config,
            instance=self.instance,
            raise_on_error=False,
        )

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with duckdb.connect(self.database, read_only=True) as conn:
            return conn.execute(sql, params or []).fetchall()

    def frame(self, sql: str) -> Any:
        with duckdb.connect(self.database, read_only=True) as conn:
            return conn.sql(sql).pl()

    def stats(self) -> dict[str, Any]:
        return control(self.server, "GET", "/stats")  # type: ignore[no-any-return]


@pytest.fixture
def project(server: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("X_API_BASE_URL", server.base_url)
    monkeypatch.setenv("X_BEARER_TOKEN", DEMO_BEARER_TOKEN)
    monkeypatch.setenv("TEST_PRIVATELABS_TOKEN", DEMO_OWNER_BEARER_TOKEN)
    monkeypatch.setenv("X_SOURCE_FILE", str(tmp_path / "x_source.yaml"))
    monkeypatch.setenv("X_DUCKDB_PATH", str(tmp_path / "data" / "warehouse.duckdb"))
    monkeypatch.setenv(ENV_NOW, NOW.isoformat())  # runs in child processes share the suite's instant
    for name in ("X_CONSUMER_KEY", "X_CONSUMER_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)
    with dg.instance_for_test() as instance:
        proj = Project(server, tmp_path, monkeypatch, instance)
        proj.write_source({"accounts": DEMO_ACCOUNTS, "default_schema": {"client": "acme", "region": "emea"}})
        yield proj


def simulated_days(project: Project, start: dt.datetime, days: int) -> Iterator[dt.date]:
    """days UTC days from start: each time the emulator's world lives a day and the connector's
    clock is there too; yields each day (as today) for the caller to run that day's work."""
    world = project.server.world
    clock = [start]
    with use_clock(lambda: clock[0]):
        for step in range(days):
            clock[0] = start + dt.timedelta(days=step)
            world.set_now_ms(int(clock[0].timestamp() * 1000))
            world.advance(1)
            yield clock[0].date()


def utc_date(ms: int) -> dt.date:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).date()


def expected_tweet_rows(
    server: EmulatorServer, username: str, first: dt.date, last: dt.date, name: str | None = None
) -> dict[str, dict[str, Any]]:
    """tweet_insights rows as they should be, computed from the world's objects, not its JSON."""
    world = server.world
    account = account_by_name(server, username)
    rows = {}
    for tweet in world.visible_tweets(account)[:3200]:
        day = utc_date(tweet.created_ms)
        if not first <= day <= last:
            continue
        kinds = {kind for kind, _ in tweet.refs}
        original_id = tweet.retweeted_id
        original = world.tweets.get(original_id) if original_id else None
        is_retweet = original_id is not None
        rows[str(tweet.id)] = {
            "created_date": day,
            "tweet_id": str(tweet.id),
            "account_id": str(account.id),
            "username": account.username,
            "account_name": name or account.username,
            "created_at": dt.datetime.fromtimestamp(tweet.created_ms / 1000, tz=dt.UTC),
            "text": tweet.note_text or tweet.text,
            "lang": tweet.lang,
            "is_retweet": is_retweet,
            "is_quote": "quoted" in kinds,
            "is_reply": "replied_to" in kinds,
            "retweet_count": original.retweet_count if original else tweet.retweet_count,
            "own_retweet_count": 0 if is_retweet else tweet.retweet_count,
            "original_tweet_id": str(original_id) if original_id else None,
            "original_retweet_count": original.retweet_count if original else None,
            "like_count": 0 if is_retweet else tweet.like_count,
            "reply_count": 0 if is_retweet else tweet.reply_count,
            "quote_count": 0 if is_retweet else tweet.quote_count,
            "bookmark_count": 0 if is_retweet else tweet.bookmark_count or 0,  # required by X's spec
            "impression_count": 0 if is_retweet else tweet.impression_count or 0,
        }
    return rows


def expected_others_post(server: EmulatorServer, tweet: Any) -> dict[str, Any]:
    """The columns mentions_insights and search_insights keep of a post by someone else, from the
    world's objects: its author, text, flags and public counts."""
    world = server.world
    author = world.accounts[tweet.author_id]
    kinds = {kind for kind, _ in tweet.refs}
    metrics = world.public_metrics(tweet)
    return {
        "created_date": utc_date(tweet.created_ms),
        "tweet_id": str(tweet.id),
        "author_id": str(author.id),
        "author_username": author.username,
        "created_at": dt.datetime.fromtimestamp(tweet.created_ms / 1000, tz=dt.UTC),
        "text": tweet.note_text or tweet.text,
        "lang": tweet.lang,
        "is_retweet": tweet.retweeted_id is not None,
        "is_quote": "quoted" in kinds,
        "is_reply": "replied_to" in kinds,
        **{m: metrics[m] for m in ("retweet_count", "like_count", "reply_count", "quote_count")},
        "bookmark_count": metrics["bookmark_count"],
        "impression_count": metrics["impression_count"],
    }


def dump(value: Any) -> str:
    return json.dumps(value, default=str, indent=1)


def materializations_of(result: dg.ExecuteInProcessResult, asset: str) -> list[dg.AssetMaterialization]:
    """The asset's own materializations in a run, without those its step reports for the tables
    written beside it (account_status, top_tweets_weekly)."""
    return [m for m in result.asset_materializations_for_node(asset) if m.asset_key == dg.AssetKey(asset)]
