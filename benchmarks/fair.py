"""Fair baselines: x_assets against what a user could write instead, on the same work, with X's
rate limits enforced by the emulator.

    .venv/bin/pip install -e ".[bench]"        # twarc, for its baseline
    .venv/bin/python benchmarks/fair.py        # every scenario
    .venv/bin/python benchmarks/fair.py daily-500

Scenarios (one emulator process each, 100 ms added latency per request):
  daily-500  500 accounts, their posts of the last 7 days; pay-per-use limits (per app, 15 minutes:
             10,000 timeline requests, 300 user lookups)
  basic-50   50 accounts, the same window; legacy Basic limits (10 timeline requests per app and
             window) with the 15-minute window compressed to BENCH_BASIC_WINDOW_S seconds (default 6)
  one-account  one account, pay-per-use limits: a run's fixed cost (e2e against dagster-floor)

Contestants, each asking the same fields and expansions and writing the posts to a new DuckDB file:
  sequential    a tweepy Paginator loop (tweepy sleeps out a 429's reset)
  twarc2        twarc's Twarc2.timeline over the accounts, one after the other
  pool-16       the tweepy loop over a 16-thread pool: what a competent user writes in an afternoon
  step          x_assets' tweet_insights through dg.materialize in this process (no process start),
                with its default workers (64), and with 16 (step-16: the pool's concurrency)
  e2e           `dagster asset materialize` of tweet_insights in a new process: a user's real cost
  dagster-floor the same command for an asset that does nothing: Dagster's own start-up and events
  tick          the run an every-minute schedule of the tweet_insights job launches under
                `dagster-daemon run` (default run launcher: a new process per run), timed from the
                run's creation to its end; the daemon's lag after the cron minute is printed apart

BENCH_ONLY=step,e2e runs only those (and pool-16, the reference).

Each time is printed with its ratio to pool-16 and to its floor: the larger of the rate-limit bound
(full windows waited: ceil(requests / limit) - 1 windows) and the latency bound (the user lookups,
then ceil(pages / concurrency) rounds of latency). Ratios are of times measured in one run.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import yaml

from x_assets.ingest.settings import DEFAULT_WORKERS

sys.path.insert(0, str(Path(__file__).parent))
from ingest import control, emulator, posts_since

LATENCY_MS = 100
WINDOW_DAYS = 7
TWEET_FIELDS = ["created_at", "public_metrics", "referenced_tweets", "lang", "note_tweet"]
EXPANSIONS = ["referenced_tweets.id"]
BASIC_WINDOW_S = float(os.environ.get("BENCH_BASIC_WINDOW_S", "6"))

SCENARIOS: dict[str, dict[str, Any]] = {
    "daily-500": {"accounts": 500, "limits": {"timeline": 10_000, "users": 300}, "window_s": 900.0},
    "basic-50": {"accounts": 50, "limits": {"timeline": 10, "users": 500}, "window_s": BASIC_WINDOW_S},
    # Dagster's fixed cost against the project's share of it: e2e against dagster-floor
    "one-account": {"accounts": 1, "limits": {"timeline": 10_000, "users": 300}, "window_s": 900.0},
}


def rows_of(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The columns a user keeps of a post, from parsed pages."""
    rows = []
    for page in pages:
        for post in page.get("data") or []:
            metrics = post.get("public_metrics") or {}
            kinds = {r["type"] for r in post.get("referenced_tweets") or []}
            rows.append(
                {
                    "tweet_id": post["id"],
                    "created_at": post["created_at"],
                    "text": (post.get("note_tweet") or {}).get("text") or post["text"],
                    "lang": post.get("lang"),
                    "is_retweet": "retweeted" in kinds,
                    "is_quote": "quoted" in kinds,
                    "is_reply": "replied_to" in kinds,
                    **{k: metrics.get(k) for k in ("retweet_count", "like_count", "reply_count", "quote_count")},
                }
            )
    return rows


def write_duckdb(path: Path, rows: list[dict[str, Any]]) -> None:
    import duckdb
    import polars as pl

    frame = pl.DataFrame(rows)  # noqa: F841  (DuckDB reads it by name)
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE OR REPLACE TABLE tweets AS SELECT * FROM frame")


def tweepy_client(base: str) -> Any:
    import tweepy

    from x_assets.x_api.client import XBaseURLSession

    client = tweepy.Client(bearer_token="demo-bearer-token", return_type=dict, wait_on_rate_limit=True)
    client.session = XBaseURLSession(base)  # tweepy's fixed host, sent to the emulator
    return client


