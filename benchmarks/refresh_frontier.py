"""Billable reads per post against the error of its day-7 engagement, per refresh policy, measured
in the season simulation against the emulator's truth.

    .venv/bin/python benchmarks/refresh_frontier.py      # window, ages:1,3,7, ages:2,7, ages:7
    .venv/bin/python benchmarks/refresh_frontier.py --days 24 ages:2,7 adaptive adaptive:2,7@0.05

Each policy lives the same season (same seed, no faults): each morning the daily schedule's
snapshot and the lookback schedule's tweet_insights run, as users run them. After each morning's
runs the stored engagement of every post (likes + retweets + replies + quotes) is set beside the
emulator's at that moment. Per post created in the season's first half (so its whole refresh life
is inside the season) by an account listed and readable all its first 8 days (the season suspends,
protects and removes some: no policy can re-read those):
  - reads: the UTC days X billed it (rows of x.read_ledger), over the whole season, its reads as
    another post's referenced original (in includes) among them; and its own reads: the UTC days
    it came back in an answer's data, counted in the raw archive;
  - day-7 error: |stored - truth| / truth after the first morning run at which the post is 7 days
    old (a post whose truth is 0 counts as exact only when 0 is stored);
  - mid-life error: the same, averaged over the mornings of its first 7 days (how fresh the table
    is during the week users look at most).
Target (issue 14): at most 2.5 reads per post, day-7 engagement within 5% for 95% of posts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ENGAGEMENT = ("like_count", "retweet_count", "reply_count", "quote_count")
DAY_MS = 86_400_000


def measure(policy: str, days: int, seed: int) -> dict[str, Any]:
    import duckdb
    import polars as pl

    from x_assets.season import SeasonConfig, SeasonRun
    from x_assets.warehouse.archive import archive_files, archive_root, iter_records

    mornings: list[dict[str, Any]] = []

    class Observed(SeasonRun):
        def _live(self, i: int, defs: Any, resources: Any, instance: Any) -> None:
            super()._live(i, defs, resources, instance)
            now_ms = self.world.now_ms()
            truth = {
                str(t.id): (t.created_ms, sum(getattr(t, m) or 0 for m in ENGAGEMENT), t.author_id)
                for t in self.world.tweets.values()
                if t.retweeted_id is None and t.created_ms <= now_ms
            }
            # the accounts listed and readable (active) at this morning's runs: a suspended, protected
            # or removed account's posts cannot be re-read under any policy, so they are not counted
            day = self.start + dt.timedelta(days=i)
            readable = self.readable.get(day, set()) & self.in_source.get(day, set())
            with duckdb.connect(str(self.database), read_only=True) as conn:
                stored = dict(
                    conn.execute(f"SELECT tweet_id, {' + '.join(ENGAGEMENT)} FROM x.tweet_insights").fetchall()
                )
            mornings.append({"now_ms": now_ms, "truth": truth, "stored": stored, "readable": readable})

    with tempfile.TemporaryDirectory(prefix="x_assets_frontier_") as folder:
        run = Observed(SeasonConfig(Path(folder), days=days, refresh_policy=policy, faults=False, seed=seed))
        report = run.run()
        with duckdb.connect(str(run.database), read_only=True) as conn:
            reads = dict(
                conn.execute(
                    "SELECT resource_id, count(*) FROM x.read_ledger WHERE resource = 'post' GROUP BY 1"
                ).fetchall()
            )
        # the policy's own reads: the UTC days a post came back in an answer's data (the raw archive
        # keeps every answer), not as another post's referenced original in includes
        own: dict[str, set[str]] = {}
        for record in iter_records(archive_files(archive_root(run.database.parent, "x"), "tweet_insights")):
            for post in (record["body"] or {}).get("data") or []:
                if "text" in post:  # a post, not a user of a lookup
                    own.setdefault(str(post["id"]), set()).add(record["fetched_at"][:10])
        season_start_ms = int(dt.datetime.combine(run.start, dt.time(), tzinfo=dt.UTC).timestamp() * 1000)
    half_ms = season_start_ms + (days // 2) * DAY_MS
    rows = []
    for post, (created_ms, _, author) in mornings[-1]["truth"].items():
        if not season_start_ms <= created_ms < half_ms:
            continue
        life = [m for m in mornings if created_ms <= m["now_ms"] <= created_ms + 8 * DAY_MS]
        if any(author not in m["readable"] for m in life):
            continue
        seen = [m for m in mornings if m["now_ms"] >= created_ms and post in m["stored"]]
        day7 = next((m for m in mornings if m["now_ms"] >= created_ms + 7 * DAY_MS), None)
        if not seen or day7 is None or post not in day7["stored"]:
            continue
        week = [m for m in seen if m["now_ms"] < created_ms + 7 * DAY_MS] or seen[:1]
        rows.append(
            {
                "reads": reads.get(post, 0),
                "own_reads": len(own.get(post, ())),
                "day7_error": _error(day7["stored"][post], day7["truth"][post][1]),
                "week_error": sum(_error(m["stored"][post], m["truth"][post][1]) for m in week) / len(week),
            }
        )
    frame = pl.DataFrame(rows)
    return {
        "policy": policy,
        "posts": frame.height,
        "reads_per_post": round(frame["reads"].mean(), 2),  # type: ignore[arg-type]
        "own_reads_per_post": round(frame["own_reads"].mean(), 2),  # type: ignore[arg-type]
        "day7_within_5pct": round(float((frame["day7_error"] <= 0.05).mean()), 3),  # type: ignore[arg-type]
        "day7_error_p95": round(float(frame["day7_error"].quantile(0.95)), 3),  # type: ignore[arg-type]
        "week_error_mean": round(float(frame["week_error"].mean()), 3),  # type: ignore[arg-type]
        "season_post_reads": report.post_reads,
        "seconds": round(report.seconds),
    }


def _error(stored: int | None, truth: int) -> float:
    if truth == 0:
        return 0.0 if not stored else 1.0
    return abs((stored or 0) - truth) / truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    policies = ["window", "ages:1,3,7", "ages:2,7", "ages:7", "adaptive", "adaptive:3,7", "adaptive:2,7"]
    parser.add_argument("policies", nargs="*", default=policies)
    parser.add_argument("--days", type=int, default=24)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a child: one policy
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.policies[0], args.days, args.seed)))
        return
    import polars as pl

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    print(
        f"{os.cpu_count()} cores, Python {platform.python_version()}, polars {pl.__version__}, "
        f"commit {commit.stdout.strip()}; a {args.days}-day season, seed {args.seed}, no faults"
    )
    print(
        f"{'policy':<20} {'posts':>6} {'billed reads/post':>18} {'own reads/post':>15} {'day-7 within 5%':>16} "
        f"{'day-7 p95 error':>16} {'week mean error':>16}"
    )
    from x_assets.season import season_first_day

    env = {**os.environ, "X_FIRST_DAY": season_first_day(args.days)}  # before x_assets builds its partitions
    for policy in args.policies:
        name, _, tolerance = policy.partition("@")  # adaptive:2,7@0.05: X_REFRESH_TOLERANCE 0.05
        out = subprocess.run(
            [sys.executable, __file__, name, "--days", str(args.days), "--seed", str(args.seed), "--one"],
            capture_output=True,
            text=True,
            env={**env, "X_REFRESH_TOLERANCE": tolerance} if tolerance else env,
            check=False,
        )
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        if out.returncode or not lines:
            print(f"{policy}: FAILED\n{out.stderr[-2000:]}")
            continue
        r = json.loads(lines[-1])
        print(
            f"{policy:<20} {r['posts']:>6} {r['reads_per_post']:>18} {r['own_reads_per_post']:>15} "
            f"{r['day7_within_5pct']:>16.1%} "
            f"{r['day7_error_p95']:>16.1%} {r['week_error_mean']:>16.1%}"
        )


if __name__ == "__main__":
    main()
