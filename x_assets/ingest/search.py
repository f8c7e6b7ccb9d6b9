"""search_insights: the posts matching each query of the source file, through recent search.

Recent search reaches the last 7 days only. Days older than that are never written as if they had
no matches: they are reported incomplete (and keep whatever an earlier run stored), and a window
wholly beyond reach makes no request at all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import duckdb
import polars as pl

from ..clock import utc_now
from ..constants import SEARCH_INSIGHTS
from ..log import Log
from ..warehouse.archive import RunArchive
from ..warehouse.store import Scope, Slice, Store, ensure_table, write_rows
from ..warehouse.tables import ACCOUNT_STATUS_TABLE, SEARCH_INSIGHTS_TABLE, with_default_schema
from ..x_api.calls import Caller, XCredentialsRefusedError, XTransientError
from ..x_api.payloads import Page, authors_of, posts_of
from ..x_api.reads import BudgetExhaustedError, ReadBudget, search_pages
from .billing import Reads, per_creation_day, record_bill
from .harvest import BUDGET_REASON, FAILED, INCOMPLETE, OK, days_in
from .loads import (
    UNFINISHED,
    LoadResult,
    explained,
    new_caller,
    newest_read_whole,
    replace_statuses,
    run_archive,
)
from .session import DEFAULT_SCOPE, XSession
from .settings import INCREMENTAL_POLICIES, RunSettings
from .source import QuerySpec
from .transform import others_posts_frame

RECENT_SEARCH_DAYS = 7
# Start a minute inside the 7 days: the request reaches X a moment after it is built.
REACH_MARGIN = dt.timedelta(minutes=1)
REACH_REASON = "older than the 7 days recent search reaches"


@dataclass
class QueryOutcome:
    query: QuerySpec
    status: str = OK
    detail: str = ""
    rows: pl.DataFrame = field(default_factory=SEARCH_INSIGHTS_TABLE.empty_frame)
    slice: Slice | None = None
    read_ids: pl.Series = field(default_factory=lambda: pl.Series("id", [], dtype=pl.String))
    author_ids: list[str] = field(default_factory=list)
    incomplete_days: list[dt.date] = field(default_factory=list)
    incomplete_reason: str = ""

    @property
    def label(self) -> str:
        return f"query:{self.query.name}"


def reach(now: dt.datetime, first: dt.date, last: dt.date) -> tuple[dt.datetime | None, dt.date | None]:
    """Where recent search can start for the window, and the first of its days it covers whole:
    (None, None) when the whole window is older than the 7 days."""
    earliest = now - dt.timedelta(days=RECENT_SEARCH_DAYS) + REACH_MARGIN
    window_end = dt.datetime.combine(last, dt.time(23, 59, 59), tzinfo=dt.UTC)
    if window_end < earliest:
        return None, None
    start = max(dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC), earliest)
    whole_from = start.date() if start.time() == dt.time() else start.date() + dt.timedelta(days=1)
    return start, whole_from


def read_query(
    session: XSession,
    caller: Caller,
    query: QuerySpec,
    first: dt.date,
    last: dt.date,
    now: dt.datetime,
    budget: ReadBudget,
    since_id: str | None,
) -> QueryOutcome:
    outcome = QueryOutcome(query)
    start, whole_from = reach(now, first, last)
    if start is None or whole_from is None:
        outcome.incomplete_days, outcome.incomplete_reason = days_in(first, last), REACH_REASON
        return outcome
    # end_time must be 10 s before the request: a window reaching today is read up to now
    window_end = dt.datetime.combine(last, dt.time(23, 59, 59), tzinfo=dt.UTC)
    end = window_end if window_end < now - dt.timedelta(minutes=1) else None
    # the source's default credentials; a source whose every account has its own uses the first's
    client = session.clients.get(DEFAULT_SCOPE) or next(iter(session.clients.values()))
    pages: list[Page] = []
    budget_stopped = False
    try:
        for page in search_pages(caller, client, query.query, outcome.label, start, end, since_id, budget):
            pages.append(page)
    except BudgetExhaustedError:
        budget_stopped = True
    data, _ = posts_of(pages)
    day = pl.col("created_at").str.slice(0, 10)
    in_window = data.filter(day.is_between(pl.lit(first.isoformat()), pl.lit(last.isoformat())))
    outcome.rows = others_posts_frame(
        in_window, authors_of(pages), SEARCH_INSIGHTS_TABLE, query_name=query.name, query=query.query
    )
    outcome.read_ids = data.get_column("id")
    outcome.author_ids = [u for p in pages for u in p.user_ids]
    cut = [d for d in days_in(first, last) if d < whole_from]
    if budget_stopped:
        outcome.incomplete_days, outcome.incomplete_reason = days_in(first, last), BUDGET_REASON
        return outcome
    if since_id is None and whole_from <= last:
        outcome.slice = Slice(query.name, whole_from, last)
    outcome.incomplete_days, outcome.incomplete_reason = cut, REACH_REASON
    return outcome


def _status_rows(outcomes: Sequence[QueryOutcome], days: list[dt.date]) -> pl.DataFrame:
    rows = []
    recorded_at = utc_now()
    for outcome in outcomes:
        cut = set(outcome.incomplete_days)
        for day in days:
            status, detail = outcome.status, outcome.detail
            if day in cut and status == OK:
                status, detail = INCOMPLETE, outcome.incomplete_reason
            rows.append(
                {
                    "date": day,
                    "account_id": None,
                    "username": outcome.label,
                    "account_name": outcome.query.name,
                    "endpoint": SEARCH_INSIGHTS,
                    "status": status,
                    "detail": detail,
                    "recorded_at": recorded_at,
                }
            )
    return pl.DataFrame(rows, schema=ACCOUNT_STATUS_TABLE.polars_schema())


def _stored_newest(store: Store, log: Log, names: list[str], first: dt.date, last: dt.date) -> dict[str, str]:
    """For the 'ages' policy: the newest stored match of each query whose every window day is 'ok'."""
    table, statuses = store.table(SEARCH_INSIGHTS_TABLE), store.table(ACCOUNT_STATUS_TABLE)
    with store.connect(log) as conn:
        ensure_table(conn, table, {})
        ensure_table(conn, statuses, {})
        status_of = "s.username = 'query:' || t.query_name"  # a query's statuses carry query:<name>
        return newest_read_whole(conn, table, statuses, SEARCH_INSIGHTS, names, first, last, status_of)


def load_search_insights(
    session: XSession,
    settings: RunSettings,
    store: Store,
    first: dt.date,
    last: dt.date,
    log: Log,
    only: Sequence[str] | None = None,  # accounts: search reads queries, so it has none to limit
) -> LoadResult:
    """Every query's matches created on days first..last, as far as recent search reaches."""
    queries = list(session.source.queries)
    # no day unexplained, whatever ends the run: each query's days marked unfinished until written
    unfinished = _status_rows([QueryOutcome(q, FAILED, UNFINISHED) for q in queries], days_in(first, last))
    with (
        explained(session, store, log, None, first, last, SEARCH_INSIGHTS, unfinished),
        run_archive(settings, store, SEARCH_INSIGHTS, first, last, log) as recorder,
    ):
        return _load(session, settings, store, queries, first, last, log, recorder)


