"""A season of daily operation, simulated: the emulator's clock moves day by day, the world
changes as the real one does, and each day the project's own schedules and sensor are
evaluated through Dagster's APIs and the runs they request are executed.

At the end the warehouse is compared with the emulator's truth (`SeasonReport.problems`).
The suite runs a few weeks of it (x_assets_tests/test_season.py); `scripts/season.py` runs
60 days or more and prints its figures.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import dagster as dg
import duckdb
import yaml

from .clock import use_clock
from .constants import ENV_FIRST_DAY
from .emulator import DEMO_BEARER_TOKEN, Emulator, EmulatorServer, WorldSpec
from .emulator.season import Season
from .emulator.world import ACTIVE, DAY_MS, PROTECTED, SUSPENDED
from .ingest import loads
from .log import NullLog
from .warehouse.derived import ACCOUNT_DAILY_GROWTH, TWEET_ENGAGEMENT, derive
from .warehouse.store import Store
from .warehouse.tables import ACCOUNT_INSIGHTS_TABLE, TWEET_INSIGHTS_TABLE

METRICS = ("like_count", "reply_count", "quote_count", "bookmark_count", "impression_count")
FAULT_KINDS = ("rate_limit", "rate_limit_no_reset", "server_error", "truncated", "timeout", "usage_capped", "crash")


@dataclass
class SeasonConfig:
    folder: Path
    days: int = 14
    refresh_policy: str = "window"  # or "ages:1,3,7"
    max_post_reads: int | None = None
    faults: bool = True
    seed: int = 11
    lookback_days: int = 7


@dataclass
class SeasonReport:
    days: int
    runs: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    posts_created: int = 0
    post_reads: int = 0
    requests: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.days} days, runs {dict(self.runs)}, faults {dict(self.faults)}, "
            f"{self.posts_created} posts created, {self.post_reads} billable post reads, "
            f"{self.requests} requests, {self.seconds:.0f}s; {len(self.problems)} problem(s)"
        )


@contextmanager
def _environment(values: dict[str, str | None]) -> Iterator[None]:
    """These variables set (None: unset) within the block; the whole environment restored after."""
    with mock.patch.dict(os.environ):
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield


class SeasonRun:
    """One simulated season against an emulator served on 127.0.0.1."""

    def __init__(self, config: SeasonConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        today = dt.datetime.now(dt.UTC).date()
        # Simulated days end before the real today, so each is a partition Dagster already offers.
        self.start = today - dt.timedelta(days=config.days + 1)
        self.first_day = season_first_day(config.days)
        start_ms = int(dt.datetime.combine(self.start, dt.time(), tzinfo=dt.UTC).timestamp() * 1000)
        spec = WorldSpec(seed=config.seed, accounts=6, days=12, tweets_per_day=3, now_ms=start_ms)
        self.server = EmulatorServer(Emulator(spec))
        self.world = self.server.world
        self.season = Season(self.world, seed=config.seed)
        config.folder.mkdir(parents=True, exist_ok=True)
        self.source_file = config.folder / "x_source.yaml"
        self.database = config.folder / "warehouse.duckdb"
        self.handles = ["AcmeNews", "GlobexDev", "InitechHQ", "UmbrellaLab", "StarkIndustry", "LockedVault"]
        self.ids = {h: self.world.by_username[h.lower()].id for h in [*self.handles, "HooliTech"]}
        self.in_source: dict[dt.date, set[int]] = {}  # day -> account ids listed when its daily run ran
        self.readable: dict[dt.date, set[int]] = {}  # day -> account ids readable at its daily run
        self.kept_before_change: dict[int, set[str]] = {}  # account id -> post ids stored before it changed
        self.report = SeasonReport(days=config.days)
        self.cursor: str | None = None
        self.successful_ticks: set[int] = set()  # world times at which a run succeeded whole

    # -- the clock ------------------------------------------------------------------
    def _at(self, day: dt.date, hour: int = 0, minute: int = 0) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC)

    def _set_clock(self, when: dt.datetime) -> None:
        self.world.set_now_ms(int(when.timestamp() * 1000))

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.world.now_ms() / 1000, tz=dt.UTC)

    # -- the source file ------------------------------------------------------------
    def _write_source(self) -> None:
        accounts = [{"username": h} for h in self.handles]
        self.source_file.write_text(
            yaml.safe_dump({"accounts": accounts, "default_schema": {"client": "season"}}, sort_keys=False)
        )

    def run(self) -> SeasonReport:
        # Imported here: the partitions are built on import, from X_FIRST_DAY (see main).
        from .definitions import build_defs, build_resources
        from .orchestration.partitions import daily_partitions

        if daily_partitions.start.date() > self.start - dt.timedelta(days=10):
            raise SystemExit(
                f"the partitions start on {daily_partitions.start.date()}, after the season's history: "
                f"set {ENV_FIRST_DAY}={self.first_day} before x_assets is imported (python -m x_assets.season does)"
            )
        started = time.monotonic()
        env = {
            "X_API_BASE_URL": self.server.base_url,
            "X_BEARER_TOKEN": DEMO_BEARER_TOKEN,
            "X_SOURCE_FILE": str(self.source_file),
            "X_DUCKDB_PATH": str(self.database),
            "X_REFRESH_POLICY": self.config.refresh_policy,
            "X_MAX_POST_READS": str(self.config.max_post_reads) if self.config.max_post_reads else None,
            "X_LOOKBACK_DAYS": str(self.config.lookback_days),
            "X_MAX_WORKERS": "4",
            "X_SNAPSHOTS_FROM": self.start.isoformat(),  # the day this source began
            "X_FOLLOWER_DROP_WARN": None,
            "X_CONSUMER_KEY": None,
            "X_CONSUMER_SECRET": None,
            "X_ACCESS_TOKEN": None,
            "X_ACCESS_TOKEN_SECRET": None,
        }
        self._write_source()
        with self.server, _environment(env), use_clock(self._now), dg.DagsterInstance.ephemeral() as instance:
            resources = build_resources(backoff_seconds=0.01, max_attempts=3, timeout_seconds=1.0)
            defs = build_defs(resources)
            for i in range(1, self.config.days + 1):
                self._live(i, defs, resources, instance)
            self.report.seconds = time.monotonic() - started
            stats = self.server.emulator.stats.snapshot()
            self.report.post_reads = stats["billable_post_reads"]
            self.report.requests = stats["requests_total"]
            self.report.problems = self._compare(defs)
        return self.report

    # -- one day --------------------------------------------------------------------
    def _live(self, i: int, defs: dg.Definitions, resources: dict[str, Any], instance: dg.DagsterInstance) -> None:
        from .orchestration.schedules import x_daily_schedule, x_tweet_lookback_schedule

        day = self.start + dt.timedelta(days=i)
        self._set_clock(self._at(day))
        self.report.posts_created += len(self.season.live_day(self._set_ms(day)))
        self._set_clock(self._at(day, 12))
        self._events(i, day)
        faulty = self.config.faults and 2 <= i <= self.config.days - 2 and self.rng.random() < 0.6
        fault = self._inject_fault(day) if faulty else None
        try:
            self._set_clock(self._at(day + dt.timedelta(days=1), 0, 10))
            self._sensor_tick(defs, resources, instance)
            self._set_clock(self._at(day + dt.timedelta(days=1), 0, 30))
            self.in_source[day] = {self.ids[h] for h in self.handles}
            self.readable[day] = {self.ids[h] for h in self.handles if self.world.accounts[self.ids[h]].state == ACTIVE}
            request = x_daily_schedule(
                dg.build_schedule_context(instance=instance, scheduled_execution_time=self._now())
            )
            assert isinstance(request, dg.RunRequest)
            self._execute(defs, instance, "account_insights_job", partition=request.partition_key, fault=fault)
            self._set_clock(self._at(day + dt.timedelta(days=1), 1, 0))
            lookback = x_tweet_lookback_schedule(
                dg.build_schedule_context(instance=instance, scheduled_execution_time=self._now())
            )
            assert isinstance(lookback, dg.RunRequest)
            self._execute(defs, instance, "tweet_insights_job", tags=dict(lookback.tags), fault=fault)
        finally:
            self.server.emulator.faults.clear()

    def _set_ms(self, day: dt.date) -> int:
        return int(self._at(day).timestamp() * 1000)

    def _events(self, i: int, day: dt.date) -> None:
        """What happens to accounts, on fixed days of the season (those within its length)."""
        world = self.world
        acme = world.accounts[self.ids["AcmeNews"]]
        if i == 2:  # a post of yesterday is deleted by its author
            recent = [t for t in world.visible_tweets(acme) if t.created_ms >= self._set_ms(day) - DAY_MS]
            if recent:
                world.delete_tweet(recent[-1].id)
        elif i == 3:  # an account is added to the source file: the sensor loads its history
            self.handles.append("HooliTech")
            self._write_source()
        elif i == 4:  # a rename, and the freed handle taken by someone else the next day
            world.rename(self.ids["GlobexDev"], "GlobexDevelopers")
        elif i == 5:
            world.create_account("GlobexDev", name="Not Globex")
            self._remember_before_change("InitechHQ")
            world.set_state(self.ids["InitechHQ"], SUSPENDED)
        elif i == 6:
            self._remember_before_change("UmbrellaLab")
            world.set_state(self.ids["UmbrellaLab"], PROTECTED)
        elif i == 7:  # a mass unfollow
            world.set_metrics(acme.id, {"followers_count": int(acme.followers_count * 0.85)})
        elif i == 8:
            world.set_state(self.ids["InitechHQ"], ACTIVE)
        elif i == 9:  # an account is removed from the source file
            self._remember_before_change("StarkIndustry")
            self.handles.remove("StarkIndustry")
            self._write_source()
        elif i == 11:  # and added back
            self.handles.append("StarkIndustry")
            self._write_source()

    def _remember_before_change(self, handle: str) -> None:
        if not self.database.exists():
            return
        with duckdb.connect(str(self.database), read_only=True) as conn:
            rows = conn.execute(
                "SELECT tweet_id FROM x.tweet_insights WHERE account_id = ?", [str(self.ids[handle])]
            ).fetchall()
        self.kept_before_change[self.ids[handle]] = {r[0] for r in rows}

    def _inject_fault(self, day: dt.date) -> str:
        kind = self.rng.choice(FAULT_KINDS)
        self.report.faults[kind] += 1
        faults = self.server.emulator.faults
        if kind == "rate_limit":
            faults.add(kind="rate_limit", every=3, times=4, reset_in=0.2)
        elif kind == "rate_limit_no_reset":
            faults.add(kind="rate_limit", every=4, times=3, reset_in=None)
        elif kind == "server_error":
            faults.add(kind="server_error", every=1, times=self.rng.randint(2, 6))
        elif kind == "truncated":
            faults.add(kind="truncated", every=2, times=3)
        elif kind == "timeout":
            faults.add(kind="slow", every=3, times=2, delay_ms=1500)
        elif kind == "usage_capped":
            faults.add(kind="usage_capped")  # the whole day: every run fails, the next days catch up
        return kind

    def _sensor_tick(self, defs: dg.Definitions, resources: dict[str, Any], instance: dg.DagsterInstance) -> None:
        from .orchestration.sensors import x_new_accounts_sensor

        context = dg.build_sensor_context(instance=instance, cursor=self.cursor, resources={"x": resources["x"]})
        result = x_new_accounts_sensor(context)
        if isinstance(result, dg.SensorResult):
            self.cursor = result.cursor
            for request in result.run_requests or []:
                self._execute(defs, instance, "tweet_insights_job", tags=dict(request.tags))

    def _execute(
        self,
        defs: dg.Definitions,
        instance: dg.DagsterInstance,
        job_name: str,
        partition: str | None = None,
        tags: dict[str, str] | None = None,
        fault: str | None = None,
    ) -> None:
        job = defs.resolve_job_def(job_name)
        with _crash_in_write(fault == "crash" and self.rng.random() < 0.5):
            result = job.execute_in_process(
                instance=instance, partition_key=partition, tags=tags or {}, raise_on_error=False
            )
        self.report.runs[f"{job_name}:{'ok' if result.success else 'failed'}"] += 1
        if result.success:
            self.successful_ticks.add(self.world.now_ms())

    # -- the truth ------------------------------------------------------------------
    def _compare(self, defs: dg.Definitions) -> list[str]:
        problems: list[str] = []
        with duckdb.connect(str(self.database), read_only=True) as conn:
            problems += _duplicates(conn)
            stored = {
                row[0]: row[1:]
                for row in conn.execute(
                    f"SELECT tweet_id, account_id, {', '.join(METRICS)}, fetched_at FROM x.tweet_insights"
                ).fetchall()
            }
            snapshots = set(conn.execute("SELECT date, account_id FROM x.account_insights").fetchall())
            statuses = {
                (d, a, e): s
                for d, a, e, s in conn.execute(
                    "SELECT date, account_id, endpoint, status FROM x.account_status"
                ).fetchall()
            }
        problems += self._posts(stored, statuses)
        problems += self._metrics(stored)
        problems += self._days(snapshots, statuses)
        problems += self._derived()
        return problems

    def _posts(self, stored: dict[str, tuple[Any, ...]], statuses: dict[tuple[Any, ...], str]) -> list[str]:
        """Every post of an account that stayed listed and readable is stored, unless deleted, or its
        day says why not (incomplete: the read budget; failed); no post of an account never listed
        (the new holder of a freed handle) is."""
        problems = []
        last = self.start + dt.timedelta(days=self.config.days)
        steady = {self.ids[h] for h in ("AcmeNews", "GlobexDev")}
        for account_id in steady:
            account = self.world.accounts[account_id]
            for tweet in self.world.visible_tweets(account):
                day = dt.datetime.fromtimestamp(tweet.created_ms / 1000, tz=dt.UTC).date()
                explained = statuses.get((day, str(account_id), "tweet_insights"), "ok") != "ok"
                if day <= last and str(tweet.id) not in stored and not explained:
                    problems.append(f"post {tweet.id} of @{account.username} ({day}) is missing, its day says ok")
        for tweet_id in self.world.deleted_tweet_ids:
            if str(tweet_id) in stored and self.config.refresh_policy == "window":
                problems.append(f"post {tweet_id} was deleted on X within the lookback but is still stored")
        stranger = self.world.by_username["globexdev"]
        if any(row[0] == str(stranger.id) for row in stored.values()):
            problems.append("posts of the new holder of @GlobexDev were loaded: the freed handle was followed")
        for account_id, before in self.kept_before_change.items():
            gone = {t for t in before if int(t) not in self.world.deleted_tweet_ids} - set(stored)
            if gone:
                problems.append(f"{len(gone)} stored post(s) of account {account_id} were lost after it changed")
        return problems

    def _metrics(self, stored: dict[str, tuple[Any, ...]]) -> list[str]:
        """Each stored post's counts are what X served at the read that stored them (its fetched_at),
        and no fully successful run read it later without storing what it read."""
        problems = []
        for tweet_id, row in stored.items():
            fetched_ms = int(row[-1].timestamp() * 1000)
            reads = self.world.served.get(int(tweet_id), [])
            at_fetch = [metrics for ms, metrics in reads if ms == fetched_ms]
            truth = tuple(at_fetch[-1].get(m) for m in METRICS) if at_fetch else None
            if tuple(row[1:-1]) != truth:
                problems.append(f"post {tweet_id}: stored {row[1:-1]}, but X served {truth} at its fetched_at")
            later = [ms for ms, _ in reads if ms > fetched_ms and ms in self.successful_ticks]
            if later:
                problems.append(f"post {tweet_id}: a successful run read it after its stored read and lost that")
        return problems

    def _days(self, snapshots: set[tuple[Any, ...]], statuses: dict[tuple[Any, ...], str]) -> list[str]:
        """One snapshot per listed account and day, or a status that says why not; a post status
        for every listed account and day."""
        problems = []
        for day, listed in self.in_source.items():
            for account_id in listed:
                key = (day, str(account_id))
                has_status = (day, str(account_id), "account_insights") in statuses
                if key not in snapshots and not has_status:
                    problems.append(f"account {account_id} has no snapshot on {day} and no status saying why")
                if (day, str(account_id), "tweet_insights") not in statuses:
                    problems.append(f"account {account_id} has no tweet_insights status on {day}")
        return problems

    def _derived(self) -> list[str]:
        """The derived tables, recomputed from scratch over the whole season, equal the stored ones."""
        copy = self.config.folder / "recomputed.duckdb"
        shutil.copy(self.database, copy)
        with duckdb.connect(str(copy)) as conn:
            stored = {name: _table(conn, name) for name in ("account_daily_growth", "tweet_engagement")}
            conn.execute("DELETE FROM x.account_daily_growth; DELETE FROM x.tweet_engagement")
        store = Store(database=str(copy))  # plain code: no Dagster resource needed
        first, last = self.start - dt.timedelta(days=400), self.start + dt.timedelta(days=self.config.days)
        for derivation in (ACCOUNT_DAILY_GROWTH, TWEET_ENGAGEMENT):
            derive(store, NullLog(), derivation, first, last, {"client": "season"})
        problems = []
        with duckdb.connect(str(copy), read_only=True) as conn:
            for name, before in stored.items():
                after = _table(conn, name)
                if before != after:
                    problems.append(f"{name} recomputed from scratch differs from the stored table")
        copy.unlink()
        return problems


def _table(conn: duckdb.DuckDBPyConnection, name: str) -> list[tuple[Any, ...]]:
    return conn.execute(f"SELECT * FROM x.{name} ORDER BY ALL").fetchall()


def _duplicates(conn: duckdb.DuckDBPyConnection) -> list[str]:
    problems = []
    for table in (ACCOUNT_INSIGHTS_TABLE, TWEET_INSIGHTS_TABLE):
        key = ", ".join(table.key)
        ((count,),) = conn.execute(
            f"SELECT count(*) FROM (SELECT {key} FROM {table.qualified} GROUP BY ALL HAVING count(*) > 1)"
        ).fetchall()
        if count:
            problems.append(f"{table.name}: {count} key(s) stored twice")
    return problems


@contextmanager
def _crash_in_write(crash: bool) -> Iterator[None]:
    """A run that dies inside its write transaction, after deleting and re-inserting its slice
    (a kill -9 there is proven in test_durability; in process, an exception is the same cut)."""
    if not crash:
        yield
        return
    real = loads.replace_statuses

    def crashing(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("simulated crash inside the write transaction")

    loads.replace_statuses = crashing  # type: ignore[assignment]
    try:
        yield
    finally:
        loads.replace_statuses = real  # type: ignore[assignment]


def season_first_day(days: int) -> str:
    """A first partition a little before the season's generated history, so the history load of a
    new account covers a few weeks, not every day since 2024."""
    return (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days + 30)).isoformat()


def main() -> None:
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--policy", default="window")
    parser.add_argument("--budget", type=int, default=None)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--no-faults", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault(ENV_FIRST_DAY, season_first_day(args.days))
    with tempfile.TemporaryDirectory(prefix="x_assets_season_") as folder:
        config = SeasonConfig(
            Path(folder),
            days=args.days,
            refresh_policy=args.policy,
            max_post_reads=args.budget,
            seed=args.seed,
            faults=not args.no_faults,
        )
        report = SeasonRun(config).run()
    for problem in report.problems[:50]:
        print("PROBLEM", problem)
    figures = {
        "policy": args.policy,
        "budget": args.budget,
        "days": report.days,
        "runs": dict(report.runs),
        "faults": dict(report.faults),
        "posts_created": report.posts_created,
        "post_reads": report.post_reads,
        "requests": report.requests,
        "seconds": round(report.seconds, 1),
        "problems": len(report.problems),
    }
    print("SEASON " + json.dumps(figures))
    raise SystemExit(1 if report.problems else 0)


if __name__ == "__main__":
    main()
