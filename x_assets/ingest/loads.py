"""One asset run end to end: read from X, write one transaction, report what happened.

The Dagster assets and the command line both call these functions.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from ..clock import utc_now, utc_today
from ..constants import ACCOUNT_INSIGHTS, TWEET_INSIGHTS, TWEET_METRICS_HISTORY
from ..log import Log, NullLog
from ..warehouse.archive import RunArchive, archive_root
from ..warehouse.store import (
    EPOCH_DAY,
    Scope,
    Slice,
    Store,
    default_schema_conflicts,
    ensure_table,
    frame,
    incoming_rows,
    read_registry,
    record_observations,
    remember_resolutions,
    table_exists,
    vanished_keys,
    write_rows,
)
from ..warehouse.tables import (
    ACCOUNT_INSIGHTS_TABLE,
    ACCOUNT_REGISTRY_TABLE,
    ACCOUNT_STATUS_TABLE,
    ENGAGEMENT_SQL,
    TWEET_INSIGHTS_TABLE,
    TWEET_METRICS_HISTORY_TABLE,
    UTC_TS,
    Table,
    with_default_schema,
)
from ..x_api.calls import Caller, CallStats, XCredentialsRefusedError, XFatalError, XTransientError
from ..x_api.reads import ReadBudget
from .billing import Billed, Reads, looked_up, per_creation_day, record_bill
from .harvest import (
    FAILED,
    INCOMPLETE,
    OK,
    PROTECTED,
    REFUSED,
    AccountState,
    PostsOutcome,
    add_owned_metrics,
    days_in,
    is_owned,
    read_posts,
    refresh_posts,
    resolve_accounts,
)
from .refresh import Read, still_moving
from .session import DEFAULT_SCOPE, XSession
from .settings import INCREMENTAL_POLICIES, RunSettings
from .source import AccountSpec, SourceConfigError, refuse_twins
from .staging import Stager, staging_folder
from .transform import accounts_frame

PROGRESS_EVERY_S = 5.0


class PastObservationError(ValueError):
    """account_insights can only observe the present: X keeps no history of profile metrics."""


@dataclass
class LoadResult:
    endpoint: str
    days: tuple[dt.date, dt.date]
    states: list[AccountState]
    rows_written: int
    stats: CallStats
    post_usd: float
    user_usd: float
    post_reads: int = 0
    incomplete: dict[str, list[dt.date]] = field(default_factory=dict)
    preview: pl.DataFrame | None = None
    rows_per_day: dict[dt.date, int] = field(default_factory=dict)
    post_reads_per_day: dict[dt.date, int] = field(default_factory=dict)
    owned_reads: int = 0  # post reads billed at the owned rate (not in post_reads)
    owned_usd: float = 0.0
    owned_reads_per_day: dict[dt.date, int] = field(default_factory=dict)
    observations: int | None = None  # rows added to (or replaced in) tweet_metrics_history; None: not kept
    author_reads: int = 0  # users in answers' includes (a mention's author): billed as user reads
    other_failures: list[str] = field(default_factory=list)  # failed besides accounts: search queries
    billed: Billed | None = None  # what the run added to the day's bill (the read ledger); None: not recorded

    @property
    def failed(self) -> list[AccountState]:
        return [s for s in self.states if s.status == FAILED]

    @property
    def user_reads(self) -> int:
        return len(looked_up(self.states)) + self.author_reads

    @property
    def estimated_usd(self) -> float:
        """The run's reads priced as if no other run had read anything that UTC day."""
        return self.usd(self.post_reads, self.owned_reads, self.user_reads)

    @property
    def billed_usd(self) -> float | None:
        billed = self.billed
        if billed is None:
            return None
        return self.usd(billed.posts.len(), billed.owned.len(), billed.users)

    def usd(self, posts: int, owned: int, users: int) -> float:
        return round(posts * self.post_usd + owned * self.owned_usd + users * self.user_usd, 4)

    def day_figures(self) -> dict[dt.date, dict[str, Any]]:
        """Each day's own share of the run, summing over the days to the run's totals: the rows
        written under that day, the reads of posts created that day (a post read is billed once a
        UTC day, and belongs to its creation day), and the run's user reads (its lookups, made once
        for the whole window) on its last day. billed_*: the same, less what an earlier run had
        already read that UTC day (the read ledger): what the run adds to X's bill."""
        first, last = self.days
        billed = self.billed
        billed_posts = per_creation_day(billed.posts, first, last) if billed else {}
        billed_owned = per_creation_day(billed.owned, first, last) if billed else {}
        figures = {}
        for day in days_in(first, last):
            posts = self.post_reads_per_day.get(day, 0)
            owned = self.owned_reads_per_day.get(day, 0)
            users = self.user_reads if day == last else 0
            figures[day] = {
                "dagster/row_count": self.rows_per_day.get(day, 0),
                "post_reads": posts,
                **({"owned_reads": owned} if self.owned_reads else {}),
                "user_reads": users,
                "estimated_usd": self.usd(posts, owned, users),
            }
            if billed is not None:
                new = (billed_posts.get(day, 0), billed_owned.get(day, 0), billed.users if day == last else 0)
                figures[day] |= {
                    "billed_post_reads": new[0],
                    **({"billed_owned_reads": new[1]} if self.owned_reads else {}),
                    "billed_user_reads": new[2],
                    "billed_usd": self.usd(*new),
                }
        return figures

    def run_metadata(self) -> dict[str, Any]:
        """The whole run's figures, under run_* keys: never to be read as one day's."""
        first, last = self.days
        return {
            "days": f"{first}..{last}" if first != last else str(first),
            "run_row_count": self.rows_written,
            "run_post_reads": self.post_reads,
            **({"run_owned_reads": self.owned_reads} if self.owned_reads else {}),
            "run_user_reads": self.user_reads,
            "run_estimated_usd": self.estimated_usd,
            **(
                {
                    "run_billed_post_reads": self.billed.posts.len() + self.billed.owned.len(),
                    "run_billed_user_reads": self.billed.users,
                    "run_billed_usd": self.billed_usd,
                    "billed_day": str(self.billed.day),
                }
                if self.billed is not None
                else {}
            ),
            "accounts": len(self.states),
            "accounts_loaded": sum(s.status in (OK, PROTECTED) for s in self.states),
            "requests_total": sum(self.stats.requests.values()),
            "retries": self.stats.retries,
            "rate_limit_waits": self.stats.rate_limit_waits,
            "rate_limit_wait_seconds": round(self.stats.rate_limit_wait_seconds, 3),
            **({} if self.observations is None else {"history_observations": self.observations}),
        }

    def run_details(self) -> dict[str, Any]:
        """What the run did in detail (per account, per route), said once per run."""
        states = [
            {"account": s.label, "account_id": s.account_id, "status": s.status, "detail": s.detail}
            for s in self.states
        ]
        return {
            "account_states": states,
            "requests": dict(self.stats.requests),
            "incomplete_days": {k: day_ranges(v) for k, v in self.incomplete.items()},
        }


