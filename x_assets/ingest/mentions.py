"""mentions_insights: the posts that @mention each configured account, by UTC creation day.

X serves only an account's 800 most recent mentions. Each read goes from the window's first day
(or the newest stored mention) up to now, so the count read tells whether the window's start was
still within reach; days beyond it are written as far as they could be read and marked incomplete.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl

from ..clock import utc_now
from ..constants import MENTIONS_INSIGHTS
from ..log import Log
from ..warehouse.archive import RunArchive
from ..warehouse.store import Slice, Store, ensure_table
from ..warehouse.tables import ACCOUNT_STATUS_TABLE, MENTIONS_INSIGHTS_TABLE
from ..x_api.calls import Caller, XCredentialsRefusedError, XTransientError
from ..x_api.payloads import Page, authors_of, posts_of
from ..x_api.reads import BudgetExhaustedError, ReadBudget, mention_pages
from .billing import Reads, looked_up, per_creation_day
from .harvest import (
    BUDGET_REASON,
    FAILED,
    OK,
    PROTECTED,
    REFUSED,
    AccountState,
    days_in,
    error_status,
    is_owned,
    reread_by_ids,
)
from .loads import (
    LoadResult,
    Write,
    explained,
    new_caller,
    newest_read_whole,
    open_accounts,
    run_archive,
    status_frame,
    warn_unreadable,
    write_once,
)
from .session import DEFAULT_SCOPE, XSession
from .settings import INCREMENTAL_POLICIES, RunSettings
from .transform import others_posts_frame

MENTIONS_HORIZON = 800
MENTIONS_HORIZON_REASON = "beyond the 800 most recent mentions X lets an account's mentions reach"


@dataclass
class MentionsOutcome:
    rows: pl.DataFrame
    slice: Slice | None = None
    read_ids: pl.Series = field(default_factory=lambda: pl.Series("id", [], dtype=pl.String))
    author_ids: list[str] = field(default_factory=list)
    owned: bool = False
    pages: int = 0
    incomplete_days: list[dt.date] = field(default_factory=list)
    incomplete_reason: str = ""
    delete_keys: list[str] = field(default_factory=list)  # mentions X reports as gone


@dataclass
class StoredMentions:
    """What the table holds for the 'ages' policy, per account id."""

    newest: dict[str, str]  # the newest stored mention, when every day of the window is 'ok'
    due: dict[str, list[str]]  # stored mentions whose age (in days) is one of the refresh ages


def _stored_mentions(
    store: Store, log: Log, ids: list[str], first: dt.date, last: dt.date, today: dt.date, ages: list[int]
) -> StoredMentions:
    """For the 'ages' policy: since_id skips only what is stored, so an account with a day of the
    window not read completely is read from the window's start again; and the mentions due a
    re-read of their counts, as posts are."""
    table, statuses = store.table(MENTIONS_INSIGHTS_TABLE), store.table(ACCOUNT_STATUS_TABLE)
    due_days = [today - dt.timedelta(days=a) for a in ages]
    with store.connect(log) as conn:
        ensure_table(conn, table, {})
        ensure_table(conn, statuses, {})
        due = conn.execute(
            f"SELECT account_id, list(tweet_id ORDER BY tweet_id) FROM {table.qualified} "
            "WHERE account_id IN (SELECT unnest(?::VARCHAR[])) AND created_date BETWEEN ? AND ? "
            "AND created_date IN (SELECT unnest(?::DATE[])) GROUP BY 1",
            [ids, first, last, due_days],
        ).fetchall()
        newest = newest_read_whole(
            conn, table, statuses, MENTIONS_INSIGHTS, ids, first, last, "s.account_id = t.account_id"
        )
    return StoredMentions(newest=newest, due={a: list(t) for a, t in due})


def read_mentions(
    session: XSession,
    settings: RunSettings,
    state: AccountState,
    first: dt.date,
    last: dt.date,
    budget: ReadBudget,
    since_id: str | None,
    caller: Caller,
) -> MentionsOutcome:
    """One account's mentions of days first..last (with since_id: only the newer ones)."""
    assert state.account_id is not None
    client = session.client_for(state.spec)
    start = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
    pages: list[Page] = []
    budget_stopped = False
    try:
        for page in mention_pages(caller, client, state.account_id, state.label, start, since_id, budget):
            if not page.count and page.errors and not pages:
                state.fail(*error_status(page.errors[0]))
                return MentionsOutcome(MENTIONS_INSIGHTS_TABLE.empty_frame())
            pages.append(page)
    except BudgetExhaustedError:
        budget_stopped = True
    data, _ = posts_of(pages)
    read_ids = data.get_column("id")
    day = pl.col("created_at").str.slice(0, 10)
    in_window = data.filter(day.is_between(pl.lit(first.isoformat()), pl.lit(last.isoformat())))
    rows = others_posts_frame(
        in_window,
        authors_of(pages),
        MENTIONS_INSIGHTS_TABLE,
        account_id=state.account_id,
        username=state.display_username,
        account_name=state.account_name,
    )
    outcome = MentionsOutcome(
        rows,
        read_ids=read_ids,
        author_ids=[u for p in pages for u in p.user_ids],
        owned=is_owned(client, state),
        pages=len(pages),
    )
    if since_id is not None and budget_stopped:
        # the mentions between since_id and the oldest read were not read: writing the newer ones would
        # move the newest stored past them, and the next run's since_id would skip them for good
        outcome.rows = MENTIONS_INSIGHTS_TABLE.empty_frame()
        outcome.incomplete_days, outcome.incomplete_reason = days_in(first, last), BUDGET_REASON
        return outcome
    cut = sum(p.count for p in pages) >= MENTIONS_HORIZON
    if not (cut or budget_stopped):
        if since_id is None:
            outcome.slice = Slice(state.account_id, first, last)
        return outcome
    # Mentions come newest first: the days after the oldest one read are complete, that day only partly.
    oldest = dt.date.fromisoformat(str(data.select(day.min()).item())) if data.height else None
    complete_from = oldest + dt.timedelta(days=1) if oldest else last + dt.timedelta(days=1)
    if since_id is None and complete_from <= last:
        outcome.slice = Slice(state.account_id, complete_from, last)
    outcome.incomplete_days = [d for d in days_in(first, last) if d < complete_from]
    outcome.incomplete_reason = BUDGET_REASON if budget_stopped else MENTIONS_HORIZON_REASON
    return outcome


