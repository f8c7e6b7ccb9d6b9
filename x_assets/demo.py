"""The demo: the bundled emulator lives a few simulated weeks, loaded day by day into DuckDB; then a summary.

Runs the same asset code and jobs as production; only X_API_BASE_URL and the demo
credentials point at the emulator.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
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
    ENV_DESTINATION,
    ENV_DUCKDB_PATH,
    ENV_SNAPSHOTS_FROM,
    ENV_SOURCE_FILE,
    SCHEMA,
)
from .emulator.auth import OWNER_TOKEN_SECRET, owner_token
from .emulator.season import live_days
from .orchestration.names import DEFAULT_SOURCE, SourceNames
from .orchestration.resources import Warehouse, XResource, destination_from_env
from .orchestration.schedules import RANGE_END_TAG, RANGE_START_TAG, lookback_days
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
    # AcmeNews read as itself (x_source.yaml): its owned metrics, at owned-read prices
    "X_ACME_CONSUMER_KEY": emulator.DEMO_CONSUMER_KEY,
    "X_ACME_CONSUMER_SECRET": emulator.DEMO_CONSUMER_SECRET,
    "X_ACME_ACCESS_TOKEN_SECRET": OWNER_TOKEN_SECRET,
}
OWN_ACCOUNT = "AcmeNews"  # its token is "<its id>-owner" (set once the world exists)
COMPETITORS = SourceNames("competitors")
COMPETITORS_FILE = Path(__file__).resolve().parents[1] / "examples" / "competitors.yaml"
DEMO_HOME = ".dagster_home"
UI_ENV_FILE = "demo.env"  # beside the DuckDB file (data/, ignored by git)
UI_EMULATOR_PORT = 8787


@contextmanager
def demo_environment(base_url: str, snapshots_from: dt.date) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.pop(ENV_BEARER_TOKEN, None)  # a bearer token would win over the demo's OAuth 1.0a values
    os.environ.update(DEMO_ENV)
    os.environ[ENV_API_BASE_URL] = base_url
    os.environ[ENV_SNAPSHOTS_FROM] = snapshots_from.isoformat()
    os.environ.setdefault(ENV_SOURCE_FILE, DEFAULT_SOURCE_FILE)
    os.environ.setdefault(ENV_DUCKDB_PATH, DEFAULT_DUCKDB_PATH)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def demo_instance() -> dg.DagsterInstance:
    """The project's instance ($DAGSTER_HOME, else .dagster_home here), so `dagster dev` shows the demo's runs."""
    home = Path(os.environ.get("DAGSTER_HOME") or DEMO_HOME).resolve()
    home.mkdir(parents=True, exist_ok=True)
    shipped = Path(__file__).resolve().parents[1] / DEMO_HOME / "dagster.yaml"
    if not (home / "dagster.yaml").exists() and shipped.is_file():  # the project's pool limits and run monitoring
        shutil.copyfile(shipped, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def run_demo(season_days: int = 14, out: TextIO = sys.stdout) -> int:
    """A simulated season of season_days ending today, so the charts and the Plots tab have curves:
    each day the emulator's world lives a day (posts, engagement, followers) and each source's
    account snapshot is taken the next morning at 00:30, as the schedule would; then today's
    snapshot, the season's follower growth, and every post of the season read in one ranged run
    per source (as the history sensor would) with its engagement."""
    if not 1 <= season_days <= 90:
        raise ValueError(f"season_days must be from 1 to 90, got {season_days}")
    today = utc_today()
    start = today - dt.timedelta(days=season_days)
    start_ms = int(dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC).timestamp() * 1000)
    world_spec = emulator.WorldSpec(now_ms=start_ms)
    instance = demo_instance()
    with (
        emulator.EmulatorServer(emulator.Emulator(world_spec)) as server,
        demo_environment(server.base_url, start),
    ):
        world = server.world
        os.environ["X_ACME_ACCESS_TOKEN"] = owner_token(world.by_username[OWN_ACCOUNT.lower()].id)

        def now() -> dt.datetime:
            return dt.datetime.fromtimestamp(world.now_ms() / 1000, tz=dt.UTC)

        print(f"emulator: {server.base_url}; Dagster instance: {os.environ['DAGSTER_HOME']}", file=out)
        defs = demo_definitions()  # built after the environment points at the emulator
        sources = (DEFAULT_SOURCE, COMPETITORS)
        snapshots = {n: defs.resolve_job_def(n.named("account_insights_job")) for n in sources}
        posts = {n: defs.resolve_job_def(n.named("tweet_insights_job")) for n in sources}
        snapshot_key = {n: n.key("account_insights") for n in sources}
        # each morning, the brand's lookback reads (without the derivations, made once below): every
        # read of a post lands in its metrics history, so the curves by age fill day by day. (The
        # competitors' posts are read once, at the end: each Dagster run costs seconds here.)
        reads = [DEFAULT_SOURCE.key(a) for a in ("tweet_insights", "mentions_insights", "search_insights")]
        lookback = lookback_days()

        def run(label: str, job: dg.JobDefinition, **kwargs: object) -> bool:
            # The daily runs say the same warnings every day (the summary lists them once): errors only.
            level = "WARNING" if label else "ERROR"
            result = job.execute_in_process(
                instance=instance,
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": level}}}},
                tags={"x/demo": "1", **kwargs.pop("tags", {})},  # type: ignore[dict-item]
                **kwargs,  # type: ignore[arg-type]
            )
            if not result.success or label:
                print(f"{label or job.name}: {'success' if result.success else 'FAILED'}", file=out)
            return result.success

        ok = True

        def morning(day: dt.date) -> None:  # 00:30 the next day: the daily schedule's tick
            nonlocal ok
            window = {RANGE_START_TAG: str(max(start, day - dt.timedelta(days=lookback - 1))), RANGE_END_TAG: str(day)}
            for names in sources:  # the snapshot only: growth is derived once, below
                ok &= run("", snapshots[names], partition_key=str(day), asset_selection=[snapshot_key[names]])
            ok &= run("", posts[DEFAULT_SOURCE], tags=window, asset_selection=reads)

        with use_clock(now):
            live_days(world, start, today, morning)  # ends on today, on the wall clock
            print(
                f"{season_days} days lived; every morning each source's account snapshot, and the {lookback}-day "
                "lookback of the brand's posts, mentions and searches",
                file=out,
            )
            tags = {RANGE_START_TAG: str(start), RANGE_END_TAG: str(today)}
            for names in sources:
                label = f"{names.name}: account snapshot {today}, growth {start}..{today}"
                ok &= run(label, snapshots[names], partition_key=str(today), asset_selection=[snapshot_key[names]])
                # Pure SQL over the stored snapshots: derived for the season in one ranged run, the
                # same rows as day by day (each day's materialization still carries its own figures).
                ok &= run("", snapshots[names], tags=tags, asset_selection=[names.key("account_daily_growth")])
                ok &= run(f"{names.name}: posts and engagement {start}..{today}, one run", posts[names], tags=tags)
        stats = server.emulator.stats.snapshot()
        used = ", ".join(f"{label} {n}" for label, n in sorted(stats["requests_by_credential"].items()))
        print(f"\nX requests by credential: {used}", file=out)  # each source read with its own app
        print_summary(os.environ[ENV_DUCKDB_PATH], out, sources=(SCHEMA, COMPETITORS.name))
        write_ui_env(Path(os.environ[ENV_DUCKDB_PATH]).parent / UI_ENV_FILE, start)
    print(
        "\nSee it in the Dagster UI (runs, partitions, plots, checks): scripts/ui.sh, then open http://127.0.0.1:3000",
        file=out,
    )
    return 0 if ok else 1


def write_ui_env(path: Path, snapshots_from: dt.date) -> None:
    """What scripts/ui.sh needs to show the demo as it was loaded: the same partitions, sources and
    files, and the emulator it starts on a fixed port. Demo values only: no real credential."""
    values = {
        **DEMO_ENV,
        "X_ACME_ACCESS_TOKEN": os.environ["X_ACME_ACCESS_TOKEN"],
        ENV_API_BASE_URL: f"http://127.0.0.1:{UI_EMULATOR_PORT}",
        ENV_SNAPSHOTS_FROM: snapshots_from.isoformat(),
        ENV_SOURCE_FILE: os.environ[ENV_SOURCE_FILE],
        ENV_DUCKDB_PATH: os.environ[ENV_DUCKDB_PATH],
        "DAGSTER_HOME": os.environ["DAGSTER_HOME"],
        # iceberg: the catalog and folder beside the DuckDB path (a catalog URI set by hand is not
        # written here: it may hold a password)
        ENV_DESTINATION: os.environ.get(ENV_DESTINATION, "duckdb"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")


def demo_definitions() -> dg.Definitions:
    """The project's Definitions (the default source) and the competitors source beside it, as
    `dg scaffold defs x_assets.XSourceComponent competitors` would add it."""
    from .definitions import build_defs

    competitors = source_definitions(
        COMPETITORS,
        XResource(source_file=str(COMPETITORS_FILE), base_url=os.environ[ENV_API_BASE_URL]),
        Warehouse(database=os.environ[ENV_DUCKDB_PATH], schema_name=COMPETITORS.schema, **destination_from_env()),
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
    print(f"\n{source.described}, source {source.name} (schema {schema}):", file=out)
    for table in (
        "account_insights",
        "tweet_insights",
        "tweet_metrics_history",
        "mentions_insights",
        "search_insights",
        "account_status",
        "read_ledger",
        "account_daily_growth",
        "tweet_engagement",
        "engagement_by_age",
    ):
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
    if "read_ledger" in tables:
        print(
            "\nWhat X bills, by UTC day of the read (x.read_ledger; `x-assets usage` sets X's count beside it):",
            file=out,
        )
        rows = source.conn.execute(
            "SELECT read_date, count(*) FILTER (WHERE rate = 'post'), count(*) FILTER (WHERE rate = 'owned'), "
            f"count(*) FILTER (WHERE resource = 'user') FROM {schema}.read_ledger GROUP BY 1 ORDER BY 1 DESC LIMIT 5"
        ).fetchall()
        for day, posts, owned, users in rows:
            print(f"  {day}  {posts:>7,} post reads  {owned:>5,} owned reads  {users:>5,} user reads", file=out)
    if "account_status" in tables:
        print("\nAccounts not fully loaded:", file=out)
        rows = source.conn.execute(
            f"SELECT DISTINCT endpoint, username, status, detail FROM {schema}.account_status WHERE status <> 'ok' "
            "ORDER BY 2, 1"
        ).fetchall()
        for endpoint, username, status, detail in rows:
            who = username if username.startswith("query:") else f"@{username}"
            print(f"  {who:<20} {endpoint:<17} {status:<20} {detail[:70]}", file=out)
        if not rows:
            print("  none", file=out)
