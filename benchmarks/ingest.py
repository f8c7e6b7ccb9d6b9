"""Ingest benchmarks: the real assets against the emulator, beside a plain tweepy baseline.

    .venv/bin/python benchmarks/ingest.py                 # every scenario, each in its own process
    .venv/bin/python benchmarks/ingest.py daily-500       # one scenario

Scenarios:
  daily-500        500 accounts, a 7-day window, 100 ms added latency per request
  backfill-1y-50   50 busy accounts, one year in one ranged run (up to 3,200 posts each), 100 ms latency
  million          about one million posts, zero latency (end to end: HTTP, parsing, DuckDB)
  million-memory   the same kind of pages already in memory: parsing and writing alone
                   (BENCH_WORKERS threads, default 2: the connector's workers do this part)

BENCH_NO_BASELINE=1 skips the baselines (they take longer than the runs they are compared with).

Per scenario it prints wall time, requests (and the minimum possible), billable post and user
reads, the estimated USD, peak RSS of the connector's process (the emulator runs in another
process), posts per second, and the time of a baseline: a sequential tweepy Paginator loop over
the same accounts that writes nothing, which is what most hand-rolled scripts and peers do.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import yaml

SCENARIOS: dict[str, dict[str, Any]] = {
    "daily-500": {"accounts": 500, "days": 8, "per_day": 3, "latency_ms": 100, "window_days": 7},
    "backfill-1y-50": {"accounts": 50, "days": 365, "per_day": 10, "latency_ms": 100, "window_days": 365},
    # X allows 10,000 timeline requests per 15 minutes per app: a million posts is that whole window.
    # This scenario lifts the emulator's limit to measure the connector, not the rate limit.
    "million": {"accounts": 400, "days": 250, "per_day": 10, "latency_ms": 0, "window_days": 251, "limit": 1_000_000},
}
PAGE = 100


@contextmanager
def emulator(accounts: int, days: int, per_day: float, latency_ms: float) -> Iterator[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "x_assets.emulator",
            "--port",
            "0",
            "--seed",
            "1",
            "--accounts",
            str(accounts),
            "--days",
            str(days),
            "--tweets-per-day",
            str(per_day),
            "--latency-ms",
            str(latency_ms),
            "--no-special-accounts",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def control(base: str, method: str, path: str) -> Any:
    response = requests.request(method, f"{base}/_emulator{path}", timeout=60)
    response.raise_for_status()
    return response.json()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def baseline(base: str, accounts: list[dict[str, Any]], start: dt.datetime, workers: int = 1) -> float:
    """A plain tweepy Paginator loop over the accounts, writing nothing (workers=1: sequential)."""
    from concurrent.futures import ThreadPoolExecutor

    import tweepy

    from x_assets.x_api.client import XBaseURLSession

    client = tweepy.Client(bearer_token="demo-bearer-token")
    client.session = XBaseURLSession(base)  # tweepy's fixed host, sent to the emulator

    def fetch(account: dict[str, Any]) -> None:
        for _ in tweepy.Paginator(
            client.get_users_tweets,
            account["id"],
            max_results=100,
            start_time=start,
            tweet_fields=["created_at", "public_metrics", "referenced_tweets", "lang", "note_tweet"],
            expansions=["referenced_tweets.id"],
        ):
            pass

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(fetch, accounts))
    return time.perf_counter() - started


def run_scenario(name: str) -> dict[str, Any]:
    spec = SCENARIOS[name]
    today = dt.datetime.now(dt.UTC).date()
    last = today - dt.timedelta(days=1)
    first = last - dt.timedelta(days=spec["window_days"] - 1)
    with (
        emulator(spec["accounts"], spec["days"], spec["per_day"], spec["latency_ms"]) as base,
        tempfile.TemporaryDirectory() as tmp,
    ):
        listing = control(base, "GET", "/accounts")["accounts"]
        if "limit" in spec:
            requests.post(f"{base}/_emulator/rate-limits", json={"limits": {"timeline": spec["limit"]}}, timeout=30)
        source = Path(tmp) / "x_source.yaml"
        source.write_text(yaml.safe_dump({"accounts": [{"username": a["username"]} for a in listing]}))
        os.environ.update(
            {
                "X_API_BASE_URL": base,
                "X_BEARER_TOKEN": "demo-bearer-token",
                "X_SOURCE_FILE": str(source),
                "X_DUCKDB_PATH": str(Path(tmp) / "warehouse.duckdb"),
            }
        )
        import dagster as dg

        from x_assets.definitions import build_resources
        from x_assets.orchestration.assets import tweet_insights

        started = time.perf_counter()
        result = dg.materialize(
            [tweet_insights],
            resources=build_resources(),
            tags={"dagster/asset_partition_range_start": str(first), "dagster/asset_partition_range_end": str(last)},
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=True,
        )
        wall = time.perf_counter() - started
        rss = peak_rss_mb()  # before the baselines run in this process
        stats = control(base, "GET", "/stats")
        # the asset's own materializations (one per day, each with that day's figures, which add up to the
        # run's), not the reports its step logs for the tables written beside it (account_status, ...)
        own = [
            {k: v.value for k, v in m.metadata.items()}
            for m in result.asset_materializations_for_node("tweet_insights")
            if m.asset_key == dg.AssetKey("tweet_insights")
        ]
        meta = {key: sum(m.get(key, 0) for m in own) for key in ("estimated_usd", "dagster/row_count")}
        # minimum: one lookup per 100 accounts, and per account its posts since the window start at 100 a page
        # (a window ending yesterday is read up to now, see README)
        minimum = math.ceil(len(listing) / 100) + sum(
            max(1, math.ceil(a["posts_since_start"] / PAGE)) for a in posts_since(base, listing, first)
        )
        start = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
        skip = os.environ.get("BENCH_NO_BASELINE") == "1"
        base_time = 0.0 if skip else baseline(base, listing, start)
        workers = build_resources()["x"].max_workers
        one_pass = 0.0 if skip else baseline(base, listing, start, workers)
        return {
            "scenario": name,
            "accounts": len(listing),
            "latency_ms": spec["latency_ms"],
            "wall_s": round(wall, 2),
            "requests": stats["requests_total"],
            "minimum_requests": minimum,
            "billable_post_reads": stats["billable_post_reads"],
            "billable_user_reads": stats["billable_user_reads"],
            "estimated_usd": round(meta["estimated_usd"], 4),
            "rows_written": meta["dagster/row_count"],
            "posts_per_s": round(stats["posts_returned"] / wall),
            "peak_rss_mb": round(rss),
            "rate_limit_429s": stats["statuses"].get("429", 0),
            "baseline_s": round(base_time, 2),
            "speedup_vs_baseline": round(base_time / wall, 2),
            "fetch_only_same_workers_s": round(one_pass, 2),
            "ratio_to_fetch_only": round(wall / one_pass, 2) if one_pass else None,
        }


def posts_since(base: str, listing: list[dict[str, Any]], first: dt.date) -> list[dict[str, Any]]:
    """Ask the emulator's truth how many posts each account has since the window start."""
    counts = control(base, "GET", f"/post-counts?since={first}")
    return [{"id": a["id"], "posts_since_start": counts.get(a["id"], 0)} for a in listing]