def day_ranges(days: Sequence[dt.date]) -> list[str]:
    """Days as runs of consecutive days: ['2024-01-01..2024-03-05', '2024-03-09']."""
    ranges: list[str] = []
    ordered = sorted(set(days))
    start = prev = ordered[0] if ordered else None
    for day in ordered[1:]:
        if prev is not None and day != prev + dt.timedelta(days=1):
            ranges.append(f"{start}..{prev}" if start != prev else str(start))
            start = day
        prev = day
    if start is not None:
        ranges.append(f"{start}..{prev}" if start != prev else str(start))
    return ranges


def select_accounts(session: XSession, only: Sequence[str] | None, log: Log) -> list[AccountSpec]:
    accounts = list(session.source.accounts)
    if not only:
        return accounts
    wanted = set(only)
    unknown = wanted - {a.key for a in accounts}
    if unknown:
        log.warning(f"accounts {sorted(unknown)} are no longer in the source file; skipped")
    return [a for a in accounts if a.key in wanted]


def warn_unreadable(states: Sequence[AccountState], log: Log, shown: int = 10) -> None:
    """One warning per state (suspended, not_found, ...), naming a few accounts: 10,000 unknown
    accounts make one line, not 10,000 (x.account_status holds every one)."""
    by_status: dict[str, list[AccountState]] = {}
    for state in states:
        if state.status not in (OK, PROTECTED):
            by_status.setdefault(state.status, []).append(state)
    for status, group in by_status.items():
        if len(group) == 1:
            log.warning(f"{group[0].label}: {status}: {group[0].detail}")
            continue
        names = ", ".join(s.label for s in group[:shown]) + (
            f" and {len(group) - shown} more" if len(group) > shown else ""
        )
        log.warning(f"{len(group)} accounts {status}: {names} (e.g. {group[0].detail}); see the account_status table")


def check_observable(first: dt.date, last: dt.date, today: dt.date) -> None:
    if first < today - dt.timedelta(days=1):
        raise PastObservationError(
            f"account_insights cannot observe {first}: X keeps no history of follower or post counts, so a "
            f"snapshot taken now would be written under a past date. Only yesterday ({today - dt.timedelta(days=1)}) "
            f"and today ({today}) can be observed; past days are kept from the runs made at the time."
        )
    if last > today:
        raise PastObservationError(f"account_insights cannot observe {last}: that day has not started yet (UTC)")


def status_frame(
    states: Sequence[AccountState],
    days: Sequence[dt.date],
    endpoint: str,
    incomplete: dict[str, tuple[list[dt.date], str]] | None = None,
) -> pl.DataFrame:
    rows = []
    recorded_at = utc_now()
    for state in states:
        cut_days, reason = (incomplete or {}).get(state.spec.key, ([], ""))
        cut = set(cut_days)
        for day in days:
            status, detail = state.status, state.detail
            if day in cut and status == OK:
                status, detail = INCOMPLETE, reason
            rows.append(
                {
                    "date": day,
                    "account_id": state.account_id,
                    "username": state.display_username,
                    "account_name": state.account_name,
                    "endpoint": endpoint,
                    "status": status,
                    "detail": detail,
                    "recorded_at": recorded_at,
                }
            )
    return pl.DataFrame(rows, schema=ACCOUNT_STATUS_TABLE.polars_schema())


