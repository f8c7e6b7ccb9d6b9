"""DuckDB writes: one transaction replaces a slice (days x accounts), columns inserted by name.

The stock DuckDBPolarsIOManager deletes and inserts in separate autocommits and
inserts by position (see the project's research notes), so the assets write here
instead: a crash or kill at any point leaves the table as before or as after.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import polars as pl

from ..clock import utc_now
from ..constants import SCHEMA
from ..log import Log
from .tables import ACCOUNT_REGISTRY_TABLE, Table, sql_type_for

WAREHOUSE_ADVICE = "set X_DUCKDB_PATH to a DuckDB file (new or existing) in a folder this process can write"


class WarehouseError(Exception):
    """The DuckDB file cannot be opened for writing; the message says why and what to do."""


def _cannot_open(path: Path, exc: Exception) -> str:
    reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return f"cannot open the DuckDB warehouse {path} ({reason}): {WAREHOUSE_ADVICE}"


T = TypeVar("T")


@dataclass(frozen=True)
class Scope:
    """What of a table one write may change: some days of its partition column, or all of it (None).

    DuckDB ignores it (a transaction covers everything); the Iceberg store loads, compares and
    replaces exactly these partitions, so a write's reach is said where the write is."""

    table: Table
    days: Collection[dt.date] | None = None

    @staticmethod
    def days_from(first: dt.date, last: dt.date) -> list[dt.date]:
        return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


Scopes = Sequence[Scope] | Callable[[duckdb.DuckDBPyConnection], Sequence[Scope]]