def _load(
    session: XSession,
    settings: RunSettings,
    store: Store,
    queries: list[QuerySpec],
    first: dt.date,
    last: dt.date,
    log: Log,
    recorder: RunArchive,
) -> LoadResult:
    caller = new_caller(settings, log, recorder)
    now = utc_now()
    budget = ReadBudget(settings.max_post_reads)
    names = [q.name for q in queries]
    newest = _stored_newest(store, log, names, first, last) if settings.refresh_policy in INCREMENTAL_POLICIES else {}

    def read_one(query: QuerySpec) -> QueryOutcome:
        try:
            return read_query(session, caller, query, first, last, now, budget, newest.get(query.name))
        except XCredentialsRefusedError:
            raise  # search runs on the source's default credentials: nothing else would work either
        except XTransientError as exc:
            log.warning(f"query {query.name}: failed after retries; its stored rows are kept: {exc}")
            return QueryOutcome(query, FAILED, str(exc))

    with ThreadPoolExecutor(max_workers=max(1, min(settings.max_workers, len(queries) or 1))) as pool:
        try:
            outcomes = list(pool.map(read_one, queries))
        except BaseException:
            caller.stop()
            raise
    for outcome in outcomes:
        if outcome.incomplete_days and outcome.status == OK:
            log.warning(
                f"query {outcome.query.name}: days {outcome.incomplete_days[0]}..{outcome.incomplete_days[-1]}: "
                f"{outcome.incomplete_reason}; not written as empty, marked incomplete"
            )
    done = [o for o in outcomes if o.status == OK]
    rows = [o.rows for o in done if o.rows.height]
    table = store.table(SEARCH_INSIGHTS_TABLE)
    incoming = pl.concat(rows) if rows else SEARCH_INSIGHTS_TABLE.empty_frame()
    rows_per_day: dict[dt.date, int] = {}
    extra = session.source.default_schema
    read = pl.concat([o.read_ids for o in done]).unique() if done else pl.Series("id", [], pl.String)
    authors = {a for o in done for a in o.author_ids}
    reads = Reads(now.date(), read, users=authors)
    billed = record_bill(store, log, reads, SEARCH_INSIGHTS)
    statuses_table = store.table(ACCOUNT_STATUS_TABLE)

    # the same one-transaction slice replacement as the other tables, with the statuses
    def write(conn: duckdb.DuckDBPyConnection) -> int:
        for t in (table, statuses_table):
            ensure_table(conn, t, extra)
        written = write_rows(
            conn,
            table,
            with_default_schema(incoming, extra),
            (first, last),
            [o.slice for o in done if o.slice is not None],
            "tweet_id",
            (),
            rows_per_day,
        )
        statuses = with_default_schema(_status_rows(outcomes, days_in(first, last)), extra)
        replace_statuses(conn, statuses_table, statuses, (first, last), SEARCH_INSIGHTS)
        return written

    window = days_in(first, last)
    written = store.write(log, [Scope(table, window), Scope(statuses_table, window)], write)
    result = LoadResult(
        SEARCH_INSIGHTS,
        (first, last),
        [],
        written,
        caller.stats,
        settings.post_read_usd,
        settings.user_read_usd,
        post_reads=read.len(),
        rows_per_day=rows_per_day,
        post_reads_per_day=per_creation_day(read, first, last),
        incomplete={o.label: o.incomplete_days for o in done if o.incomplete_days},
        preview=incoming.head(5),
        author_reads=len(authors),
        billed=billed,
    )
    result.other_failures = [f"{o.label} ({o.detail})" for o in outcomes if o.status != OK]
    log.info(
        f"search_insights {first}..{last}: {written} match(es) for {len(done)} of {len(queries)} query(ies), "
        f"{sum(caller.stats.requests.values())} request(s), {result.post_reads} post read(s), "
        f"{result.user_reads} user read(s), about ${result.estimated_usd:,.3f} at the configured prices"
    )
    return result