def replace_statuses(
    conn: duckdb.DuckDBPyConnection,
    status_table: Table,
    frame: pl.DataFrame,
    days: tuple[dt.date, dt.date],
    endpoint: str,
) -> None:
    same = (
        "s.date = i.date AND (i.account_id = s.account_id "
        # a status by handle (never resolved, a run's marker before the handle was resolved, a query)
        "OR (s.account_id IS NULL AND lower(i.username) = lower(s.username)))"
    )
    conn.register("_statuses", frame.to_arrow())
    try:
        # A day this run could not reach (a horizon, the budget) keeps the 'ok' of an earlier run that
        # read it whole after it ended: this run replaced none of its rows, only refreshed those it read.
        # (An 'ok' recorded while the day was still running covers only the day so far.)
        conn.execute(
            "CREATE OR REPLACE TEMP TABLE _new_statuses AS SELECT * FROM _statuses AS i WHERE NOT (i.status = ? "
            f"AND EXISTS (SELECT 1 FROM {status_table.qualified} AS s WHERE s.endpoint = i.endpoint AND s.status = ? "
            f"AND epoch(s.recorded_at) >= epoch((s.date + 1)::TIMESTAMP) AND {same}))",
            [INCOMPLETE, OK],
        )
        conn.execute(
            f"DELETE FROM {status_table.qualified} AS s WHERE s.endpoint = ? AND s.date BETWEEN ? AND ? "
            f"AND EXISTS (SELECT 1 FROM _new_statuses AS i WHERE {same})",
            [endpoint, days[0], days[1]],
        )
        conn.execute(f"INSERT INTO {status_table.qualified} BY NAME SELECT * FROM _new_statuses")
        conn.execute("DROP TABLE _new_statuses")
    finally:
        conn.unregister("_statuses")


@dataclass
class Write:
    """Everything one run changes, applied in one transaction."""

    table: Table  # in the source's schema, as every table below
    status_table: Table
    rows: pl.DataFrame | list[Path]  # Parquet files: staged with the default-schema columns already
    days: tuple[dt.date, dt.date]
    slices: list[Slice]
    statuses: pl.DataFrame
    endpoint: str
    first_resolutions: dict[str, tuple[str, str]]
    key_column: str | None = None
    delete_keys: list[str] = field(default_factory=list)
    rows_per_day: dict[dt.date, int] = field(default_factory=dict)  # filled by the write
    history: Table | None = None  # where each post read is also kept as its day's observation
    observations: int = 0  # filled by the write
    reads: Reads | None = None  # what the run read, for the read ledger
    billed: Billed | None = None  # filled by the write: what of it X bills anew today
    vanished: list[str] = field(default_factory=list)  # filled by the write: posts gone from windows read whole


def write_once(store: Store, log: Log, session: XSession, write: Write) -> int:
    if write.reads is not None:
        write.billed = record_bill(store, log, write.reads, write.endpoint)
    return store.write(log, lambda conn: _scopes(conn, write), lambda conn: _write_in(conn, session, write))


def _scopes(conn: duckdb.DuckDBPyConnection, write: Write) -> list[Scope]:
    """What the write may change: its days of the table and the statuses, the days posts read were
    observed on, the days holding posts X deleted (wherever they are), and the registry (whole)."""
    window = Scope.days_from(*write.days)
    scopes = [Scope(write.table, window + _stored_days(conn, write.table, write.delete_keys))]
    if write.history is not None:
        with incoming_rows(conn, write.rows) as rows:
            day = EPOCH_DAY.format("fetched_at")
            observed = [d for (d,) in conn.execute(f"SELECT DISTINCT {day} FROM {rows}").fetchall()] if rows else []
        # the posts gone from the windows read whole leave the history too (found here, before the
        # write, so that an Iceberg write may change the days they were observed on)
        gone = write.delete_keys
        if write.key_column is not None and write.slices:
            gone = [*gone, *vanished_keys(conn, write.table, write.rows, write.slices, write.key_column)]
        scopes.append(Scope(write.history, observed + _stored_days(conn, write.history, gone)))
    # the registry first and the statuses last: a day says 'ok' only once its rows have landed
    registry = ACCOUNT_REGISTRY_TABLE.in_schema(write.table.schema)
    return [Scope(registry), *scopes, Scope(write.status_table, window)]


def _stored_days(conn: duckdb.DuckDBPyConnection, table: Table, keys: Sequence[str]) -> list[dt.date]:
    """The days of a table holding these posts (a post deleted on X leaves every table it is in)."""
    if not keys or not table_exists(conn, table):
        return []
    rows = conn.execute(
        f'SELECT DISTINCT "{table.date_column}" FROM {table.qualified} WHERE tweet_id IN (SELECT unnest(?::VARCHAR[]))',
        [list(keys)],
    ).fetchall()
    return [day for (day,) in rows]


