"""The demo: the bundled emulator lives a few simulated weeks, loaded day by day into DuckDB; then a summary.

Runs the same asset code and jobs as production; only X_API_BASE_URL and the demo
credentials point at the emulator.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import dagster as dg

from . import emulator
from .clock import use_clock, utc_today
from .constants import (
    DEFAULT_DUCKDB_PATH,
    DEFAULT_SOURCE_FILE,
    ENV_ACCESS_TOKEN,
    ENV_ACCESS_TOKEN_SECRET,
    ENV_API_BASE_URL,
    ENV_BEARER_TOKEN,
    ENV_CONSUMER_KEY,
    ENV_CONSUMER_SECRET,
    ENV_DUCKDB_PATH,
    ENV_SOURCE_FILE,
    SCHEMA,
)
from .emulator.season import Season
from .orchestration.names import DEFAULT_SOURCE, SourceNames
from .orchestration.resources import Warehouse, XResource
from .orchestration.schedules import RANGE_END_TAG, RANGE_START_TAG
from .orchestration.source_defs import source_definitions
from .warehouse.read import SourceTables, open_source

# Two sources, as a brand team keeps them: its own accounts (the default source, x_source.yaml)
# read with OAuth 1.0a user-context values, and a competitor watch list (examples/competitors.yaml)
# read with another app's bearer token.
DEMO_ENV = {
    ENV_CONSUMER_KEY: emulator.DEMO_CONSUMER_KEY,
    ENV_CONSUMER_SECRET: emulator.DEMO_CONSUMER_SECRET,
    ENV_ACCESS_TOKEN: emulator.DEMO_ACCESS_TOKEN,
    ENV_ACCESS_TOKEN_SECRET: emulator.DEMO_ACCESS_TOKEN_SECRET,
    "X_PRIVATELABS_BEARER_TOKEN": emulator.DEMO_OWNER_BEARER_TOKEN,
    "X_COMPETITORS_BEARER_TOKEN": emulator.DEMO_BEARER_TOKEN,
}
COMPETITORS = SourceNames("competitors")
COMPETITORS_FILE = Path(__file__).resolve().parents[1] / "examples" / "competitors.yaml"


@contextmanager
def demo_environment(base_url: str) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.pop(ENV_BEARER_TOKEN, None)  # a bearer token would win over the demo's OAuth 1.0a values
    os.environ.update(DEMO_ENV)
    os.environ[ENV_API_BASE_URL] = base_url
    os.environ.setdefault(ENV_SOURCE_FILE, DEFAULT_SOURCE_FILE)
    os.environ.setdefault(ENV_DUCKDB_PATH, DEFAULT_DUCKDB_PATH)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_demo(days: int = 7, season_days: int = 21, out: TextIO = sys.stdout) -> int:
    """A simulated season of season_days ending today, so the charts have curves: each day the
    emulator's world lives a day (posts, engagement, followers) and the daily job loads it the next
    morning at 00:30, as the schedule would; then today's snapshot and a lookback over the last days."""
    today = utc_today()
    start = today - dt.timedelta(days=season_days)
    first = today - dt.timedelta(days=days - 1)
    start_ms = int(dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC).timestamp() * 1000)
    world_spec = emulator.WorldSpec(now_ms=start_ms)
    with emulator.EmulatorServer(emulator.Emulator(world_spec)) as server, demo_environment(server.base_url):
        world = server.world

        def at(day: dt.date, hour: int = 0, minute: int = 0) -> None:
            world.set_now_ms(int(dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC).timestamp() * 1000))

        def now() -> dt.datetime:
            return dt.datetime.fromtimestamp(world.now_ms() / 1000, tz=dt.UTC)

        print(f"emulator: {server.base_url}", file=out)
        defs = demo_definitions()  # built after the environment points at the emulator
        instance = dg.DagsterInstance.ephemeral()
        daily, lookback = defs.resolve_job_def("x_daily_job"), defs.resolve_job_def("tweet_insights_job")
        rival_daily = defs.resolve_job_def(COMPETITORS.named("x_daily_job"))
        rival_lookback = defs.resolve_job_def(COMPETITORS.named("tweet_insights_job"))
        season = Season(world, seed=7)

        def run(label: str, job: dg.JobDefinition, **kwargs: object) -> bool:
            result = job.execute_in_process(
                instance=instance,
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
                **kwargs,  # type: ignore[arg-type]
            )
            print(f"{label}: {'success' if result.success else 'FAILED'}", file=out)
            return result.success

        ok = True
        with use_clock(now):
            for i in range(season_days):
                day = start + dt.timedelta(days=i)
                at(day)
                season.live_day(world.now_ms())
                at(day + dt.timedelta(days=1), 0, 30)  # the daily schedule's tick
                ok &= run(f"day {day}: snapshot, posts, growth, engagement", daily, partition_key=str(day))
                ok &= run(f"day {day}: the same for competitors", rival_daily, partition_key=str(day))
            at(today, 12)
            season.live_day(int(dt.datetime.combine(today, dt.time(), tzinfo=dt.UTC).timestamp() * 1000))
            tags = {RANGE_START_TAG: str(first), RANGE_END_TAG: str(today)}
            for names, job, posts in ((DEFAULT_SOURCE, daily, lookback), (COMPETITORS, rival_daily, rival_lookback)):
                snapshot = [names.key("account_insights"), names.key("account_daily_growth")]
                label = f"{names.name}: account snapshot {today}"
                ok &= run(label, job, partition_key=str(today), asset_selection=snapshot)
                ok &= run(f"{names.name}: posts and engagement {first}..{today} (the lookback)", posts, tags=tags)
        stats = server.emulator.stats.snapshot()
        used = ", ".join(f"{label} {n}" for label, n in sorted(stats["requests_by_credential"].items()))
        print(f"\nX requests by credential: {used}", file=out)  # each source read with its own app
        print_summary(os.environ[ENV_DUCKDB_PATH], out, sources=(SCHEMA, COMPETITORS.name))
    return 0 if ok else 1