@dataclass(frozen=True)
class Store:
    """One source's tables in a DuckDB file; a writer waits, bounded and logged, for another's lock."""

    database: str
    schema_name: str = SCHEMA  # the source's schema (a validated identifier): x for the default source
    lock_timeout_seconds: float = 600.0
    connection_config: dict[str, Any] = field(default_factory=dict)

    destination = "duckdb"

    def table(self, table: Table) -> Table:
        """This table in the source's schema."""
        return table.in_schema(self.schema_name)

    @property
    def folder(self) -> Path:
        """Where files beside the warehouse go: staged pages, charts."""
        return Path(self.database).parent

    def write(self, log: Log, scopes: Scopes, body: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run body in one transaction: it commits whole or not at all.

        scopes: the tables and days body may change (a list, or a function of a read connection
        that works them out); what this store ignores, the Iceberg store relies on."""
        with self.connect(log) as conn, transaction(conn):
            return body(conn)

    @contextmanager
    def connect(self, log: Log) -> Iterator[duckdb.DuckDBPyConnection]:
        path = Path(self.database)
        if path.is_dir():
            raise WarehouseError(f"the DuckDB warehouse {path} is a folder: {WAREHOUSE_ADVICE}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WarehouseError(
                f"cannot create the folder of the DuckDB warehouse {path} ({exc.strerror}): {WAREHOUSE_ADVICE}"
            ) from None
        deadline = time.monotonic() + self.lock_timeout_seconds
        delay = 0.2
        announced = False
        while True:
            try:
                conn = duckdb.connect(self.database, config=dict(self.connection_config))
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise WarehouseError(_cannot_open(path, exc)) from None
                if time.monotonic() + delay > deadline:
                    raise WarehouseError(
                        f"the DuckDB warehouse {path} stayed locked by another process for "
                        f"{self.lock_timeout_seconds:.0f}s: is a run or a notebook holding it? Try again when it ends"
                    ) from None
                if not announced:
                    log.info(
                        f"DuckDB file {self.database} is locked by another process; waiting for it "
                        f"(up to {self.lock_timeout_seconds:.0f}s)"
                    )
                    announced = True
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
            except duckdb.Error as exc:  # not a DuckDB file, a newer format, ...
                raise WarehouseError(_cannot_open(path, exc)) from None
        if announced:
            log.info("DuckDB lock acquired")
        try:
            yield conn
        finally:
            conn.close()


ICEBERG_VIEW = "iceberg table"  # the comment on a view standing for an Iceberg table (see iceberg.py)


def _stored_types(conn: duckdb.DuckDBPyConnection, schema: str, names: Sequence[str]) -> list[tuple[str, str, str]]:
    """(table, column, type) of every table of the schema holding one of these columns; an Iceberg
    table, a view on the connections of the Iceberg store, counts as a table."""
    return conn.execute(
        "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns AS c "
        "WHERE c.table_schema = ? AND c.column_name IN (SELECT unnest(?::VARCHAR[])) AND c.table_name IN ("
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = c.table_schema AND NOT temporary "
        "UNION ALL SELECT view_name FROM duckdb_views() WHERE schema_name = c.table_schema AND comment = ?) "
        "ORDER BY ALL",
        [schema, list(names), ICEBERG_VIEW],
    ).fetchall()


def _iceberg_views(conn: duckdb.DuckDBPyConnection, schema: str) -> set[str]:
    rows = conn.execute(
        "SELECT view_name FROM duckdb_views() WHERE schema_name = ? AND comment = ?", [schema, ICEBERG_VIEW]
    ).fetchall()
    return {name for (name,) in rows}


def _fits(stored: str, value: Any) -> bool:
    """A default-schema value can go into a column of the stored type without losing anything;
    an integer column receiving a decimal is widened to DOUBLE by ensure_table instead."""
    wanted = sql_type_for(value)
    return value is None or stored == wanted or (stored, wanted) in (("DOUBLE", "BIGINT"), ("BIGINT", "DOUBLE"))


def default_schema_conflicts(conn: duckdb.DuckDBPyConnection, schema: str, extra: dict[str, Any]) -> list[str]:
    """Default-schema values whose type the stored column cannot take (number to text, text to date, ...)."""
    problems = []
    iceberg = _iceberg_views(conn, schema)
    for table, column, stored in _stored_types(conn, schema, list(extra)):
        value = extra[column]
        if table in iceberg and (stored, sql_type_for(value)) == ("BIGINT", "DOUBLE"):
            problems.append(
                f"default_schema.{column}: the Iceberg table {schema}.{table} stores it as a long, and the "
                f"source file now gives the decimal {value!r}: Iceberg cannot widen a long to a double, so "
                "give a whole number, or name a new column for the decimal"
            )
        elif not _fits(stored, value):
            wanted = sql_type_for(value)
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:35] + "..."
            problems.append(
                f"default_schema.{column}: {schema}.{table} stores it as {stored}, and the source file now "
                f"gives the {wanted} value {shown}: give a {stored} value, or change the column first "
                f'(ALTER TABLE {schema}.{table} ALTER COLUMN "{column}" TYPE {wanted})'
            )
    return problems


def ensure_table(conn: duckdb.DuckDBPyConnection, table: Table, extra: dict[str, Any]) -> None:
    """Create the table if needed and add any default-schema column it lacks.

    A default-schema column that was an integer and now receives a decimal (5, then 5.7) becomes
    DOUBLE in every table of the schema: never a silent rounding to 6.
    """
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {table.schema}")
    if table.name in _iceberg_views(conn, table.schema):
        return  # an Iceberg table only read here: the Iceberg store evolves the tables it writes
    columns = ", ".join(f'"{c.name}" {c.sql_type}' for c in table.columns)
    conn.execute(f"CREATE TABLE IF NOT EXISTS {table.qualified} ({columns})")
    existing = {
        row[0]
        for row in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
            [table.schema, table.name],
        ).fetchall()
    }
    for builtin in table.columns:  # a column a newer release added: NULL in the rows written before it
        if builtin.name not in existing:
            conn.execute(f'ALTER TABLE {table.qualified} ADD COLUMN "{builtin.name}" {builtin.sql_type}')
    for name, value in extra.items():
        if name not in existing:
            conn.execute(f'ALTER TABLE {table.qualified} ADD COLUMN "{name}" {sql_type_for(value)}')
    widen = [name for name, value in extra.items() if sql_type_for(value) == "DOUBLE"]
    iceberg = _iceberg_views(conn, table.schema)
    for other, column, stored in _stored_types(conn, table.schema, widen):
        if stored == "BIGINT" and other not in iceberg:
            conn.execute(f'ALTER TABLE {table.schema}."{other}" ALTER COLUMN "{column}" TYPE DOUBLE')


def duplicate_keys(
    conn: duckdb.DuckDBPyConnection, table: Table, first: dt.date, last: dt.date, among: str | None = None
) -> pl.DataFrame:
    """Rows of the window sharing the table's key (a post id anywhere in the table: a post has one day).

    among: a relation whose owner column (account_id, or query_name) limits the search to those owners.
    """
    owner = f'"{table.owner}"'
    accounts = f"AND {owner} IN (SELECT {owner} FROM {among})" if among else ""
    if table.key == ("tweet_id",):
        return frame(
            conn,
            f"SELECT tweet_id, count(*) AS copies, list(created_date) AS days FROM {table.qualified} "
            f"WHERE tweet_id IN (SELECT tweet_id FROM {table.qualified} WHERE created_date BETWEEN $first AND $last "
            f"{accounts}) GROUP BY ALL HAVING count(*) > 1 ORDER BY tweet_id",
            {"first": first, "last": last},
        )
    key = ", ".join(f'"{k}"' for k in table.key)
    return frame(
        conn,
        f'SELECT {key}, count(*) AS copies FROM {table.qualified} WHERE "{table.date_column}" BETWEEN $first AND $last '
        f"{accounts} GROUP BY ALL HAVING count(*) > 1 ORDER BY {key}",
        {"first": first, "last": last},
    )


class DuplicateKeyError(ValueError):
    """A write would commit two rows with one key; it is rolled back instead."""


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    conn.begin()
    try:
        yield conn
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


@dataclass(frozen=True)
class Slice:
    """Days of one account (or search query) that a run read completely: stored rows there are replaced."""

    account_id: str  # the table's owner column: an account id, or for search_insights a query's name
    first: dt.date
    last: dt.date


def write_rows(
    conn: duckdb.DuckDBPyConnection,
    table: Table,
    rows: pl.DataFrame | Sequence[Path],
    window: tuple[dt.date, dt.date],
    slices: Sequence[Slice],
    key_column: str | None = None,
    delete_keys: Sequence[str] = (),
    per_day: dict[dt.date, int] | None = None,
    vanished: list[str] | None = None,
) -> int:
    """Inside the caller's transaction: delete the slices, and rows whose key is incoming outside
    them or listed in delete_keys (posts deleted on X), then insert by column name.

    per_day, when given, receives the rows inserted per day (each partition's own count); vanished,
    the keys the slices held that the incoming rows do not (posts gone from a window read whole).

    rows is a frame, or Parquet files staged by the caller (so a big run is never all in memory).
    """
    with incoming_rows(conn, rows) as incoming:
        if incoming is None:
            count = 0
        else:
            date = f'"{table.date_column}"'
            # fetchall, not fetchone: duckdb 2 keeps a half-read result open and refuses the next statement
            ((count, outside),) = conn.execute(
                f"SELECT count(*), count(*) FILTER (WHERE {date} NOT BETWEEN ? AND ?) FROM {incoming}", list(window)
            ).fetchall()
            if outside:
                raise ValueError(f"{outside} row(s) fall outside {window[0]}..{window[1]} of {table.name}")
            if per_day is not None:
                per_day.update(conn.execute(f"SELECT {date}, count(*) FROM {incoming} GROUP BY 1").fetchall())
        owner = f'"{table.owner}"'  # a slice's account_id names the owner: an account, or a query
        bounds = pl.DataFrame([vars(s) for s in slices], schema=SLICE_SCHEMA)
        conn.register("_slices", bounds.to_arrow())
        try:
            if vanished is not None and key_column is not None:
                vanished[:] = _vanished(conn, table, incoming, key_column)
            conn.execute(
                f"DELETE FROM {table.qualified} AS t USING _slices AS s WHERE t.{owner} = s.account_id "
                f'AND t."{table.date_column}" BETWEEN s.first AND s.last'
            )
            if key_column is not None:
                key = f'"{key_column}"'
                # an incoming row outside the slices replaces its stored self: same key, same account
                # (one post may mention two accounts: a row of the other stays)
                uncovered = (
                    f"SELECT i.{owner}, i.{key} FROM {incoming} AS i WHERE NOT EXISTS (SELECT 1 FROM _slices AS s "
                    f'WHERE s.account_id = i.{owner} AND i."{table.date_column}" BETWEEN s.first AND s.last)'
                    if incoming is not None
                    else "SELECT NULL, NULL WHERE false"
                )
                conn.execute(
                    f"DELETE FROM {table.qualified} WHERE ({owner}, {key}) IN ({uncovered}) "
                    f"OR {key} IN (SELECT unnest(?::VARCHAR[]))",
                    [list(delete_keys)],
                )
        finally:
            conn.unregister("_slices")
        if incoming is None:
            return 0
        conn.execute(f"INSERT INTO {table.qualified} BY NAME SELECT * FROM {incoming}")
        # Inside the transaction, before the commit: a write that would store a key twice is refused,
        # never committed and reported afterwards. Rows another tool wrote are the checks' business.
        duplicates = duplicate_keys(conn, table, *window, among=incoming)
    if duplicates.height:
        sample = ", ".join(str(row) for row in duplicates.head(3).rows())
        raise DuplicateKeyError(
            f"{table.name}: this write would store {duplicates.height} key(s) twice (e.g. {sample}); "
            "nothing was written. Is one account listed twice in the source file?"
        )
    return int(count)


# A timestamp's UTC day. Epoch days, not a cast: a TIMESTAMPTZ cast to DATE follows the session's time zone.
# floor, then the cast: DuckDB's // on a DOUBLE (epoch() is one) divides without flooring, and a cast
# to INTEGER rounds, so every read after 12:00 UTC landed on the next day.
EPOCH_DAY = "(DATE '1970-01-01' + floor(epoch({}) / 86400)::INTEGER)"


def record_observations(
    conn: duckdb.DuckDBPyConnection,
    history: Table,
    rows: pl.DataFrame | Sequence[Path],
    extra: Sequence[str] = (),
    gone: Sequence[str] = (),
) -> int:
    """Inside the caller's transaction: each post read (a tweet_insights row) becomes its UTC day's
    observation; a second read the same day replaces that day's row, earlier days are never touched.
    Rows may hold a post's reads of several days (a rebuild): each day keeps its last.
    Posts X reports as deleted leave the history too (X's terms: deleted content is not kept)."""
    with incoming_rows(conn, rows) as incoming:
        count = 0
        if incoming is not None:
            columns = ", ".join(f'"{c}"' for c in extra)
            observed = EPOCH_DAY.format("fetched_at")
            conn.execute(
                f"CREATE OR REPLACE TEMP TABLE _observed AS SELECT DISTINCT ON (observed_date, tweet_id) "
                f"{observed} AS observed_date, "
                "tweet_id, account_id, username, account_name, created_date, "
                f"({observed} - created_date)::INTEGER AS age_days, "
                "is_retweet, like_count, retweet_count, own_retweet_count, reply_count, quote_count, "
                f"bookmark_count, impression_count, fetched_at{', ' + columns if columns else ''} "
                f"FROM {incoming} ORDER BY observed_date, tweet_id, fetched_at DESC"
            )
            conn.execute(
                f"DELETE FROM {history.qualified} AS h USING _observed AS o "
                "WHERE h.observed_date = o.observed_date AND h.tweet_id = o.tweet_id"
            )
            conn.execute(f"INSERT INTO {history.qualified} BY NAME SELECT * FROM _observed")
            ((count,),) = conn.execute("SELECT count(*) FROM _observed").fetchall()
            conn.execute("DROP TABLE _observed")
        if gone:
            conn.execute(
                f"DELETE FROM {history.qualified} WHERE tweet_id IN (SELECT unnest(?::VARCHAR[]))", [list(gone)]
            )
    return int(count)


SLICE_SCHEMA = {"account_id": pl.String, "first": pl.Date, "last": pl.Date}


def _vanished(conn: duckdb.DuckDBPyConnection, table: Table, incoming: str | None, key_column: str) -> list[str]:
    """The keys the registered _slices hold that the incoming rows do not: posts gone from a window read whole."""
    key, owner = f'"{key_column}"', f'"{table.owner}"'
    kept = f"SELECT {key} FROM {incoming}" if incoming is not None else "SELECT NULL WHERE false"
    return [
        k
        for (k,) in conn.execute(
            f"SELECT t.{key} FROM {table.qualified} AS t JOIN _slices AS s ON t.{owner} = s.account_id "
            f'AND t."{table.date_column}" BETWEEN s.first AND s.last WHERE t.{key} NOT IN ({kept})'
        ).fetchall()
    ]


def vanished_keys(
    conn: duckdb.DuckDBPyConnection,
    table: Table,
    rows: pl.DataFrame | Sequence[Path],
    slices: Sequence[Slice],
    key_column: str,
) -> list[str]:
    """What write_rows will report as vanished, asked before the write (to scope it)."""
    if not slices or not table_exists(conn, table):
        return []
    bounds = pl.DataFrame([vars(s) for s in slices], schema=SLICE_SCHEMA)
    with incoming_rows(conn, rows) as incoming:
        conn.register("_slices", bounds.to_arrow())
        try:
            return _vanished(conn, table, incoming, key_column)
        finally:
            conn.unregister("_slices")


@contextmanager
def incoming_rows(conn: duckdb.DuckDBPyConnection, rows: pl.DataFrame | Sequence[Path]) -> Iterator[str | None]:
    """A relation name for the incoming rows, or None when there are none."""
    if isinstance(rows, pl.DataFrame):
        if not rows.height:
            yield None
            return
        conn.register("_incoming", rows.to_arrow())
        try:
            yield "_incoming"
        finally:
            conn.unregister("_incoming")
        return
    if not rows:
        yield None
        return
    files = ", ".join("'" + str(p).replace("'", "''") + "'" for p in rows)
    yield f"read_parquet([{files}])"


def record_reads(conn: duckdb.DuckDBPyConnection, ledger: Table, reads: pl.DataFrame) -> pl.DataFrame:
    """Inside the caller's transaction: add to the read ledger the reads it lacks for their UTC day,
    and return those: what the run adds to X's bill (an earlier run's read of the day is not billed again)."""
    ensure_table(conn, ledger, {})
    conn.register("_reads", reads.to_arrow())
    try:
        new = frame(
            conn,
            "SELECT r.* FROM (SELECT DISTINCT ON (read_date, resource, resource_id) * FROM _reads) AS r "
            f"ANTI JOIN {ledger.qualified} AS l USING (read_date, resource, resource_id)",
        )
        conn.register("_billed", new.to_arrow())
        conn.execute(f"INSERT INTO {ledger.qualified} BY NAME SELECT *, ? AS recorded_at FROM _billed", [utc_now()])
    finally:
        conn.unregister("_reads")
        conn.unregister("_billed")
    return new


def frame(conn: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> pl.DataFrame:
    """A query's result as a polars frame, through Arrow."""
    return conn.sql(sql, params=params).pl()


def table_exists(conn: duckdb.DuckDBPyConnection, table: Table) -> bool:
    """Whether the table was created (an Iceberg table is a view on the Iceberg store's connections);
    asks without creating, so a read-only connection may ask too."""
    ((count,),) = conn.execute(
        "SELECT count(*) FROM (SELECT schema_name, table_name FROM duckdb_tables() UNION ALL "
        "SELECT schema_name, view_name FROM duckdb_views() WHERE comment = ?) WHERE schema_name = ? AND table_name = ?",
        [ICEBERG_VIEW, table.schema, table.name],
    ).fetchall()
    return bool(count)


def read_registry(conn: duckdb.DuckDBPyConnection, schema: str = SCHEMA) -> dict[str, str]:
    """Account key -> id, as first resolved; empty before any run. Creates nothing, so a read-only
    connection may ask too."""
    registry = ACCOUNT_REGISTRY_TABLE.in_schema(schema)
    if not table_exists(conn, registry):
        return {}
    rows = conn.execute(f"SELECT account_key, account_id FROM {registry.qualified}").fetchall()
    return {key: account_id for key, account_id in rows}


def remember_resolutions(conn: duckdb.DuckDBPyConnection, schema: str, resolved: dict[str, tuple[str, str]]) -> None:
    """Store the first resolution of each handle; later runs look the account up by id."""
    if not resolved:
        return
    registry = ACCOUNT_REGISTRY_TABLE.in_schema(schema)
    ensure_table(conn, registry, {})
    rows = pl.DataFrame(
        [(key, account_id, username) for key, (account_id, username) in resolved.items()],
        schema={"account_key": pl.String, "account_id": pl.String, "username": pl.String},
        orient="row",
    )
    # one statement, not one per account (executemany costs a millisecond each: seconds for thousands)
    conn.register("_resolved", rows.to_arrow())
    try:
        conn.execute(
            f"INSERT INTO {registry.qualified} BY NAME SELECT r.*, ? AS resolved_at FROM _resolved AS r "
            f"ANTI JOIN {registry.qualified} AS t USING (account_key)",
            [utc_now()],
        )
    finally:
        conn.unregister("_resolved")