def tweepy_loop(base: str, usernames: list[str], start: dt.datetime, out: Path, workers: int) -> None:
    """Look the handles up 100 at a time, then page each timeline; workers=1: sequential."""
    import tweepy

    client = tweepy_client(base)
    ids = [
        u["id"]
        for i in range(0, len(usernames), 100)
        for u in client.get_users(usernames=usernames[i : i + 100])["data"]
    ]

    def fetch(user_id: str) -> list[dict[str, Any]]:
        pages = tweepy.Paginator(
            client.get_users_tweets,
            user_id,
            max_results=100,
            start_time=start,
            tweet_fields=TWEET_FIELDS,
            expansions=EXPANSIONS,
        )
        return rows_of(list(pages))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        rows = [row for part in pool.map(fetch, ids) for row in part]
    write_duckdb(out, rows)


def twarc_loop(base: str, usernames: list[str], start: dt.datetime, out: Path) -> None:
    from twarc.client2 import Twarc2

    class Emulated(Twarc2):  # type: ignore[misc]
        def get(self, url: str, *args: Any, **kwargs: Any) -> Any:
            return super().get(url.replace("https://api.twitter.com", base), *args, **kwargs)

    twarc = Emulated(bearer_token="demo-bearer-token", metadata=False)
    users = [u for page in twarc.user_lookup(usernames, usernames=True) for u in page["data"]]
    rows = []
    for user in users:
        pages = twarc.timeline(
            user["id"],
            start_time=start,
            max_results=100,
            tweet_fields=",".join(TWEET_FIELDS),
            expansions=",".join(EXPANSIONS),
            user_fields="id",
            media_fields="media_key",
            poll_fields="id",
            place_fields="id",
        )
        rows.extend(rows_of(list(pages)))
    write_duckdb(out, rows)


def dagster_env(base: str, tmp: Path, usernames: list[str], workers: int | None = None) -> dict[str, str]:
    source = tmp / "x_source.yaml"
    source.write_text(yaml.safe_dump({"accounts": [{"username": u} for u in usernames]}))
    home = tmp / "dagster_home"
    home.mkdir(exist_ok=True)
    env = {
        "X_API_BASE_URL": base,
        "X_BEARER_TOKEN": "demo-bearer-token",
        "X_SOURCE_FILE": str(source),
        "X_DUCKDB_PATH": str(tmp / f"warehouse-{time.monotonic_ns()}.duckdb"),
        "DAGSTER_HOME": str(home),
    }
    if workers:
        env["X_MAX_WORKERS"] = str(workers)
    return env


def step(base: str, tmp: Path, usernames: list[str], first: dt.date, last: dt.date, workers: int | None) -> None:
    """tweet_insights materialized in this process: the connector's step, Dagster in-process."""
    import dagster as dg

    from x_assets.definitions import build_resources
    from x_assets.orchestration.assets import tweet_insights

    os.environ.update(dagster_env(base, tmp, usernames, workers))
    try:
        dg.materialize(
            [tweet_insights],
            resources=build_resources(),
            tags={"dagster/asset_partition_range_start": str(first), "dagster/asset_partition_range_end": str(last)},
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=True,
        )
    finally:
        os.environ.pop("X_MAX_WORKERS", None)