def _write_in(conn: duckdb.DuckDBPyConnection, session: XSession, write: Write) -> int:
    # Row order in a table means nothing here; without it DuckDB inserts staged files in parallel.
    conn.execute("SET preserve_insertion_order = false")
    extra = session.source.default_schema
    for table in (write.table, write.status_table, *([write.history] if write.history else [])):
        ensure_table(conn, table, extra)
    rows = with_default_schema(write.rows, extra) if isinstance(write.rows, pl.DataFrame) else write.rows
    written = write_rows(
        conn,
        write.table,
        rows,
        write.days,
        write.slices,
        write.key_column,
        write.delete_keys,
        write.rows_per_day,
        write.vanished,
    )
    if write.history is not None:
        gone = [*write.delete_keys, *write.vanished]  # X's terms: a post deleted there is kept nowhere
        write.observations = record_observations(conn, write.history, rows, list(extra), gone)
    replace_statuses(conn, write.status_table, with_default_schema(write.statuses, extra), write.days, write.endpoint)
    remember_resolutions(conn, write.table.schema, write.first_resolutions)
    return written


def open_accounts(
    session: XSession, store: Store, log: Log, only: Sequence[str] | None, caller: Caller
) -> tuple[list[AccountState], dict[str, tuple[str, str]]]:
    accounts = select_accounts(session, only, log)
    with store.connect(log) as conn:
        registry = read_registry(conn, store.schema_name)
    refuse_twins(session.source, registry)  # a handle resolved by an earlier run: before any request
    states, first = resolve_accounts(session, accounts, registry, caller)
    # a handle looked up for the first time: before any timeline read or write
    refuse_twins(session.source, {**registry, **{s.spec.key: s.account_id for s in states if s.account_id}})
    return states, first


UNFINISHED = "not loaded: the run that was to load this day ended before writing it (see its log)"


@contextmanager
def explained(
    session: XSession,
    store: Store,
    log: Log,
    only: Sequence[str] | None,
    first: dt.date,
    last: dt.date,
    endpoint: str,
    unfinished: pl.DataFrame | None = None,
) -> Iterator[None]:
    """No missing day goes unexplained, whatever ends the run.

    Before any request, each account and day without a status gets a 'failed' one saying the run
    did not finish; the run's own write replaces it. So a run that is killed, crashes in its write
    or is refused by X (402, 401, a usage cap; its answer then becomes the detail) leaves a status
    where it left no rows. A day that has a status keeps it: its rows are as that status says.

    unfinished: the 'failed' statuses to mark, when the run is not about the accounts (a search's
    queries); by default each account's.
    """
    _mark_unfinished(session, store, log, only, days_in(first, last), endpoint, unfinished)
    try:
        yield
    except XFatalError as exc:
        detail, status_table = str(exc)[:500], store.table(ACCOUNT_STATUS_TABLE)
        store.write(
            log,
            [Scope(status_table, Scope.days_from(first, last))],
            lambda conn: conn.execute(
                f"UPDATE {status_table.qualified} SET detail = ? WHERE endpoint = ? AND date BETWEEN ? AND ? "
                "AND status = ? AND detail = ?",
                [detail, endpoint, first, last, FAILED, UNFINISHED],
            ),
        )
        raise


def _mark_unfinished(
    session: XSession,
    store: Store,
    log: Log,
    only: Sequence[str] | None,
    days: list[dt.date],
    endpoint: str,
    unfinished: pl.DataFrame | None = None,
) -> None:
    extra = session.source.default_schema
    status_table = store.table(ACCOUNT_STATUS_TABLE)

    def mark(conn: duckdb.DuckDBPyConnection) -> None:
        # before anything is written: a default-schema value the stored columns cannot take
        conflicts = default_schema_conflicts(conn, store.schema_name, extra)
        if conflicts:
            listed = "\n".join(f"  - {c}" for c in conflicts)
            raise SourceConfigError(f"{session.source.path}: {len(conflicts)} problem(s):\n{listed}")
        marks = unfinished
        if marks is None:
            registry = read_registry(conn, store.schema_name)
            accounts = select_accounts(session, only, NullLog())  # open_accounts says which accounts it skips
            states = [AccountState(spec=a, account_id=a.account_id or registry.get(a.key)) for a in accounts]
            for state in states:
                state.fail(FAILED, UNFINISHED)
            marks = status_frame(states, days, endpoint)
        ensure_table(conn, status_table, extra)
        conn.register("_unfinished", with_default_schema(marks, extra).to_arrow())
        try:
            conn.execute(
                f"INSERT INTO {status_table.qualified} BY NAME SELECT * FROM _unfinished AS u "
                f"WHERE NOT EXISTS (SELECT 1 FROM {status_table.qualified} AS s "
                "WHERE s.date = u.date AND s.endpoint = u.endpoint AND (s.account_id = u.account_id "
                "OR (s.account_id IS NULL AND u.account_id IS NULL AND s.username = u.username)))"
            )
        finally:
            conn.unregister("_unfinished")

    store.write(log, [Scope(status_table, days)], mark)