def refresh_mentions(
    session: XSession,
    caller: Caller,
    state: AccountState,
    outcome: MentionsOutcome,
    ids: list[str],
    budget: ReadBudget,
) -> None:
    """Re-read stored mentions by id (the 'ages' policy) into the outcome; gone ones are deleted."""
    client = session.client_for(state.spec)
    pages, gone = reread_by_ids(caller, client, ids, state.label, budget, authors=True)
    data, _ = posts_of(pages)
    refreshed = others_posts_frame(
        data,
        authors_of(pages),
        MENTIONS_INSIGHTS_TABLE,
        account_id=state.account_id or "",
        username=state.display_username,
        account_name=state.account_name,
    )
    outcome.rows = pl.concat([outcome.rows, refreshed]).unique(["account_id", "tweet_id"], keep="first")
    outcome.read_ids = pl.concat([outcome.read_ids, data.get_column("id")])
    outcome.author_ids += [u for p in pages for u in p.user_ids]
    outcome.delete_keys += gone


def load_mentions_insights(
    session: XSession,
    settings: RunSettings,
    store: Store,
    first: dt.date,
    last: dt.date,
    log: Log,
    only: Sequence[str] | None = None,
) -> LoadResult:
    """Every account's mentions created on days first..last, each account read once."""
    with (
        explained(session, store, log, only, first, last, MENTIONS_INSIGHTS),
        run_archive(settings, store, MENTIONS_INSIGHTS, first, last, log) as recorder,
    ):
        return _load(session, settings, store, first, last, log, only, recorder)