def command(args: list[str], env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(args, env={**os.environ, **env}, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(args[:4])}... failed:\n{done.stderr[-2000:]}")


EMPTY_ASSET = '''
import dagster as dg

@dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date="2024-01-01", end_offset=1))
def empty() -> None:
    """Does nothing: Dagster's own cost of one materialization."""
'''


TICK_DEFS = '''
import dagster as dg

from x_assets import definitions
from x_assets.orchestration.jobs import build_jobs
from x_assets.orchestration.names import DEFAULT_SOURCE
from x_assets.orchestration.schedules import RANGE_END_TAG, RANGE_START_TAG


@dg.schedule(
    job=build_jobs(DEFAULT_SOURCE).tweet_insights,
    cron_schedule="* * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def x_bench_every_minute(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """The lookback schedule's run request, every minute."""
    return dg.RunRequest(tags={{RANGE_START_TAG: "{first}", RANGE_END_TAG: "{last}"}})


# the project's assets, jobs and resources; not its schedules and sensors, which would launch runs of their own
defs = dg.Definitions(
    assets=definitions.defs.assets,
    jobs=definitions.defs.jobs,
    resources=definitions.defs.resources,
    executor=definitions.defs.executor,
    schedules=[x_bench_every_minute],
)
'''


def tick(env: dict[str, str], tmp: Path, first: dt.date, last: dt.date) -> dict[str, float]:
    """The run a schedule tick launches, as deployed: `dagster-daemon run` evaluates an every-minute
    schedule of the tweet_insights job and the default run launcher starts the run in a new
    process. Times from the instance's run record: tick (the cron time) to run created, created to
    started (queue, launch, process start, code load), and started to ended (the run itself)."""
    import dagster as dg
    from dagster._core.instance import InstanceRef  # no public way to open an instance by its folder

    (tmp / "tick_defs.py").write_text(TICK_DEFS.format(first=first, last=last))
    home = Path(env["DAGSTER_HOME"]) / "tick"
    home.mkdir(parents=True, exist_ok=True)
    env = {**env, "DAGSTER_HOME": str(home)}
    daemon = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-f", "tick_defs.py"],
        env={**os.environ, **env},
        cwd=tmp,
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "daemon.log").open("wb"),
    )
    try:
        with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
            deadline = time.monotonic() + float(os.environ.get("BENCH_TICK_WAIT_S", "300"))
            while time.monotonic() < deadline:
                runs = instance.get_runs(limit=1)
                if runs and runs[0].is_finished:
                    break
                time.sleep(0.5)
            else:
                log = (tmp / "daemon.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"no run of the every-minute schedule finished within 5 minutes:\n{log}")
            run = runs[0]
            if run.status != dg.DagsterRunStatus.SUCCESS:
                raise RuntimeError(f"the tick's run ended {run.status}")
            record = instance.get_run_record_by_id(run.run_id)
            assert record is not None and record.start_time and record.end_time
            created = record.create_timestamp.timestamp()
            scheduled = float(int(created) // 60 * 60)  # the minute the tick was for
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
    return {
        "tick_to_created_s": round(created - scheduled, 2),
        "created_to_started_s": round(record.start_time - created, 2),
        "run_s": round(record.end_time - record.start_time, 2),
        "s": round(record.end_time - created, 2),
    }


def warm_up() -> None:
    """One in-process materialization before any is timed: the first pays Dagster's one-time imports
    (the ephemeral instance's storage), which would otherwise land on whichever step runs first."""
    import dagster as dg

    @dg.asset
    def nothing() -> None:
        """Warms Dagster up."""

    dg.materialize([nothing], instance=dg.DagsterInstance.ephemeral())


def dagster_bin() -> str:
    return str(Path(sys.executable).parent / "dagster")


@contextmanager
def limited(base: str, spec: dict[str, Any]) -> Iterator[None]:
    """X's limits enforced for one contestant, each starting with fresh windows."""
    body = {"enforce": True, "limits": spec["limits"], "window_seconds": spec["window_s"]}
    requests.post(f"{base}/_emulator/rate-limits", json=body, timeout=30).raise_for_status()
    control(base, "POST", "/stats/reset")
    yield


def floor_s(spec: dict[str, Any], pages: int, lookups: int, concurrency: int) -> float:
    """The fastest any client could do this work at this concurrency under these limits."""
    latency = LATENCY_MS / 1000
    rate_bound = (math.ceil(pages / spec["limits"]["timeline"]) - 1) * spec["window_s"]
    latency_bound = lookups * latency + math.ceil(pages / concurrency) * latency
    return max(rate_bound, latency_bound)


def run(name: str) -> dict[str, Any]:
    spec = SCENARIOS[name]
    today = dt.datetime.now(dt.UTC).date()
    last = today - dt.timedelta(days=1)
    first = last - dt.timedelta(days=WINDOW_DAYS - 1)
    start = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
    results: dict[str, Any] = {"scenario": name}
    with (
        emulator(spec["accounts"], WINDOW_DAYS + 1, 3, LATENCY_MS) as base,
        tempfile.TemporaryDirectory() as folder,
    ):
        tmp = Path(folder)
        listing = control(base, "GET", "/accounts")["accounts"]
        usernames = [a["username"] for a in listing]
        # the window read up to now, as every contestant reads it (no end_time)
        pages = sum(max(1, math.ceil(a["posts_since_start"] / 100)) for a in posts_since(base, listing, first))
        lookups = math.ceil(len(usernames) / 100)
        results |= {"accounts": len(usernames), "timeline_pages": pages, "limits": spec["limits"]}
        results["window_s"] = spec["window_s"]
        (tmp / "empty.py").write_text(EMPTY_ASSET)
        env = dagster_env(base, tmp, usernames)
        e2e = [dagster_bin(), "asset", "materialize", "-m", "x_assets.definitions", "--select", "tweet_insights"]
        contestants: dict[str, tuple[Callable[[], Any], int]] = {
            "pool-16": (lambda: tweepy_loop(base, usernames, start, tmp / "pool.duckdb", 16), 16),
            "sequential": (lambda: tweepy_loop(base, usernames, start, tmp / "seq.duckdb", 1), 1),
            "twarc2": (lambda: twarc_loop(base, usernames, start, tmp / "twarc.duckdb"), 1),
            "step": (lambda: step(base, tmp, usernames, first, last, None), DEFAULT_WORKERS),
            "step-16": (lambda: step(base, tmp, usernames, first, last, 16), 16),
            "e2e": (lambda: command([*e2e, "--partition-range", f"{first}...{last}"], env, tmp), DEFAULT_WORKERS),
            "tick": (lambda: tick(env, tmp, first, last), DEFAULT_WORKERS),
            "dagster-floor": (
                lambda: command(
                    [
                        dagster_bin(),
                        "asset",
                        "materialize",
                        "-f",
                        "empty.py",
                        "--select",
                        "empty",
                        "--partition",
                        str(last),
                    ],
                    env,
                    tmp,
                ),
                0,
            ),
        }
        only = [c for c in os.environ.get("BENCH_ONLY", "").split(",") if c]
        contestants = {k: v for k, v in contestants.items() if not only or k in only or k == "pool-16"}
        import x_assets.orchestration.assets  # noqa: F401  (imported now: the in-process contestants run this code)

        warm_up()

        for label, (work, concurrency) in contestants.items():
            with limited(base, spec):
                started = time.perf_counter()
                own = work()  # a contestant that waits for something (a tick) times its own work
                seconds = own["s"] if isinstance(own, dict) else time.perf_counter() - started
            stats = control(base, "GET", "/stats")
            entry = {
                **(own if isinstance(own, dict) else {}),
                "s": round(seconds, 2),
                "requests": stats["requests_total"],
                "429s": stats["statuses"].get("429", 0),
            }
            if concurrency:
                entry["floor_s"] = round(floor_s(spec, pages, lookups, concurrency), 2)
                entry["x_floor"] = round(seconds / entry["floor_s"], 2)
            results[label] = entry
        pool = results["pool-16"]["s"]
        for label in contestants:
            results[label]["x_pool"] = round(results[label]["s"] / pool, 2)
    return results


def machine() -> dict[str, Any]:
    import dagster
    import duckdb
    import polars
    import tweepy

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "dagster": dagster.__version__,
        "tweepy": tweepy.__version__,
        "polars": polars.__version__,
        "duckdb": duckdb.__version__,
        "commit": commit.stdout.strip(),
    }


def main() -> None:
    print(json.dumps(machine()))
    for name in sys.argv[1:] or list(SCENARIOS):
        result = run(name)
        print(
            f"\n== {name}: {result['accounts']} accounts, {result['timeline_pages']} timeline pages, "
            f"limits {result['limits']} per {result['window_s']:.0f}s window"
        )
        heads = ("seconds", 8), ("x pool-16", 10), ("floor s", 8), ("x floor", 8), ("requests", 9), ("429s", 5)
        print(f"  {'contestant':<14} " + " ".join(f"{h:>{w}}" for h, w in heads))
        for label, entry in result.items():
            if isinstance(entry, dict) and "s" in entry:
                print(
                    f"  {label:<14} {entry['s']:>8.2f} {entry['x_pool']:>10.2f} {entry.get('floor_s', ''):>8} "
                    f"{entry.get('x_floor', ''):>8} {entry['requests']:>9} {entry['429s']:>5}"
                )
        if "tick" in result:
            t = result["tick"]
            print(
                f"  tick: cron minute to run created {t['tick_to_created_s']}s (the daemon's lag, not counted), "
                f"created to started {t['created_to_started_s']}s, the run {t['run_s']}s"
            )
        if "e2e" in result and "dagster-floor" in result:
            ratio = result["e2e"]["s"] / result["dagster-floor"]["s"]
            print(f"  e2e / dagster-floor: {ratio:.2f} (the project's share of a run beyond Dagster's own)")
        print(json.dumps(result))


if __name__ == "__main__":
    main()
