"""Iceberg tables through pyiceberg: the project's SQL runs on DuckDB over them, and each table a
write changes becomes one Iceberg commit that replaces exactly the partitions (days) it was allowed.

Why this shape: every write of the project is SQL (delete a slice, insert by name, anti-join the
ledger). Rather than a second implementation of each, a write here
1. loads the partitions its scopes name into an in-memory DuckDB (the rest of the namespace is
   there as lazy views, for reads),
2. runs the same body as on the DuckDB warehouse, in a transaction,
3. commits each scoped table that changed: one `overwrite` filtered on exactly those days, built
   on the snapshot it loaded. A concurrent commit to the table makes it fail (optimistic
   concurrency); the write then starts again from step 1 on fresh data, a bounded number of times.

pyiceberg's own commit retry is switched off on the tables (commit.retry.num-retries = 0): it would
re-apply rows computed from the stale snapshot, and a slice computed on stale data is a lost update.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import random
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import duckdb
import pyarrow as pa

from ..constants import ICEBERG_CATALOG_FILE, ICEBERG_FOLDER
from ..log import Log
from .store import ICEBERG_VIEW, Scope, Scopes, Store, WarehouseError, transaction
from .tables import Table

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table as IcebergTable

T = TypeVar("T")

MAX_COMMIT_ATTEMPTS = 12  # about 40 s of backoff in all: then the run fails, and says so
NO_RETRY = {"commit.retry.num-retries": "0"}
SNAPSHOT_RUN = "x-assets.run-id"  # in each snapshot's summary: which run wrote it
SNAPSHOT_COMMIT = "x-assets.commit"  # one id per commit (an overwrite may make two snapshots)


def redacted(uri: str) -> str:
    """The catalog URI without its password, for messages (the URI itself is never logged)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(uri).render_as_string(hide_password=True)
    except Exception:  # not a SQLAlchemy URL: say only its scheme
        return uri.split(":", 1)[0] + "://..."