def newest_read_whole(
    conn: duckdb.DuckDBPyConnection,
    table: Table,
    status_table: Table,
    endpoint: str,
    owners: list[str],
    first: dt.date,
    last: dt.date,
    status_of: str,
) -> dict[str, str]:
    """For the 'ages' policy (mentions, search): per owner (an account, or a query), the newest
    stored post id of the window, only when every day of the window has an 'ok' status, since a
    since_id read skips only what is stored. status_of: SQL matching a status row s to a row t."""
    owner = f't."{table.owner}"'
    rows = conn.execute(
        f"SELECT {owner}, max(t.tweet_id::UBIGINT)::VARCHAR FROM {table.qualified} AS t "
        f"WHERE {owner} IN (SELECT unnest(?::VARCHAR[])) AND t.created_date >= ? GROUP BY 1 "
        f"HAVING (SELECT count(DISTINCT s.date) FROM {status_table.qualified} AS s WHERE {status_of} "
        "AND s.endpoint = ? AND s.status = ? AND s.date BETWEEN ? AND ?) = ?",
        [owners, first, endpoint, OK, first, last, (last - first).days + 1],
    ).fetchall()
    return dict(rows)


def look_up_accounts(session: XSession, settings: RunSettings, store: Store, log: Log) -> list[AccountState]:
    """The configured accounts as X knows them now, through the lookups a run makes; writes nothing.

    Accounts already resolved by a run are looked up by their stored id, as the assets do.
    """
    caller = new_caller(settings, log)
    registry: dict[str, str] = {}
    if store.destination != "duckdb":
        with store.connect(log) as conn:
            registry = read_registry(conn, store.schema_name)
    elif Path(store.database).exists():
        try:
            with duckdb.connect(store.database, read_only=True) as conn:
                registry = read_registry(conn, store.schema_name)
        except duckdb.Error as exc:  # locked by a running job: resolve handles afresh
            log.warning(f"stored account ids not read from {store.database} ({exc}); resolving handles")
    states, _ = resolve_accounts(session, session.source.accounts, registry, caller)
    return states


def new_caller(settings: RunSettings, log: Log, recorder: RunArchive | None = None) -> Caller:
    return Caller(settings.call_policy, CallStats(), log, recorder)


@contextmanager
def run_archive(
    settings: RunSettings, store: Store, asset: str, first: dt.date, last: dt.date, log: Log
) -> Iterator[RunArchive]:
    """The run's raw archive (every answer X gives it, for rebuilds), finished however the run ends:
    answers already paid for are kept even when the write fails."""
    archive = RunArchive(
        archive_root(store.folder, store.schema_name), asset, window=(first, last), keep=settings.archive_days > 0
    )
    try:
        yield archive
    finally:
        try:
            archive.close(settings.archive_days, utc_today())
        except OSError as exc:  # the archive is a copy: its trouble never fails the run
            archive.error = archive.error or f"{type(exc).__name__}: {exc}"
        if archive.error:
            log.warning(f"the raw archive under {archive.root} stopped keeping answers ({archive.error})")
        if archive.answers:
            log.info(f"{archive.answers} answer(s) archived ({archive.bytes_in:,} bytes before compression)")


def load_account_insights(
    session: XSession,
    settings: RunSettings,
    store: Store,
    first: dt.date,
    last: dt.date,
    log: Log,
    only: Sequence[str] | None = None,
    today: dt.date | None = None,
) -> LoadResult:
    """Snapshot every account's profile metrics under the days first..last (yesterday or today)."""
    check_observable(first, last, today or utc_today())
    with (
        explained(session, store, log, only, first, last, ACCOUNT_INSIGHTS),
        run_archive(settings, store, ACCOUNT_INSIGHTS, first, last, log) as recorder,
    ):
        caller = new_caller(settings, log, recorder)
        states, first_resolutions = open_accounts(session, store, log, only, caller)
    observed = [s for s in states if s.user is not None and s.account_id]
    days = days_in(first, last)
    rows = [{"user": s.user, "account_name": s.account_name, "fetched_at": s.fetched_at} for s in observed]
    snapshots = pl.concat([accounts_frame(rows, day) for day in days])
    closer = _closer_snapshots(store, log, snapshots)
    if closer.height:
        snapshots = snapshots.join(closer, on=["date", "account_id"], how="anti")
        log.info(
            f"kept {closer.height} stored snapshot(s) taken closer to the end of their UTC day than this run's "
            f"(e.g. {closer.row(0)[1]} on {closer.row(0)[0]}, taken {closer.row(0)[2]:%Y-%m-%d %H:%M} UTC)"
        )
    write = Write(
        table=store.table(ACCOUNT_INSIGHTS_TABLE),
        status_table=store.table(ACCOUNT_STATUS_TABLE),
        rows=snapshots,
        days=(first, last),
        slices=[Slice(account_id, day, day) for day, account_id in snapshots.select("date", "account_id").iter_rows()],
        statuses=status_frame(states, days, ACCOUNT_INSIGHTS),
        endpoint=ACCOUNT_INSIGHTS,
        first_resolutions=first_resolutions,
        reads=Reads(utc_today(), users=looked_up(states)),
    )
    written = write_once(store, log, session, write)
    warn_unreadable(states, log)
    result = LoadResult(
        ACCOUNT_INSIGHTS,
        (first, last),
        states,
        written,
        caller.stats,
        settings.post_read_usd,
        settings.user_read_usd,
        preview=snapshots.head(5),
        rows_per_day=write.rows_per_day,
        billed=write.billed,
    )
    log.info(
        f"account_insights {first}..{last}: {written} row(s) for {len(observed)} of {len(states)} account(s), "
        f"{result.user_reads} user read(s), about ${result.estimated_usd:,.3f} at the configured prices"
    )
    return result


