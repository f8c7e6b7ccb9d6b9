"""DuckDB writes: one transaction replaces a slice (days x accounts), columns inserted by name.

The stock DuckDBPolarsIOManager deletes and inserts in separate autocommits and
inserts by position (see the project's research notes), so the assets write here
instead: a crash or kill at any point leaves the table as before or as after.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import duckdb
import polars as pl
from dagster_duckdb import DuckDBResource
from pydantic import Field

from .constants import SCHEMA
from .tables import ACCOUNT_REGISTRY_TABLE, Table, sql_type_for


class Log(Protocol):
    def info(self, msg: str) -> None: ...
    def warning(self, msg: str) -> None: ...


class Warehouse(DuckDBResource):
    """The DuckDB file the tables live in; waits, bounded and logged, for another writer's lock."""

    lock_timeout_seconds: float = Field(default=600.0, description="How long to wait for another process's lock.")

    @contextmanager
    def connect(self, log: Log) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout_seconds
        delay = 0.2
        announced = False
        while True:
            try:
                conn = duckdb.connect(self.database, config=dict(self.connection_config))
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() + delay > deadline:
                    raise
                if not announced:
                    log.info(
                        f"DuckDB file {self.database} is locked by another process; waiting for it "
                        f"(up to {self.lock_timeout_seconds:.0f}s)"
                    )
                    announced = True
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        if announced:
            log.info("DuckDB lock acquired")
        try:
            yield conn
        finally:
            conn.close()


def ensure_table(conn: duckdb.DuckDBPyConnection, table: Table, extra: dict[str, Any]) -> None:
    """Create the table if needed and add any default-schema column it lacks."""
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    columns = ", ".join(f'"{c.name}" {c.sql_type}' for c in table.columns)
    conn.execute(f"CREATE TABLE IF NOT EXISTS {table.qualified} ({columns})")
    existing = {
        row[0]
        for row in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
            [SCHEMA, table.name],
        ).fetchall()
    }
    for name, value in extra.items():
        if name not in existing:
            conn.execute(f'ALTER TABLE {table.qualified} ADD COLUMN "{name}" {sql_type_for(value)}')


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    conn.begin()
    try:
        yield conn
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


def replace_slice(
    conn: duckdb.DuckDBPyConnection,
    table: Table,
    frame: pl.DataFrame,
    days: tuple[dt.date, dt.date],
    account_ids: Sequence[str],
    extra_filter: tuple[str, list[Any]] | None = None,
) -> int:
    """Inside the caller's transaction: delete the slice, insert the frame by column name."""
    first, last = days
    if account_ids:
        where = f'"{table.date_column}" BETWEEN ? AND ? AND account_id IN (SELECT unnest(?::VARCHAR[]))'
        params: list[Any] = [first, last, list(account_ids)]
        if extra_filter is not None:
            where += f" AND {extra_filter[0]}"
            params.extend(extra_filter[1])
        conn.execute(f"DELETE FROM {table.qualified} WHERE {where}", params)
    if frame.height:
        outside = frame.filter(~pl.col(table.date_column).is_between(first, last))
        if outside.height:
            raise ValueError(f"{outside.height} row(s) fall outside the slice {first}..{last} of {table.name}")
        conn.register("_incoming", frame.to_arrow())
        try:
            conn.execute(f"INSERT INTO {table.qualified} BY NAME SELECT * FROM _incoming")
        finally:
            conn.unregister("_incoming")
    return frame.height


def read_registry(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    ensure_table(conn, ACCOUNT_REGISTRY_TABLE, {})
    rows = conn.execute(f"SELECT account_key, account_id FROM {ACCOUNT_REGISTRY_TABLE.qualified}").fetchall()
    return {key: account_id for key, account_id in rows}


def remember_resolutions(conn: duckdb.DuckDBPyConnection, resolved: dict[str, tuple[str, str]]) -> None:
    """Store the first resolution of each handle; later runs look the account up by id."""
    if not resolved:
        return
    ensure_table(conn, ACCOUNT_REGISTRY_TABLE, {})
    now = dt.datetime.now(dt.UTC)
    conn.executemany(
        f"INSERT INTO {ACCOUNT_REGISTRY_TABLE.qualified} SELECT ?, ?, ?, ? "
        f"WHERE NOT EXISTS (SELECT 1 FROM {ACCOUNT_REGISTRY_TABLE.qualified} WHERE account_key = ?)",
        [[key, account_id, username, now, key] for key, (account_id, username) in resolved.items()],
    )