@functools.cache
def open_catalog(uri: str, warehouse: str) -> Catalog:
    """pyiceberg's SQL catalog (SQLite for one machine, PostgreSQL for several), one per process."""
    from pyiceberg.catalog.sql import SqlCatalog

    if warehouse.startswith("file://"):
        Path(warehouse.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        return SqlCatalog("x_assets", uri=uri, warehouse=warehouse, pool_pre_ping="true", **_s3_properties())
    except Exception as exc:
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
        raise WarehouseError(
            f"cannot open the Iceberg catalog {redacted(uri)} ({reason}): "
            "set X_ICEBERG_CATALOG_URI to a SQLAlchemy URI (sqlite:///path/catalog.db or "
            "postgresql+psycopg2://user:password@host/db)"
        ) from None


def _s3_properties() -> dict[str, str]:
    """S3 or an S3-compatible store (MinIO, ...) from the usual variables. pyarrow reads the keys
    from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY itself, but pyiceberg's S3 file system takes
    neither AWS_ENDPOINT_URL nor AWS_REGION, so they are passed on as its properties."""
    properties = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        properties["s3.endpoint"] = endpoint
        properties["s3.force-virtual-addressing"] = "false"  # path-style, as MinIO and most others want
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        properties["s3.region"] = region
    return properties


_DUCK_TYPES = {
    "string": "VARCHAR",
    "long": "BIGINT",
    "int": "INTEGER",
    "double": "DOUBLE",
    "float": "FLOAT",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamptz": "TIMESTAMPTZ",
    "timestamp": "TIMESTAMP",
}


def _duck_type(field_type: Any) -> str:
    name = str(field_type)
    if name not in _DUCK_TYPES:
        raise WarehouseError(f"an Iceberg column of type {name} is not one x_assets writes")
    return _DUCK_TYPES[name]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _path_of(location: str) -> str | None:
    """A data file DuckDB can read directly (a local one), else None."""
    if location.startswith("file://"):
        return location.removeprefix("file://")
    return location if location.startswith("/") else None


@dataclass(frozen=True)
class _Plan:
    """What a snapshot of a table is made of: its columns, and its data files when DuckDB can read
    them directly (local files, no delete files), else None."""

    columns: tuple[tuple[str, str], ...]
    paths: tuple[str, ...] | None
    empty: bool


_PLANS: dict[str, _Plan] = {}  # by metadata file: a table's state never changes under one
_PRESENT: dict[str, set[str]] = {}  # by metadata file: the columns its data files hold


def _plan(table: IcebergTable) -> _Plan:
    """Planning reads the manifests, which costs more the more commits a table has: done once per
    table state per process (a run opens several connections on the same snapshots)."""
    key = table.metadata_location
    if key in _PLANS:
        return _PLANS[key]
    columns = tuple((f.name, _duck_type(f.field_type)) for f in table.schema().fields)
    tasks = list(table.scan().plan_files())
    paths = [_path_of(t.file.file_path) for t in tasks]
    local = not any(t.delete_files for t in tasks) and all(p is not None for p in paths)
    plan = _Plan(columns, tuple(p for p in paths if p) if local else None, not tasks)
    if len(_PLANS) > 1024:
        _PLANS.clear()
        _PRESENT.clear()
    _PLANS[key] = plan
    return plan


def table_select(conn: duckdb.DuckDBPyConnection, table: IcebergTable, alias: str) -> str:
    """SQL over the table's current snapshot, with its current schema: local Parquet files read by
    DuckDB lazily (filters and columns pushed down), anything else scanned through pyiceberg."""
    plan = _plan(table)
    if plan.empty:
        nulls = ", ".join(f"NULL::{kind} AS {_quote(name)}" for name, kind in plan.columns)
        return f"SELECT {nulls} WHERE false"
    if plan.paths is None:
        conn.register(alias, table.scan().to_arrow())  # delete files or object storage: pyiceberg reads
        source = alias
        present = {name for name, _ in plan.columns}
    else:
        listed = ", ".join("'" + p.replace("'", "''") + "'" for p in plan.paths)
        source = f"read_parquet([{listed}], union_by_name = true)"
        if table.metadata_location not in _PRESENT:  # the files' own columns: read from their footers once
            _PRESENT[table.metadata_location] = {
                r[0] for r in conn.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
            }
        present = _PRESENT[table.metadata_location]
    # a column added after some files were written is NULL in them, as Iceberg reads it
    picked = ", ".join(
        f"{_quote(name)}::{kind} AS {_quote(name)}" if name in present else f"NULL::{kind} AS {_quote(name)}"
        for name, kind in plan.columns
    )
    return f"SELECT {picked} FROM {source}"


def iceberg_store(
    database: str, schema: str, catalog_uri: str | None = None, warehouse: str | None = None, run_id: str = ""
) -> IcebergStore:
    """The store, with the one-machine defaults beside the DuckDB path: a SQLite catalog and a folder."""
    folder = Path(database).resolve().parent
    return IcebergStore(
        database=database,
        schema_name=schema,
        catalog_uri=catalog_uri or f"sqlite:///{folder / ICEBERG_CATALOG_FILE}",
        warehouse=warehouse or (folder / ICEBERG_FOLDER).as_uri(),
        run_id=run_id,
    )


@dataclass
class _Loaded:
    """A scoped table as the write found it: the snapshot its commit builds on."""

    scope: Scope
    iceberg: IcebergTable | None  # None: the table does not exist yet
    baseline: str | None  # a temp table with the loaded rows


class CommitConflictError(Exception):
    """Another writer committed to a table first; the write starts again on fresh data."""


@dataclass(frozen=True)
class IcebergStore(Store):
    """One source's tables in an Iceberg catalog: namespace = the source's schema, same table names.

    database is only where files beside the warehouse go (staged pages, charts); no DuckDB file is written.
    """

    catalog_uri: str = ""
    warehouse: str = ""
    run_id: str = ""
    commit_attempts: int = MAX_COMMIT_ATTEMPTS

    destination = "iceberg"

    @property
    def catalog(self) -> Catalog:
        return open_catalog(self.catalog_uri, self.warehouse)

    def _identifier(self, name: str) -> tuple[str, str]:
        return (self.schema_name, name)

    def _tables(self) -> dict[str, IcebergTable]:
        from pyiceberg.exceptions import NoSuchNamespaceError

        try:
            names = [ident[-1] for ident in self.catalog.list_tables(self.schema_name)]
        except NoSuchNamespaceError:
            return {}
        return {name: self.catalog.load_table(self._identifier(name)) for name in names}

    def _attach(self, conn: duckdb.DuckDBPyConnection, tables: dict[str, IcebergTable]) -> None:
        """Every table of the namespace as a view on conn (marked, so ensure_table leaves it alone)."""
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema_name}")
        for name, table in sorted(tables.items()):
            qualified = f"{self.schema_name}.{_quote(name)}"
            # the alias of a scan kept in memory: one per namespace and table, on a connection of many
            alias = f"_iceberg_{self.schema_name}_{name}"
            conn.execute(f"CREATE VIEW {qualified} AS {table_select(conn, table, alias)}")
            conn.execute(f"COMMENT ON VIEW {qualified} IS '{ICEBERG_VIEW}'")

    def _derived_views(self, conn: duckdb.DuckDBPyConnection, tables: dict[str, Any]) -> None:
        from .derived import DERIVATIONS  # the views the DuckDB warehouse keeps beside its tables

        for derivation in DERIVATIONS:
            if derivation.after is not None and derivation.table.name in tables:
                derivation.after(conn, self.schema_name)

    @contextmanager
    def connect(self, log: Log) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read connection: the namespace's tables as views of their current snapshots.
        What is written on it stays in memory: writes go through write()."""
        conn = self.reader()
        try:
            yield conn
        finally:
            conn.close()

    def reader(self) -> duckdb.DuckDBPyConnection:
        """connect() for a caller that closes the connection itself."""
        conn = duckdb.connect()
        try:
            self.attach(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def attach(self, conn: duckdb.DuckDBPyConnection) -> None:
        """The namespace's tables, and the derived views over them, as views on conn."""
        tables = self._open_tables()
        self._attach(conn, tables)
        self._derived_views(conn, tables)

    def _open_tables(self) -> dict[str, IcebergTable]:
        try:
            return self._tables()
        except WarehouseError:
            raise
        except Exception as exc:  # the catalog's database is down, a folder is unreadable, ...
            raise WarehouseError(
                f"cannot read the Iceberg catalog {redacted(self.catalog_uri)} "
                f"({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''})"
            ) from None

    def write(self, log: Log, scopes: Scopes, body: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """body on the scoped partitions, then one commit per changed table; again from fresh data
        when another writer committed first."""
        delay = 0.1
        for attempt in range(1, self.commit_attempts + 1):
            try:
                return self._write_once(log, scopes, body)
            except CommitConflictError as exc:
                if attempt == self.commit_attempts:
                    raise WarehouseError(
                        f"{exc}; gave up after {self.commit_attempts} attempts: other writers kept committing "
                        "to it first. The tables named as committed above hold this run's rows; the others "
                        "are as before. Run it again when they are done"
                    ) from None
                log.info(f"{exc}; writing again on fresh data (attempt {attempt + 1} of {self.commit_attempts})")
                time.sleep(delay + random.uniform(0, delay))  # jitter: two writers must not collide again
                delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    def _write_once(self, log: Log, scopes: Scopes, body: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        conn = duckdb.connect()
        try:
            tables = self._open_tables()
            self._attach(conn, tables)
            wanted = scopes(conn) if callable(scopes) else scopes
            loaded = [self._load(conn, scope, tables.get(scope.table.name), i) for i, scope in enumerate(wanted)]
            with transaction(conn):
                result = body(conn)
            commit = uuid.uuid4().hex
            for item in loaded:
                self._commit(conn, item, commit, log)
            return result
        finally:
            conn.close()

    def _load(self, conn: duckdb.DuckDBPyConnection, scope: Scope, table: IcebergTable | None, i: int) -> _Loaded:
        """The scoped days of the table as a real DuckDB table, and a copy to compare with after body."""
        if table is None:
            return _Loaded(scope, None, None)
        qualified = f"{self.schema_name}.{_quote(scope.table.name)}"
        select = table_select(conn, table, f"_scoped_{self.schema_name}_{scope.table.name}")
        conn.execute(f"DROP VIEW {qualified}")
        where, params = _days_filter(scope)
        conn.execute(f"CREATE TABLE {qualified} AS SELECT * FROM ({select}) WHERE {where}", params)
        baseline = f"_baseline_{i}"
        conn.execute(f"CREATE TEMP TABLE {baseline} AS SELECT * FROM {qualified}")
        return _Loaded(scope, table, baseline)

    def _commit(self, conn: duckdb.DuckDBPyConnection, item: _Loaded, commit: str, log: Log) -> None:
        from pyiceberg.exceptions import CommitFailedException, TableAlreadyExistsError
        from pyiceberg.expressions import AlwaysFalse, AlwaysTrue, In

        scope, name = item.scope, item.scope.table.name
        qualified = f"{self.schema_name}.{_quote(name)}"
        if not _is_table(conn, self.schema_name, name):
            return  # body neither created nor loaded it
        columns = [row[0] for row in conn.execute(f"DESCRIBE {qualified}").fetchall()]
        if item.baseline is not None and not _changed(conn, qualified, item.baseline, columns):
            return  # nothing to commit: no empty snapshot
        where, params = _days_filter(scope)
        ((outside,),) = conn.execute(f"SELECT count(*) FROM {qualified} WHERE NOT ({where})", params).fetchall()
        if outside:
            raise WarehouseError(f"{name}: {outside} row(s) fall outside the days this write may replace")
        date = scope.table.date_column
        owner = scope.table.owner if scope.table.owner in columns else columns[0]
        rows = conn.sql(f"SELECT * FROM {qualified} ORDER BY {_quote(owner)}").fetch_arrow_table()
        # (In is a pydantic model that mypy reads by its fields; it takes a term and literals)
        if scope.days is None:
            replaced: Any = AlwaysTrue()
        elif not scope.days:  # a table created empty (no post read): nothing to replace
            replaced = AlwaysFalse()
        else:
            replaced = cast(Any, In)(date, sorted(set(scope.days)))
        summary = {SNAPSHOT_COMMIT: commit, SNAPSHOT_RUN: self.run_id or "-"}
        try:
            if item.iceberg is None:
                self._create(scope, rows, summary)
            else:
                tx = item.iceberg.transaction()
                if set(columns) - {f.name for f in item.iceberg.schema().fields}:
                    with tx.update_schema() as update:  # a new default-schema column, in this same commit
                        update.union_by_name(rows.schema)
                with warnings.catch_warnings():  # "did not match any records": a first write of its days
                    warnings.filterwarnings("ignore", "Delete operation did not match", UserWarning)
                    tx.overwrite(rows, overwrite_filter=replaced, snapshot_properties=summary)
                tx.commit_transaction()
        except (CommitFailedException, TableAlreadyExistsError) as exc:
            raise CommitConflictError(f"{self.schema_name}.{name}: another writer committed first") from exc
        except Exception as exc:
            if _is_conflict(exc):
                raise CommitConflictError(f"{self.schema_name}.{name}: another writer committed first") from exc
            raise
        log.info(f"Iceberg {self.schema_name}.{name}: {rows.num_rows} row(s) committed for {_days_said(scope)}")

    def _create(self, scope: Scope, rows: pa.Table, summary: dict[str, str]) -> None:
        """The table, partitioned by day (its date column) and sorted by owner, with its first rows: one commit."""
        from pyiceberg.exceptions import NamespaceAlreadyExistsError
        from pyiceberg.transforms import IdentityTransform

        with suppress(NamespaceAlreadyExistsError):  # created meanwhile by another writer
            self.catalog.create_namespace_if_not_exists(self.schema_name)
        table = scope.table
        with self.catalog.create_table_transaction(
            self._identifier(table.name), schema=rows.schema, properties=NO_RETRY
        ) as tx:
            if scope.days is not None:  # a table kept whole (the registry) is not partitioned
                with tx.update_spec() as spec:
                    spec.add_identity(table.date_column)
            if table.owner in rows.schema.names:
                with tx.update_sort_order() as order:
                    order.asc(table.owner, IdentityTransform())
            if rows.num_rows:
                tx.append(rows, snapshot_properties=summary)


def _days_filter(scope: Scope) -> tuple[str, list[Any]]:
    if scope.days is None:
        return "true", []
    return f"{_quote(scope.table.date_column)} IN (SELECT unnest(?::DATE[]))", [sorted(scope.days)]


def _days_said(scope: Scope) -> str:
    if scope.days is None:
        return "the whole table"
    days = sorted(set(scope.days))
    if not days:
        return "no day"
    return str(days[0]) if len(days) == 1 else f"{len(days)} day(s) {days[0]}..{days[-1]}"


def _is_table(conn: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    ((count,),) = conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ? AND NOT temporary",
        [schema, name],
    ).fetchall()
    return bool(count)


def _changed(conn: duckdb.DuckDBPyConnection, qualified: str, baseline: str, columns: Sequence[str]) -> bool:
    """Whether body changed the loaded rows (EXCEPT ALL treats NULLs as equal, as wanted here)."""
    before = [row[0] for row in conn.execute(f"DESCRIBE {baseline}").fetchall()]
    if before != list(columns):
        return True  # a column was added
    ((count,),) = conn.execute(
        f"SELECT (SELECT count(*) FROM (SELECT * FROM {qualified} EXCEPT ALL SELECT * FROM {baseline})) "
        f"+ (SELECT count(*) FROM (SELECT * FROM {baseline} EXCEPT ALL SELECT * FROM {qualified}))"
    ).fetchall()
    return bool(count)


def _is_conflict(exc: Exception) -> bool:
    """A concurrent change found at commit: pyiceberg's validation, or the SQLite catalog's lock."""
    from pyiceberg.exceptions import ValidationException
    from sqlalchemy.exc import OperationalError

    if isinstance(exc, ValidationException):
        return True
    return isinstance(exc, OperationalError) and "locked" in str(exc).lower()


def snapshots_of(store: IcebergStore, table: Table) -> list[dict[str, str]]:
    """Each snapshot's summary properties, oldest first: which commit and run wrote it."""
    iceberg = store.catalog.load_table((store.schema_name, table.name))
    return [dict(s.summary.additional_properties) if s.summary else {} for s in iceberg.snapshots()]


def expire_snapshots(store: IcebergStore, older_than: dt.datetime, log: Log) -> dict[str, int]:
    """Maintenance: forget snapshots older than the time (the current one is always kept). Their
    data files stay on disk: pyiceberg 0.12 has no orphan-file removal (see the README)."""
    expired: dict[str, int] = {}
    for name, table in store._open_tables().items():
        current = table.current_snapshot()
        old = [
            s.snapshot_id
            for s in table.snapshots()
            if s.timestamp_ms < older_than.timestamp() * 1000
            and (current is None or s.snapshot_id != current.snapshot_id)
        ]
        if old:
            table.maintenance.expire_snapshots().by_ids(old).commit()
        expired[name] = len(old)
        log.info(f"{store.schema_name}.{name}: {len(old)} snapshot(s) expired")
    return expired


def compact(store: IcebergStore, log: Log, min_files: int = 4) -> dict[str, int]:
    """Maintenance: rewrite each day holding at least min_files data files as one file per day,
    one commit per table (pyiceberg 0.12 has no rewrite_data_files). Rows are unchanged; a table
    another writer commits to meanwhile is left for the next time. Returns the days rewritten."""
    from pyiceberg.exceptions import CommitFailedException, ValidationException
    from pyiceberg.expressions import In

    rewritten: dict[str, int] = {}
    for name, table in store._open_tables().items():
        spec = table.spec()
        if not spec.fields:
            continue  # not partitioned by day (the registry): small, one file per write
        column = table.schema().find_field(spec.fields[0].source_id).name
        files: dict[Any, int] = {}
        for task in table.scan().plan_files():
            day = task.file.partition[0]
            files[day] = files.get(day, 0) + 1
        days = sorted(day for day, count in files.items() if count >= min_files)
        rewritten[name] = 0
        if not days:
            continue
        # the partition values are days since 1970-01-01 (Iceberg's date)
        dates = [dt.date(1970, 1, 1) + dt.timedelta(days=d) if isinstance(d, int) else d for d in days]
        where = cast(Any, In)(column, dates)
        rows = table.scan(row_filter=where).to_arrow()
        owner = "account_id" if "account_id" in rows.schema.names else rows.schema.names[0]
        rows = rows.sort_by(owner)
        try:
            tx = table.transaction()
            tx.overwrite(rows, overwrite_filter=where, snapshot_properties={SNAPSHOT_RUN: "compaction"})
            tx.commit_transaction()
        except (CommitFailedException, ValidationException):
            log.info(f"{store.schema_name}.{name}: another writer committed meanwhile; compaction left for next time")
            continue
        rewritten[name] = len(days)
        log.info(f"{store.schema_name}.{name}: {len(days)} day(s) rewritten as one file each ({rows.num_rows} rows)")
    return rewritten