def _load(
    session: XSession,
    settings: RunSettings,
    store: Store,
    first: dt.date,
    last: dt.date,
    log: Log,
    only: Sequence[str] | None,
    recorder: RunArchive,
) -> LoadResult:
    caller = new_caller(settings, log, recorder)
    states, first_resolutions = open_accounts(session, store, log, only, caller)
    budget = ReadBudget(settings.max_post_reads)
    today = utc_now().date()
    # a protected account's mentions are others' public posts: readable like anyone's
    readable = [s for s in states if s.account_id is not None and s.status in (OK, PROTECTED)]
    for state in readable:
        state.status, state.detail = OK, ""
    ids = [s.account_id or "" for s in readable]
    by_ages = settings.refresh_policy in INCREMENTAL_POLICIES  # no history of mentions: adaptive as ages
    stored = (
        _stored_mentions(store, log, ids, first, last, today, settings.refresh_ages)
        if by_ages
        else StoredMentions({}, {})
    )

    def read_one(state: AccountState) -> MentionsOutcome | None:
        try:
            account_id = state.account_id or ""
            outcome = read_mentions(
                session, settings, state, first, last, budget, stored.newest.get(account_id), caller
            )
            if state.status == OK and stored.due.get(account_id):
                refresh_mentions(session, caller, state, outcome, stored.due[account_id], budget)
            return outcome
        except XCredentialsRefusedError as exc:
            if session.client_for(state.spec).scope.label == DEFAULT_SCOPE:
                raise
            state.fail(REFUSED, str(exc))
        except XTransientError as exc:
            state.fail(FAILED, str(exc))
            log.warning(f"{state.label}: failed after retries; its stored rows are kept: {exc}")
        return None

    with ThreadPoolExecutor(max_workers=max(1, settings.max_workers), thread_name_prefix="x-mentions") as pool:
        try:
            outcomes = list(pool.map(read_one, readable))
        except BaseException:
            caller.stop()
            raise
    done = [(s, o) for s, o in zip(readable, outcomes, strict=True) if o is not None and s.status == OK]
    incomplete = {}
    for state, outcome in done:
        if outcome.incomplete_days:
            incomplete[state.spec.key] = (outcome.incomplete_days, outcome.incomplete_reason)
            log.warning(
                f"{state.label}: mentions of {outcome.incomplete_days[0]}..{outcome.incomplete_days[-1]}: "
                f"{outcome.incomplete_reason}; loaded what could be read, days marked incomplete"
            )
    rows = [o.rows for _, o in done if o.rows.height]
    # X bills a post (and a user) once a UTC day; an account's own mentions read as itself are owned reads
    owned = _unique([o.read_ids for _, o in done if o.owned])
    read = _unique([o.read_ids for _, o in done if not o.owned])
    read = read.filter(~read.is_in(owned.implode()))
    authors = {a for _, o in done for a in o.author_ids}
    write = Write(
        table=store.table(MENTIONS_INSIGHTS_TABLE),
        status_table=store.table(ACCOUNT_STATUS_TABLE),
        rows=pl.concat(rows) if rows else MENTIONS_INSIGHTS_TABLE.empty_frame(),
        days=(first, last),
        slices=[o.slice for _, o in done if o.slice is not None],
        statuses=status_frame(states, days_in(first, last), MENTIONS_INSIGHTS, incomplete),
        endpoint=MENTIONS_INSIGHTS,
        first_resolutions=first_resolutions,
        key_column="tweet_id",
        delete_keys=[k for _, o in done for k in o.delete_keys],
        reads=Reads(today, read, owned, {*looked_up(states), *authors}),
    )
    written = write_once(store, log, session, write)
    recorder.forget(write.delete_keys)  # a post deleted on X is kept nowhere, the archive included
    warn_unreadable(states, log)
    result = LoadResult(
        MENTIONS_INSIGHTS,
        (first, last),
        states,
        written,
        caller.stats,
        settings.post_read_usd,
        settings.user_read_usd,
        post_reads=read.len(),
        rows_per_day=write.rows_per_day,
        post_reads_per_day=per_creation_day(read, first, last),
        owned_reads=owned.len(),
        owned_usd=settings.owned_read_usd,
        owned_reads_per_day=per_creation_day(owned, first, last),
        incomplete={k: v[0] for k, v in incomplete.items()},
        preview=write.rows.head(5) if isinstance(write.rows, pl.DataFrame) else None,
        author_reads=len(authors),
        billed=write.billed,
    )
    log.info(
        f"mentions_insights {first}..{last}: {written} mention(s) of {len(done)} of {len(states)} account(s), "
        f"{sum(caller.stats.requests.values())} request(s), {result.post_reads + result.owned_reads} post read(s), "
        f"{result.user_reads} user read(s), about ${result.estimated_usd:,.3f} at the configured prices"
    )
    return result


def _unique(series: list[pl.Series]) -> pl.Series:
    return pl.concat(series).unique() if series else pl.Series("id", [], pl.String)