def _closer_snapshots(store: Store, log: Log, snapshots: pl.DataFrame) -> pl.DataFrame:
    """(date, account_id, fetched_at) of stored snapshots taken closer to the end of their UTC day
    than this run's: the observation nearest the day's end represents the day, so a re-run late
    the next day never replaces the 00:30 snapshot, while a later one during the day does."""
    stored = store.table(ACCOUNT_INSIGHTS_TABLE)
    table = stored.qualified
    with store.connect(log) as conn:
        if not snapshots.height or not table_exists(conn, stored):
            return pl.DataFrame(schema={"date": pl.Date, "account_id": pl.String, "fetched_at": UTC_TS})
        conn.register("_observed", snapshots.select("date", "account_id", "fetched_at").to_arrow())
        try:
            return frame(
                conn,
                f"SELECT o.date, o.account_id, s.fetched_at FROM _observed AS o JOIN {table} AS s "
                "USING (date, account_id) WHERE abs(epoch(s.fetched_at) - epoch((o.date + 1)::TIMESTAMP)) "
                "< abs(epoch(o.fetched_at) - epoch((o.date + 1)::TIMESTAMP)) ORDER BY ALL",
            )
        finally:
            conn.unregister("_observed")


@dataclass
class StoredPosts:
    """What the table already holds for the refresh-by-age policy, per account id."""

    newest: dict[str, str]  # account_id -> newest stored post id of the window
    unread_from: dict[str, dt.date]  # account_id -> the window's first day not read completely
    due: dict[str, list[str]]  # account_id -> post ids whose age is a refresh age


def _stored_posts(
    store: Store, log: Log, ids: list[str], first: dt.date, last: dt.date, now: dt.datetime, settings: RunSettings
) -> StoredPosts:
    """since_id may skip only what is stored: a day without an 'ok' status (failed, incomplete, never
    loaded) must be read again from its start, however many newer posts are stored after it."""
    posts, statuses = store.table(TWEET_INSIGHTS_TABLE), store.table(ACCOUNT_STATUS_TABLE)
    table = posts.qualified
    due_days = [now.date() - dt.timedelta(days=a) for a in settings.refresh_ages]
    with store.connect(log) as conn:
        ensure_table(conn, posts, {})
        ensure_table(conn, statuses, {})
        newest = conn.execute(
            f"SELECT account_id, max(tweet_id::UBIGINT)::VARCHAR FROM {table} "
            "WHERE account_id IN (SELECT unnest(?::VARCHAR[])) AND created_date >= ? GROUP BY 1",
            [ids, first],
        ).fetchall()
        unread = conn.execute(
            "SELECT a.account_id, min(d.day)::DATE FROM unnest(?::VARCHAR[]) AS a(account_id) "
            "CROSS JOIN (SELECT unnest(generate_series(?::DATE, ?::DATE, INTERVAL 1 DAY))::DATE AS day) AS d "
            f"WHERE NOT EXISTS (SELECT 1 FROM {statuses.qualified} AS s WHERE s.account_id = a.account_id "
            "AND s.date = d.day AND s.endpoint = ? AND s.status = ?) GROUP BY 1",
            [ids, first, last, TWEET_INSIGHTS, OK],
        ).fetchall()
        if settings.refresh_policy == "adaptive":
            due = _still_moving(conn, store, ids, first, last, due_days, now, settings.refresh_tolerance)
        else:
            due = {
                a: list(t)
                for a, t in conn.execute(
                    f"SELECT account_id, list(tweet_id ORDER BY tweet_id) FROM {table} "
                    "WHERE account_id IN (SELECT unnest(?::VARCHAR[])) AND created_date BETWEEN ? AND ? "
                    "AND created_date IN (SELECT unnest(?::DATE[])) GROUP BY 1",
                    [ids, first, last, due_days],
                ).fetchall()
            }
    return StoredPosts(newest=dict(newest), unread_from=dict(unread), due=due)


