"""The Iceberg destination against DuckDB, and Iceberg commits under concurrent writers.

    .venv/bin/python benchmarks/iceberg.py            # both parts
    .venv/bin/python benchmarks/iceberg.py commits    # 1, 2 and 4 writers on one PostgreSQL catalog
    .venv/bin/python benchmarks/iceberg.py daily      # one daily run on DuckDB and on Iceberg

commits  W writer processes (1, 2, 4) each replace their own 50 accounts on 7 days of
         account_insights, ROUNDS times, through IcebergStore.write on one PostgreSQL catalog that
         this script starts on loopback (Debian's postgresql, as the tests do). Two cases:
         shared    one table: every commit touches the partitions every other writer touches, the
                   worst case (one source's table written from several places), each conflict a
                   full retry;
         separate  one table per writer (its own namespace): W sources committing side by side,
                   the case the deployment is for.
         Prints commits per second (from a common start signal to the last writer's end) and the
         attempts per commit.
daily    tweet_insights of 100 accounts over a 7-day window at 100 ms latency, materialized in this
         process (as fair.py's step) into a new DuckDB file, into Iceberg on a SQLite catalog and
         into Iceberg on a PostgreSQL catalog; then each again on its filled tables (the daily
         re-read replaces the window). Ratios to DuckDB, measured in one run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # x_assets_tests.services: the PostgreSQL the tests start
sys.path.insert(0, str(Path(__file__).parent))

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "10"))
ACCOUNTS_PER_WRITER = 50
DAYS = [dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in range(7)]


def writer(uri: str, warehouse: str, name: str, rounds: int, go: Path, namespace: str) -> None:
    """One writer process: waits for the go file, then replaces its slice rounds times."""
    import duckdb
    import polars as pl

    from x_assets.log import NullLog
    from x_assets.warehouse.iceberg import IcebergStore
    from x_assets.warehouse.store import Scope, Slice, ensure_table, write_rows
    from x_assets.warehouse.tables import ACCOUNT_INSIGHTS_TABLE

    store = IcebergStore(database="", schema_name=namespace, catalog_uri=uri, warehouse=warehouse, run_id=name)
    table = store.table(ACCOUNT_INSIGHTS_TABLE)
    accounts = [f"{name}-{a}" for a in range(ACCOUNTS_PER_WRITER)]
    attempts = 0
    while not go.exists():
        time.sleep(0.01)
    for round_ in range(rounds):
        frame = pl.DataFrame(
            [{"date": d, "account_id": a, "followers_count": round_} for d in DAYS for a in accounts],
            schema={"date": pl.Date, "account_id": pl.String, "followers_count": pl.Int64},
        )

        def body(conn: duckdb.DuckDBPyConnection, frame: pl.DataFrame = frame) -> None:
            nonlocal attempts
            attempts += 1
            ensure_table(conn, table, {})
            write_rows(conn, table, frame, (DAYS[0], DAYS[-1]), [Slice(a, DAYS[0], DAYS[-1]) for a in accounts])

        store.write(NullLog(), [Scope(table, DAYS)], body)
    print(json.dumps({"attempts": attempts, "end": time.time()}))


def commits(uri: str, folder: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for case in ("shared", "separate"):
        for writers in (1, 2, 4):
            label = f"{case}, {writers} writer(s)"
            warehouse = (folder / f"lake-{case}-{writers}").as_uri()
            go = folder / f"go-{case}-{writers}"
            names = [f"{case}{writers}_{i}" for i in range(writers)]
            spaces = [f"{case}{writers}" if case == "shared" else name for name in names]
            # the tables exist first, as after a first run: the race is about commits, not creation
            go.touch()
            for space in set(spaces):
                warm = [sys.executable, __file__, "writer", uri, warehouse, "warm", "1", str(go), space]
                subprocess.run(warm, check=True, timeout=600, capture_output=True)
            go.unlink()
            procs = [
                subprocess.Popen(
                    [sys.executable, __file__, "writer", uri, warehouse, name, str(ROUNDS), str(go), space],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for name, space in zip(names, spaces, strict=True)
            ]
            time.sleep(8)  # every writer imported and waiting
            start = time.time()
            go.touch()
            outs = [json.loads(p.communicate(timeout=1800)[0].strip().splitlines()[-1]) for p in procs]
            wall = max(o["end"] for o in outs) - start
            total = writers * ROUNDS
            attempts = sum(o["attempts"] for o in outs)
            results[label] = {
                "commits": total,
                "s": round(wall, 2),
                "commits_per_s": round(total / wall, 2),
                "attempts_per_commit": round(attempts / total, 2),
            }
            print(json.dumps({label: results[label]}), flush=True)
    base = results["shared, 1 writer(s)"]["commits_per_s"]
    for row in results.values():
        row["x_one_writer"] = round(row["commits_per_s"] / base, 2)
    return results


def daily(uri: str, folder: Path) -> dict[str, Any]:
    import dagster as dg
    import yaml
    from fair import warm_up
    from ingest import control, emulator

    from x_assets.definitions import build_resources
    from x_assets.orchestration.assets import tweet_insights

    today = dt.datetime.now(dt.UTC).date()
    last = today - dt.timedelta(days=1)
    first = last - dt.timedelta(days=6)
    results: dict[str, Any] = {}
    with emulator(100, 8, 3, 100) as base:
        usernames = [a["username"] for a in control(base, "GET", "/accounts")["accounts"]]
        source = folder / "x_source.yaml"
        source.write_text(yaml.safe_dump({"accounts": [{"username": u} for u in usernames]}))
        warm_up()
        destinations = {
            "duckdb": {"X_DESTINATION": "duckdb"},
            "iceberg-sqlite": {"X_DESTINATION": "iceberg"},
            "iceberg-postgres": {"X_DESTINATION": "iceberg", "X_ICEBERG_CATALOG_URI": uri},
        }
        for label, settings in destinations.items():
            where = folder / label
            env = {
                "X_API_BASE_URL": base,
                "X_BEARER_TOKEN": "demo-bearer-token",
                "X_SOURCE_FILE": str(source),
                "X_DUCKDB_PATH": str(where / "warehouse.duckdb"),
                "X_ICEBERG_WAREHOUSE": (where / "lake").as_uri(),
                **settings,
            }
            os.environ.update(env)
            try:
                for run in ("first run", "re-run"):
                    began = time.perf_counter()
                    dg.materialize(
                        [tweet_insights],
                        resources=build_resources(),
                        tags={
                            "dagster/asset_partition_range_start": str(first),
                            "dagster/asset_partition_range_end": str(last),
                        },
                        instance=dg.DagsterInstance.ephemeral(),
                        raise_on_error=True,
                    )
                    results.setdefault(label, {})[run] = round(time.perf_counter() - began, 2)
            finally:
                for name in ("X_ICEBERG_CATALOG_URI", "X_DESTINATION"):
                    os.environ.pop(name, None)
            print(json.dumps({label: results[label]}), flush=True)
    for row in results.values():
        for run in ("first run", "re-run"):
            row[f"{run} x duckdb"] = round(row[run] / results["duckdb"][run], 2)
    return results


def machine() -> dict[str, Any]:
    import dagster
    import duckdb
    import pyiceberg

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    return {
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "dagster": dagster.__version__,
        "duckdb": duckdb.__version__,
        "pyiceberg": pyiceberg.__version__,
        "commit": commit.stdout.strip(),
    }


def main() -> None:
    if sys.argv[1:2] == ["writer"]:
        uri, warehouse, name, rounds, go, namespace = sys.argv[2:8]
        writer(uri, warehouse, name, int(rounds), Path(go), namespace)
        return
    from x_assets_tests.services import postgres

    parts = sys.argv[1:] or ["commits", "daily"]
    print(json.dumps(machine()), flush=True)
    with postgres() as uri, tempfile.TemporaryDirectory() as tmp:
        for part in parts:
            result = commits(uri, Path(tmp)) if part == "commits" else daily(uri, Path(tmp))
            print("== " + json.dumps({part: result}), flush=True)


if __name__ == "__main__":
    main()
