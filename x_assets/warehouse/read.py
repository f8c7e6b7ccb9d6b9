"""Read a source's tables from notebooks and scripts: `x_assets.open_source("competitors")`.

Read-only: a reader never blocks on, or changes, what a run writes. DuckDB lets one process hold a
file for writing, and while a run holds it no other process may open it, so a reader is told so in
a sentence (and may wait for it) instead of getting DuckDB's lock error.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from ..constants import (
    DEFAULT_DUCKDB_PATH,
    ENV_DESTINATION,
    ENV_DUCKDB_PATH,
    ENV_ICEBERG_CATALOG_URI,
    ENV_ICEBERG_WAREHOUSE,
    SCHEMA,
)

if TYPE_CHECKING:  # pyiceberg is imported only by who uses it
    from .iceberg import IcebergStore


class SourceReadError(Exception):
    """The source's tables cannot be read now; the message says why and what to do."""


class SourceTables:
    """One source's tables in a DuckDB warehouse, opened read-only."""

    def __init__(self, name: str, schema: str, database: Path | str, conn: duckdb.DuckDBPyConnection) -> None:
        self.name, self.schema, self.database, self.conn = name, schema, database, conn

    @property
    def described(self) -> str:
        """Where the tables are, in words: the DuckDB file, or the Iceberg catalog."""
        return self.database if isinstance(self.database, str) else f"DuckDB {self.database}"

    def tables(self) -> list[str]:
        """The source's tables and views, by name."""
        rows = self.conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY 1", [self.schema]
        ).fetchall()
        return [name for (name,) in rows]

    def relation(self, table: str) -> duckdb.DuckDBPyRelation:
        """A lazy DuckDB relation over one table (filter, aggregate, then .pl() for polars)."""
        if table not in self.tables():
            have = ", ".join(self.tables()) or "none yet"
            raise SourceReadError(f"source {self.name} has no table {table!r} in {self.database} (it has: {have})")
        return self.conn.table(f'{self.schema}."{table}"')

    def table(self, table: str) -> pl.DataFrame:
        """A whole table as a polars DataFrame."""
        return self.relation(table).pl()

    def sql(self, query: str) -> pl.DataFrame:
        """Any read-only query; name the tables with the source's schema (e.g. competitors.tweet_insights)."""
        return self.conn.sql(query).pl()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> SourceTables:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def open_source(
    name: str = SCHEMA,
    database: str | os.PathLike[str] | None = None,
    wait_seconds: float = 0.0,
    destination: str | None = None,
) -> SourceTables:
    """A source's tables, read-only: name is the source's technical name ("x" for the default source).

    database: the DuckDB file (default X_DUCKDB_PATH, else data/warehouse.duckdb). wait_seconds: how
    long to wait for a run that holds the file to end. destination: duckdb or iceberg (default
    X_DESTINATION, else duckdb); Iceberg's catalog and folder come from X_ICEBERG_CATALOG_URI and
    X_ICEBERG_WAREHOUSE, else beside the DuckDB path, as the runs find them.
    """
    path = Path(database or os.environ.get(ENV_DUCKDB_PATH) or DEFAULT_DUCKDB_PATH)
    if _on_iceberg(destination):
        return _open_iceberg(name, path)
    if not path.is_file():
        raise SourceReadError(
            f"no warehouse at {path} yet: materialize a source first, or point database= (or X_DUCKDB_PATH) "
            "at the DuckDB file the runs write"
        )
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            conn = duckdb.connect(str(path), read_only=True)
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise SourceReadError(f"cannot read the warehouse {path}: {str(exc).splitlines()[0][:200]}") from None
            if time.monotonic() >= deadline:
                raise SourceReadError(
                    f"the warehouse {path} is being written by a run (DuckDB lets no other process open it "
                    "meanwhile): try again when the run ends, or pass wait_seconds="
                ) from None
            time.sleep(0.2)
        except duckdb.Error as exc:
            raise SourceReadError(f"cannot read the warehouse {path}: {str(exc).splitlines()[0][:200]}") from None
    schemas = {s for (s,) in conn.execute("SELECT DISTINCT schema_name FROM duckdb_tables()").fetchall()}
    if name not in schemas:
        conn.close()
        known = ", ".join(sorted(schemas)) or "none yet"
        raise SourceReadError(f"source {name!r} has no tables in {path} yet (sources with tables: {known})")
    return SourceTables(name, name, path, conn)


def _on_iceberg(destination: str | None) -> bool:
    """The destination asked, else X_DESTINATION's, as the runs choose theirs."""
    return (destination or os.environ.get(ENV_DESTINATION) or "duckdb").strip() == "iceberg"


def _iceberg_store(path: Path, name: str) -> IcebergStore:
    """A source's Iceberg tables where the runs find them: X_ICEBERG_*, else beside the DuckDB path."""
    from .iceberg import iceberg_store

    return iceberg_store(
        str(path), name, os.environ.get(ENV_ICEBERG_CATALOG_URI), os.environ.get(ENV_ICEBERG_WAREHOUSE)
    )


def _open_iceberg(name: str, path: Path) -> SourceTables:
    from .iceberg import redacted
    from .store import WarehouseError

    store = _iceberg_store(path, name)
    try:
        conn = store.reader()
    except WarehouseError as exc:
        raise SourceReadError(str(exc)) from None
    if not conn.execute("SELECT count(*) FROM duckdb_views() WHERE schema_name = ?", [name]).fetchall()[0][0]:
        conn.close()
        raise SourceReadError(f"source {name!r} has no tables in the Iceberg catalog {redacted(store.catalog_uri)} yet")
    return SourceTables(name, name, f"Iceberg {redacted(store.catalog_uri)}", conn)


def open_warehouse(database: str | os.PathLike[str], destination: str | None = None) -> duckdb.DuckDBPyConnection:
    """Every source's tables on one read connection (the caller closes it): the DuckDB file
    read-only (an empty connection when there is none yet), or every namespace of the Iceberg
    catalog as views. Raises duckdb.Error when the file is locked by a run, WarehouseError when
    the catalog cannot be read."""
    if not _on_iceberg(destination):
        return duckdb.connect(str(database), read_only=True) if os.path.isfile(database) else duckdb.connect()
    catalog = _iceberg_store(Path(database), SCHEMA).catalog
    conn = duckdb.connect()
    try:
        for namespace, *_ in catalog.list_namespaces():
            store = _iceberg_store(Path(database), namespace)
            store.attach(conn)
    except BaseException:
        conn.close()
        raise
    return conn