def run_million_memory() -> dict[str, Any]:
    """Pages already in memory: polars parsing, the transform and the DuckDB insert, nothing else."""
    from concurrent.futures import ThreadPoolExecutor

    import duckdb
    import polars as pl
    from archive import pages_of_world  # benchmarks/archive.py: the same pages, made the same way

    from x_assets.ingest.staging import Stager
    from x_assets.ingest.transform import AccountPosts
    from x_assets.warehouse.store import Slice, ensure_table, transaction, write_rows
    from x_assets.warehouse.tables import TWEET_INSIGHTS_TABLE
    from x_assets.x_api.payloads import parse_page, posts_of

    pages = pages_of_world(400)
    posts = 0
    with tempfile.TemporaryDirectory() as tmp:
        conn = duckdb.connect(str(Path(tmp) / "w.duckdb"))
        ensure_table(conn, TWEET_INSIGHTS_TABLE, {})
        started = time.perf_counter()

        # The connector's path: each account's pages parsed by the worker that read them (threads,
        # as in the connector); the main thread transforms and stages a batch of accounts at a time;
        # one insert at the end.
        def parse(item: tuple[str, list[bytes]]) -> AccountPosts:
            account_id, raw = item
            data, included = posts_of([parse_page(b) for b in raw])
            return AccountPosts(data, included, account_id, "u", "n")

        workers = int(os.environ.get("BENCH_WORKERS", "2"))
        stager = Stager(tmp, {})
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for account_posts in pool.map(parse, pages):
                posts += account_posts.data.height
                stager.add(account_posts)
        stager.flush()
        window = (dt.date(2000, 1, 1), dt.date(2100, 1, 1))
        conn.execute("SET preserve_insertion_order = false")
        with transaction(conn):
            slices = [Slice(account_id, *window) for account_id, _ in pages]
            write_rows(conn, TWEET_INSIGHTS_TABLE, stager.files, window, slices, "tweet_id")
        wall = time.perf_counter() - started
        stored = conn.execute("SELECT count(*) FROM x.tweet_insights").fetchall()[0]
        conn.close()
    assert stored and stored[0] == posts
    return {
        "scenario": "million-memory",
        "posts": posts,
        "wall_s": round(wall, 2),
        "posts_per_s": round(posts / wall),
        "peak_rss_mb": round(peak_rss_mb()),
        "workers": workers,
        "note": "peak RSS includes the raw pages held in memory",
        "polars": pl.__version__,
    }


def main() -> None:
    names = sys.argv[1:] or [*SCENARIOS, "million-memory"]
    if len(names) == 1:
        result = run_million_memory() if names[0] == "million-memory" else run_scenario(names[0])
        print(json.dumps(result))
        return
    for name in names:
        out = subprocess.run([sys.executable, __file__, name], capture_output=True, text=True, check=False)
        line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
        if out.returncode or not line.startswith("{"):
            print(f"{name}: FAILED\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
            continue
        result = json.loads(line)
        print(f"\n== {name}")
        for key, value in result.items():
            if key != "scenario":
                print(f"  {key:<22} {value}")


if __name__ == "__main__":
    main()