def _still_moving(
    conn: duckdb.DuckDBPyConnection,
    store: Store,
    ids: list[str],
    first: dt.date,
    last: dt.date,
    due_days: list[dt.date],
    now: dt.datetime,
    tolerance: float,
) -> dict[str, list[str]]:
    """The 'adaptive' policy: of the posts at a refresh age, those whose engagement is predicted to
    have moved since their last read (ingest/refresh.py), from their reads in tweet_metrics_history
    (one a UTC day) and the stored row's own. A post read today already is not read again."""
    history = store.table(TWEET_METRICS_HISTORY_TABLE)
    ensure_table(conn, history, {})
    posts = store.table(TWEET_INSIGHTS_TABLE).qualified
    rows = conn.execute(
        f"WITH p AS (SELECT tweet_id, account_id, created_at FROM {posts} "
        "WHERE account_id IN (SELECT unnest(?::VARCHAR[])) AND created_date BETWEEN ? AND ? "
        "AND created_date IN (SELECT unnest(?::DATE[]))), "
        f"r AS (SELECT tweet_id, fetched_at, {ENGAGEMENT_SQL} AS e FROM {history.qualified} "
        "WHERE tweet_id IN (SELECT tweet_id FROM p) "
        f"UNION ALL SELECT tweet_id, fetched_at, {ENGAGEMENT_SQL} FROM {posts} "
        "WHERE tweet_id IN (SELECT tweet_id FROM p)), "
        # the last read of each UTC day: X bills a post once a day, and the history keeps one a day
        "d AS (SELECT tweet_id, arg_max(fetched_at, fetched_at) AS at, arg_max(e, fetched_at) AS e "
        f"FROM r GROUP BY tweet_id, {EPOCH_DAY.format('fetched_at')}) "
        "SELECT p.account_id, p.tweet_id, epoch(p.created_at), "
        "list(epoch(d.at) ORDER BY d.at), list(d.e ORDER BY d.at) "
        "FROM p JOIN d USING (tweet_id) GROUP BY ALL ORDER BY p.tweet_id",
        [ids, first, last, due_days],
    ).fetchall()
    now_s, today = now.timestamp(), now.date()
    due: dict[str, list[str]] = {}
    for account_id, tweet_id, created_s, fetched, engagements in rows:
        if dt.datetime.fromtimestamp(fetched[-1], tz=dt.UTC).date() == today:
            continue
        reads = [Read((f - created_s) / 86_400, e) for f, e in zip(fetched, engagements, strict=True)]
        if still_moving(reads, (now_s - created_s) / 86_400, tolerance):
            due.setdefault(account_id, []).append(tweet_id)
    return due


def load_tweet_insights(
    session: XSession,
    settings: RunSettings,
    store: Store,
    first: dt.date,
    last: dt.date,
    log: Log,
    only: Sequence[str] | None = None,
) -> LoadResult:
    """Every account's posts created on days first..last, each account's window read once.

    Accounts are read in parallel by settings.max_workers workers, paced by the rate-limit headers.
    """
    with (
        explained(session, store, log, only, first, last, TWEET_INSIGHTS),
        run_archive(settings, store, TWEET_INSIGHTS, first, last, log) as recorder,
    ):
        return _load_tweet_insights(session, settings, store, first, last, log, only, recorder)


