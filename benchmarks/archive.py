"""The raw archive: what it costs per post on disk and in a run, and how fast a rebuild is.

    .venv/bin/python benchmarks/archive.py            # about half a million posts
    BENCH_ACCOUNTS=100 .venv/bin/python benchmarks/archive.py

Pages are made by the emulator in memory (200 accounts x 250 days x 10 posts, half the
million-memory ingest scenario), each account's timeline read whole, then:
  1. written to a RunArchive as a run would (one zstd stream; the pages of one account in a row);
  2. the same with every post's text replaced by a line of real English prose (lines of the
     installed packages' documentation): the emulator's texts repeat a few templates, which
     zstd compresses better than what people post, so this is the figure to plan disk with;
  3. rebuilt into a new DuckDB file (tweet_insights, every day): read, parse, transform, write.
Targets (issue 14): at most 200 bytes per post on disk; a rebuild at 500,000 posts/s or more.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl
import requests


def pages_of_world(accounts: int) -> list[tuple[str, list[bytes]]]:
    from x_assets.emulator import World, WorldSpec
    from x_assets.emulator.api import Request, user_timeline
    from x_assets.emulator.auth import Credential
    from x_assets.x_api.reads import EXPANSIONS, TWEET_FIELDS

    world = World(WorldSpec(seed=1, accounts=accounts, days=250, tweets_per_day=10, special_accounts=False))
    credential = Credential("bench", "bearer", bearer_token="x")
    pages = []
    for account in (a for a in world.accounts.values() if a.listed):
        token, raw = None, []
        while True:
            params = {"max_results": "100", "tweet.fields": ",".join(TWEET_FIELDS), "expansions": ",".join(EXPANSIONS)}
            if token:
                params["pagination_token"] = token
            body = user_timeline(Request(world, params, credential), str(account.id)).body
            raw.append(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())  # as the server sends
            token = body.get("meta", {}).get("next_token")
            if not token:
                break
        pages.append((str(account.id), raw))
    return pages


def prose_lines() -> list[str]:
    """Lines of real English prose: the documentation shipped with the installed packages."""
    site = Path(pl.__file__).parents[1]
    lines: list[str] = []
    for path in sorted(site.glob("*.dist-info/METADATA")):
        for line in path.read_text(encoding="utf-8", errors="ignore").splitlines():
            words = line.split()
            if len(words) >= 8 and not line.startswith((" ", "\t", "Requires", "Classifier", "Provides")):
                lines.append(line.strip()[:280])
    return lines


def with_prose(raw: bytes, lines: list[str], rng: random.Random) -> bytes:
    body = json.loads(raw)
    for post in body.get("data") or []:
        post["text"] = rng.choice(lines)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def response(account_id: str, content: bytes) -> requests.Response:
    answer = requests.Response()
    answer._content = content
    answer.status_code = 200
    answer.request = requests.Request(
        "GET", f"https://api.x.com/2/users/{account_id}/tweets?max_results=100&tweet.fields=id"
    ).prepare()
    return answer


def archive(pages: list[tuple[str, list[bytes]]], folder: Path, window: tuple[dt.date, dt.date]) -> dict[str, Any]:
    from x_assets.warehouse.archive import RunArchive, archive_root

    run = RunArchive(archive_root(folder, "x"), "tweet_insights", window=window)
    fetched = dt.datetime(2026, 12, 1, 0, 30, tzinfo=dt.UTC)
    users = json.dumps({"data": [{"id": a, "username": f"u{a[-6:]}", "public_metrics": {}} for a, _ in pages]})
    users_answer = response("0", users.encode())
    users_answer.request.url = "https://api.x.com/2/users?ids=1"
    started = time.perf_counter()
    run.record("users", users_answer, fetched)
    for account_id, raw in pages:
        for body in raw:
            run.record("timeline", response(account_id, body), fetched)
    files = run.close()
    seconds = time.perf_counter() - started
    return {"bytes": sum(f.stat().st_size for f in files), "raw_bytes": run.bytes_in, "seconds": seconds}


def main() -> None:
    from x_assets.ingest.rebuild import _tweet_insights
    from x_assets.ingest.source import AccountSpec, SourceConfig
    from x_assets.log import NullLog
    from x_assets.warehouse.store import Scope, Store, ensure_table, write_rows
    from x_assets.warehouse.tables import TWEET_INSIGHTS_TABLE

    accounts = int(os.environ.get("BENCH_ACCOUNTS", "200"))
    pages = pages_of_world(accounts)
    posts = sum(json.loads(b).get("meta", {}).get("result_count", 0) for _, raw in pages for b in raw)
    days = [json.loads(b)["data"][i]["created_at"][:10] for _, raw in pages for b in raw for i in (0, -1)]
    window = (dt.date.fromisoformat(min(days)), dt.date.fromisoformat(max(days)))  # as a run over them all would
    rng = random.Random(7)
    lines = prose_lines()
    prose = [(a, [with_prose(b, lines, rng) for b in raw]) for a, raw in pages]
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, polars {pl.__version__}")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    print(f"commit {commit.stdout.strip()}; {posts:,} posts on {sum(len(r) for _, r in pages):,} pages")
    with tempfile.TemporaryDirectory() as tmp:
        for label, sample in (("emulator texts", pages), ("texts of real prose", prose)):
            folder = Path(tmp) / label.replace(" ", "_")
            got = archive(sample, folder, window)
            print(
                f"archive, {label}: {got['bytes'] / posts:.0f} bytes per post on disk "
                f"({got['raw_bytes'] / posts:.0f} before compression, {got['raw_bytes'] / got['bytes']:.1f}x); "
                f"kept at {posts / got['seconds']:,.0f} posts/s"
            )
        folder = Path(tmp) / "emulator_texts"
        from x_assets.warehouse.archive import archive_files, archive_root

        files = archive_files(archive_root(folder, "x"), "tweet_insights")
        source = SourceConfig(path="bench", accounts=tuple(AccountSpec(None, a, None) for a, _ in pages))
        store = Store(database=str(Path(tmp) / "w.duckdb"))
        started = time.perf_counter()
        rows, slices, _, _ = _tweet_insights(files, source, *window)
        parsed = time.perf_counter()

        def body(conn: Any) -> int:
            conn.execute("SET preserve_insertion_order = false")
            ensure_table(conn, TWEET_INSIGHTS_TABLE, {})
            return write_rows(conn, TWEET_INSIGHTS_TABLE, rows, window, slices, "tweet_id")

        written = store.write(NullLog(), [Scope(TWEET_INSIGHTS_TABLE)], body)
        wall = time.perf_counter() - started
        assert written == rows.height == posts, (written, rows.height, posts)
        print(
            f"rebuild, every day of {accounts} accounts: {written:,} rows in {wall:.2f} s "
            f"= {posts / wall:,.0f} posts/s "
            f"(read, parse and transform {parsed - started:.2f} s, write {wall - (parsed - started):.2f} s); "
            f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB"
        )


if __name__ == "__main__":
    sys.exit(main())