def demo_definitions() -> dg.Definitions:
    """The project's Definitions (the default source) and the competitors source beside it, as
    `dg scaffold defs x_assets.XSourceComponent competitors` would add it."""
    from .definitions import build_defs

    competitors = source_definitions(
        COMPETITORS,
        XResource(source_file=str(COMPETITORS_FILE), base_url=os.environ[ENV_API_BASE_URL]),
        Warehouse(database=os.environ[ENV_DUCKDB_PATH], schema_name=COMPETITORS.schema),
    )
    return dg.Definitions.merge(build_defs(), competitors)


def print_summary(database: str, out: TextIO | None = None, sources: tuple[str, ...] = (SCHEMA,)) -> None:
    """What each source's tables hold; raises SourceReadError (a sentence) when they cannot be read."""
    for name in sources:
        with open_source(name, database) as source:
            _print_source(source, out or sys.stdout)


def _print_source(source: SourceTables, out: TextIO) -> None:
    schema = source.schema
    tables = set(source.tables())
    print(f"\nDuckDB {source.database}, source {source.name} (schema {schema}):", file=out)
    for table in ("account_insights", "tweet_insights", "account_status", "account_daily_growth", "tweet_engagement"):
        if table in tables:
            count = source.conn.execute(f"SELECT count(*) FROM {schema}.{table}").fetchone()
            print(f"  {schema}.{table}: {count[0] if count else 0} rows", file=out)
        else:
            print(f"  {schema}.{table}: not materialized yet", file=out)
    if "account_insights" in tables:
        print("\nLatest account snapshot:", file=out)
        rows = source.conn.execute(
            f"SELECT account_name, username, followers_count, tweet_count, like_count FROM {schema}.account_insights "
            f"WHERE date = (SELECT max(date) FROM {schema}.account_insights) ORDER BY followers_count DESC"
        ).fetchall()
        for name, username, followers, tweets, likes in rows:
            print(
                f"  {name:<24} @{username:<14} followers {followers:>9,}  posts {tweets:>7,}  likes given {likes:>7,}",
                file=out,
            )
    if "tweet_insights" in tables:
        print("\nPosts per account (loaded days):", file=out)
        rows = source.conn.execute(
            f"SELECT account_name, count(*), sum(is_retweet::INT), sum(like_count) FROM {schema}.tweet_insights "
            "GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall()
        for name, posts, retweets, likes in rows:
            print(f"  {name:<24} {posts:>6} posts ({retweets} retweets), {likes or 0:>9,} likes", file=out)
    if "account_status" in tables:
        print("\nAccounts not fully loaded:", file=out)
        rows = source.conn.execute(
            f"SELECT DISTINCT endpoint, username, status, detail FROM {schema}.account_status WHERE status <> 'ok' "
            "ORDER BY 2, 1"
        ).fetchall()
        for endpoint, username, status, detail in rows:
            print(f"  @{username:<14} {endpoint:<17} {status:<20} {detail[:70]}", file=out)
        if not rows:
            print("  none", file=out)