def _load_tweet_insights(
    session: XSession,
    settings: RunSettings,
    store: Store,
    first: dt.date,
    last: dt.date,
    log: Log,
    only: Sequence[str] | None,
    recorder: RunArchive,
) -> LoadResult:
    # checked before any request is made
    if settings.refresh_policy == "adaptive" and TWEET_METRICS_HISTORY not in session.source.endpoints:
        raise SourceConfigError(
            f"refresh policy 'adaptive' decides from each post's past reads, kept in {TWEET_METRICS_HISTORY}: "
            f"add {TWEET_METRICS_HISTORY} to the endpoints of {session.source.path}, or choose 'ages'"
        )
    caller = new_caller(settings, log, recorder)
    states, first_resolutions = open_accounts(session, store, log, only, caller)
    now = utc_now()
    budget = ReadBudget(settings.max_post_reads)
    readable = [s for s in states if s.account_id is not None and s.status in (OK, PROTECTED)]
    by_ages = settings.refresh_policy in INCREMENTAL_POLICIES
    ids = [s.account_id or "" for s in readable]
    stored = _stored_posts(store, log, ids, first, last, now, settings) if by_ages else StoredPosts({}, {}, {})

    def read_one(state: AccountState) -> list[PostsOutcome]:
        client = session.client_for(state.spec)
        state.status, state.detail = OK, ""  # the timeline decides whether a protected account is readable
        try:
            account_id = state.account_id or ""
            if by_ages and account_id in stored.unread_from:  # read from the first day not read completely
                start, since_id = stored.unread_from[account_id], None
            else:
                start, since_id = first, stored.newest.get(account_id)
            outcomes = [read_posts(caller, client, state, start, last, now, budget, since_id)]
            if state.status == OK and stored.due.get(account_id):
                outcomes.append(refresh_posts(caller, client, state, stored.due[account_id], budget))
            if state.status == OK and is_owned(client, state):
                add_owned_metrics(caller, client, state, outcomes, now)
            return outcomes
        except XCredentialsRefusedError as exc:
            if client.scope.label == DEFAULT_SCOPE:
                raise
            state.fail(REFUSED, str(exc))
        except XTransientError as exc:
            state.fail(FAILED, str(exc))
            log.warning(f"{state.label}: failed after retries; its stored rows are kept: {exc}")
        return []

    slices: list[Slice] = []
    delete_keys: list[str] = []
    incomplete: dict[str, tuple[list[dt.date], str]] = {}
    read_ids: list[pl.Series] = []
    owned_ids: list[pl.Series] = []
    # Rows are staged as Parquet a batch of accounts at a time and inserted from there in the final
    # transaction, so a backfill of a million posts never sits in memory at once.
    started = time.monotonic()
    last_said = [started]

    def say(i: int, line: str, always: bool = False) -> None:
        """An account's progress, at most every PROGRESS_EVERY_S besides the first, the last and the
        accounts not read: each line is an event Dagster stores, and 500 of them cost a run seconds."""
        now = time.monotonic()
        if always or i in (1, len(readable)) or now - last_said[0] >= PROGRESS_EVERY_S:
            last_said[0] = now
            log.info(f"account {i}/{len(readable)} {line}; {progress(i)}")

    def progress(done: int) -> str:
        """So far, and how long the rest should take at this pace (accounts finish in any order)."""
        elapsed = time.monotonic() - started
        left = elapsed / done * (len(readable) - done)
        stats = caller.stats
        return (
            f"{sum(stats.requests.values())} request(s), {stats.rate_limit_waits} rate-limit wait(s) "
            f"({stats.rate_limit_wait_seconds:.0f}s) so far; {elapsed:.0f}s elapsed, about {left:.0f}s left"
        )

    def stage_one(i: int, state: AccountState, outcomes: list[PostsOutcome]) -> None:
        """One account's posts to the staging files, its slices and statuses noted, its progress logged."""
        read_ids.extend(o.read_ids for o in outcomes)
        owned_ids.extend(o.owned_ids for o in outcomes)
        if state.status != OK:
            say(i, f"{state.label}: {state.status}: {state.detail}", always=True)
            return
        for outcome in outcomes:
            stager.add(outcome.posts)
            slices.extend([outcome.slice] if outcome.slice else [])
            delete_keys.extend(outcome.delete_keys)
            if outcome.incomplete_days:
                incomplete[state.spec.key] = (outcome.incomplete_days, outcome.incomplete_reason)
                log.warning(
                    f"{state.label}: days {outcome.incomplete_days[0]}..{outcome.incomplete_days[-1]}: "
                    f"{outcome.incomplete_reason}; loaded what could be read, slice marked incomplete"
                )
        pages = sum(o.pages for o in outcomes)
        rows = sum(o.posts.count for o in outcomes)
        say(i, f"{state.label}: {rows} post(s) in {pages} page(s)")

    with staging_folder(store.database) as stage:
        stager = Stager(stage, session.source.default_schema)
        with ThreadPoolExecutor(max_workers=max(1, settings.max_workers), thread_name_prefix="x-read") as pool:
            futures: dict[Future[list[PostsOutcome]], AccountState] = {pool.submit(read_one, s): s for s in readable}
            try:
                for i, future in enumerate(as_completed(futures), start=1):
                    # result() raises a fatal answer: fail fast. pop: a finished future holds its rows,
                    # which must be free to go once staged.
                    stage_one(i, futures.pop(future), future.result())
            except BaseException:
                # A fatal answer, a failure, or SIGTERM: wake every worker waiting out a rate-limit window
                # or a backoff, so the run ends now, not when the longest wait would have.
                caller.stop()
                for other in futures:
                    other.cancel()
                raise
        stager.flush()
        read_ids.extend(stager.read_ids)  # the reads of the accounts the stager exploded
        # a post read twice today is billed once; each read counts on its post's creation day, and a
        # read of a post older than the window (the page that crossed its start) on the first day
        # A post of an account's own timeline read as itself is billed at the owned rate (once a day too).
        owned = pl.concat(owned_ids).unique() if owned_ids else pl.Series("id", [], pl.String)
        read = pl.concat(read_ids).unique() if read_ids else pl.Series("id", [], pl.String)
        read = read.filter(~read.is_in(owned.implode()))
        post_reads, owned_reads = read.len(), owned.len()
        post_reads_per_day = per_creation_day(read, first, last)
        owned_reads_per_day = per_creation_day(owned, first, last)
        write = Write(
            table=store.table(TWEET_INSIGHTS_TABLE),
            status_table=store.table(ACCOUNT_STATUS_TABLE),
            rows=stager.files,
            days=(first, last),
            slices=slices,
            statuses=status_frame(states, days_in(first, last), TWEET_INSIGHTS, incomplete),
            endpoint=TWEET_INSIGHTS,
            first_resolutions=first_resolutions,
            key_column="tweet_id",
            delete_keys=delete_keys,
            history=store.table(TWEET_METRICS_HISTORY_TABLE)
            if TWEET_METRICS_HISTORY in session.source.endpoints
            else None,
            reads=Reads(now.date(), read, owned, looked_up(states)),
        )
        written = write_once(store, log, session, write)
    # X's terms: a post deleted there is kept nowhere, the archive included (gone from a window read
    # whole, or reported gone when re-read by id)
    recorder.forget([*delete_keys, *write.vanished])
    result = LoadResult(
        TWEET_INSIGHTS,
        (first, last),
        states,
        written,
        caller.stats,
        settings.post_read_usd,
        settings.user_read_usd,
        post_reads=post_reads,
        rows_per_day=write.rows_per_day,
        post_reads_per_day=post_reads_per_day,
        owned_reads=owned_reads,
        owned_usd=settings.owned_read_usd,
        owned_reads_per_day=owned_reads_per_day,
        incomplete={k: v[0] for k, v in incomplete.items()},
        preview=stager.preview,
        observations=write.observations if write.history is not None else None,
        billed=write.billed,
    )
    log.info(
        f"tweet_insights {first}..{last}: {written} post(s) for {len(slices)} of {len(states)} account(s), "
        f"{sum(caller.stats.requests.values())} request(s), {post_reads} post read(s), {result.user_reads} user "
        f"read(s), about ${result.estimated_usd:,.3f} at the configured prices"
    )
    return result
