"""A writer of Iceberg slices in its own process, for the concurrency tests.

    python -m x_assets_tests.child_commit CATALOG_URI WAREHOUSE NAMESPACE WRITER ROUNDS [FIRST_ROUND [PAUSE_FILE]]

Each round replaces this writer's accounts (w<WRITER>-0..2) on the same three days every writer
writes, through the project's own write_rows, with followers_count = the round: rivals commit to
the same partitions at the same time. Prints the attempts its writes took.

With PAUSE_FILE, the writer stops in its first commit, its data files written and the catalog not
yet told: it touches the file and sleeps, for the parent to kill it there.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

import duckdb
import polars as pl

from x_assets.log import NullLog
from x_assets.warehouse.iceberg import IcebergStore
from x_assets.warehouse.store import Scope, Slice, ensure_table, write_rows
from x_assets.warehouse.tables import ACCOUNT_INSIGHTS_TABLE

DAYS = [dt.date(2026, 1, 1), dt.date(2026, 1, 2), dt.date(2026, 1, 3)]
ACCOUNTS = 3


def rows(writer: str, round_: int) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"date": day, "account_id": f"w{writer}-{a}", "username": f"w{writer}", "followers_count": round_}
            for day in DAYS
            for a in range(ACCOUNTS)
        ],
        schema={"date": pl.Date, "account_id": pl.String, "username": pl.String, "followers_count": pl.Int64},
    )


def pause_in_commit(signal: Path) -> None:
    from pyiceberg.table import Transaction

    def paused(self: Transaction) -> object:
        signal.touch()
        time.sleep(120)
        raise AssertionError("the parent should have killed this writer")

    Transaction.commit_transaction = paused  # type: ignore[method-assign,assignment]


def main() -> int:
    uri, warehouse, namespace, writer = sys.argv[1:5]
    rounds = int(sys.argv[5])
    first_round = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    if len(sys.argv) > 7:
        pause_in_commit(Path(sys.argv[7]))
    store = IcebergStore(
        database="", schema_name=namespace, catalog_uri=uri, warehouse=warehouse, run_id=f"writer-{writer}"
    )
    table = store.table(ACCOUNT_INSIGHTS_TABLE)
    attempts = 0
    for round_ in range(first_round, rounds + 1):
        frame = rows(writer, round_)
        slices = [Slice(f"w{writer}-{a}", DAYS[0], DAYS[-1]) for a in range(ACCOUNTS)]

        def body(conn: duckdb.DuckDBPyConnection, frame: pl.DataFrame = frame, slices: list[Slice] = slices) -> int:
            nonlocal attempts
            attempts += 1
            ensure_table(conn, table, {})
            return write_rows(conn, table, frame, (DAYS[0], DAYS[-1]), slices)

        store.write(NullLog(), [Scope(table, DAYS)], body)
    print(attempts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
