"""One asset run end to end: read from X, write one transaction, report what happened.

The Dagster assets and the command line both call these functions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import polars as pl

from .constants import ACCOUNT_INSIGHTS, TWEET_INSIGHTS
from .harvest import FAILED, INCOMPLETE, OK, PROTECTED, REFUSED, AccountState, read_posts, resolve_accounts
from .resources import DEFAULT_SCOPE, XResource, XSession
from .source import AccountSpec
from .tables import ACCOUNT_INSIGHTS_TABLE, ACCOUNT_STATUS_TABLE, TWEET_INSIGHTS_TABLE, Table, with_default_schema
from .transform import accounts_frame
from .warehouse import Log, Warehouse, ensure_table, read_registry, remember_resolutions, replace_slice, transaction
from .x_api.calls import Caller, CallStats, XCredentialsRefusedError, XTransientError

POST_READ_USD = 0.005
USER_READ_USD = 0.010


class PastObservationError(ValueError):
    """account_insights can only observe the present: X keeps no history of profile metrics."""


@dataclass
class LoadResult:
    endpoint: str
    days: tuple[dt.date, dt.date]
    states: list[AccountState]
    rows_written: int
    stats: CallStats
    posts_read: int = 0
    users_read: int = 0
    incomplete: dict[str, list[dt.date]] = field(default_factory=dict)
    preview: pl.DataFrame | None = None

    @property
    def failed(self) -> list[AccountState]:
        return [s for s in self.states if s.status == FAILED]

    def metadata(self) -> dict[str, Any]:
        first, last = self.days
        states = [
            {"account": s.label, "account_id": s.account_id, "status": s.status, "detail": s.detail}
            for s in self.states
        ]
        usd = self.posts_read * POST_READ_USD + self.users_read * USER_READ_USD
        return {
            "dagster/row_count": self.rows_written,
            "days": f"{first}..{last}" if first != last else str(first),
            "accounts": len(self.states),
            "accounts_loaded": sum(s.status in (OK, PROTECTED) for s in self.states),
            "account_states": states,
            "requests": dict(self.stats.requests),
            "requests_total": sum(self.stats.requests.values()),
            "retries": self.stats.retries,
            "rate_limit_waits": self.stats.rate_limit_waits,
            "rate_limit_wait_seconds": round(self.stats.rate_limit_wait_seconds, 3),
            "post_reads": self.posts_read,
            "user_reads": self.users_read,
            "estimated_usd": round(usd, 4),
            "incomplete_days": {k: [str(d) for d in v] for k, v in self.incomplete.items()},
        }


def days_in(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def select_accounts(session: XSession, only: Sequence[str] | None, log: Log) -> list[AccountSpec]:
    accounts = list(session.source.accounts)
    if not only:
        return accounts
    wanted = set(only)
    unknown = wanted - {a.key for a in accounts}
    if unknown:
        log.warning(f"accounts {sorted(unknown)} are no longer in the source file; skipped")
    return [a for a in accounts if a.key in wanted]


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
    incomplete: dict[str, list[dt.date]] | None = None,
) -> pl.DataFrame:
    rows = []
    for state in states:
        cut = set((incomplete or {}).get(state.spec.key, []))
        for day in days:
            status, detail = state.status, state.detail
            if day in cut and status == OK:
                status, detail = INCOMPLETE, "beyond the 3,200 most recent posts X lets a timeline reach"
            rows.append(
                {
                    "date": day,
                    "account_id": state.account_id,
                    "username": state.display_username,
                    "account_name": state.account_name,
                    "endpoint": endpoint,
                    "status": status,
                    "detail": detail,
                }
            )
    return pl.DataFrame(rows, schema=ACCOUNT_STATUS_TABLE.polars_schema())


def _replace_statuses(
    conn: duckdb.DuckDBPyConnection, frame: pl.DataFrame, days: tuple[dt.date, dt.date], endpoint: str
) -> None:
    conn.register("_statuses", frame.to_arrow())
    try:
        conn.execute(
            f"DELETE FROM {ACCOUNT_STATUS_TABLE.qualified} AS s WHERE s.endpoint = ? AND s.date BETWEEN ? AND ? "
            "AND EXISTS (SELECT 1 FROM _statuses AS i WHERE i.account_id = s.account_id "
            "OR (i.account_id IS NULL AND s.account_id IS NULL AND i.username = s.username))",
            [endpoint, days[0], days[1]],
        )
        conn.execute(f"INSERT INTO {ACCOUNT_STATUS_TABLE.qualified} BY NAME SELECT * FROM _statuses")
    finally:
        conn.unregister("_statuses")


def _write(
    warehouse: Warehouse,
    log: Log,
    session: XSession,
    table: Table,
    frame: pl.DataFrame,
    days: tuple[dt.date, dt.date],
    read_ids: list[str],
    statuses: pl.DataFrame,
    endpoint: str,
    first_resolutions: dict[str, tuple[str, str]],
) -> int:
    extra = session.source.default_schema
    frame = with_default_schema(frame, extra)
    statuses = with_default_schema(statuses, extra)
    with warehouse.connect(log) as conn, transaction(conn):
        for t in (table, ACCOUNT_STATUS_TABLE):
            ensure_table(conn, t, extra)
        written = replace_slice(conn, table, frame, days, read_ids)
        _replace_statuses(conn, statuses, days, endpoint)
        remember_resolutions(conn, first_resolutions)
    return written


def _open(
    x: XResource, warehouse: Warehouse, log: Log, only: Sequence[str] | None, caller: Caller
) -> tuple[XSession, list[AccountState], dict[str, tuple[str, str]]]:
    session = x.open()
    accounts = select_accounts(session, only, log)
    with warehouse.connect(log) as conn:
        registry = read_registry(conn)
    states, first = resolve_accounts(session, accounts, registry, caller)
    return session, states, first


def _users_read(states: Sequence[AccountState]) -> int:
    return sum(s.user is not None for s in states)


def load_account_insights(
    x: XResource,
    warehouse: Warehouse,
    first: dt.date,
    last: dt.date,
    log: Log,
    only: Sequence[str] | None = None,
    today: dt.date | None = None,
) -> LoadResult:
    """Snapshot every account's profile metrics under the days first..last (yesterday or today)."""
    check_observable(first, last, today or dt.datetime.now(dt.UTC).date())
    stats = CallStats()
    caller = Caller(x.call_policy(), stats, log)
    session, states, first_resolutions = _open(x, warehouse, log, only, caller)
    observed = [s for s in states if s.user is not None]
    days = days_in(first, last)
    rows = [{"user": s.user, "account_name": s.account_name, "fetched_at": s.fetched_at} for s in observed]
    frame = pl.concat([accounts_frame(rows, day) for day in days])
    read_ids = [s.account_id for s in observed if s.account_id]
    statuses = status_frame(states, days, ACCOUNT_INSIGHTS)
    written = _write(
        warehouse,
        log,
        session,
        ACCOUNT_INSIGHTS_TABLE,
        frame,
        (first, last),
        read_ids,
        statuses,
        ACCOUNT_INSIGHTS,
        first_resolutions,
    )
    for state in states:
        if state.status not in (OK, PROTECTED):
            log.warning(f"{state.label}: {state.status}: {state.detail}")
    log.info(f"account_insights {first}..{last}: {written} row(s) for {len(observed)} of {len(states)} account(s)")
    return LoadResult(
        ACCOUNT_INSIGHTS, (first, last), states, written, stats, users_read=_users_read(states), preview=frame.head(5)
    )


def load_tweet_insights(
    x: XResource,
    warehouse: Warehouse,
    first: dt.date,
    last: dt.date,
    log: Log,
    only: Sequence[str] | None = None,
) -> LoadResult:
    """Every account's posts created on days first..last, each account's window read once."""
    stats = CallStats()
    caller = Caller(x.call_policy(), stats, log)
    session, states, first_resolutions = _open(x, warehouse, log, only, caller)
    now = dt.datetime.now(dt.UTC)
    frames: list[pl.DataFrame] = []
    read_ids: list[str] = []
    incomplete: dict[str, list[dt.date]] = {}
    posts_read = 0
    readable = [s for s in states if s.account_id is not None and s.status in (OK, PROTECTED)]
    for i, state in enumerate(readable, start=1):
        client = session.client_for(state.spec)
        state.status, state.detail = OK, ""  # the timeline decides whether a protected account is readable
        try:
            outcome = read_posts(caller, client, state, first, last, now)
        except XCredentialsRefusedError as exc:
            if client.scope.label == DEFAULT_SCOPE:
                raise
            state.fail(REFUSED, str(exc))
            continue
        except XTransientError as exc:
            state.fail(FAILED, str(exc))
            log.warning(f"{state.label}: failed after retries; its stored rows are kept: {exc}")
            continue
        if state.status != OK:
            log.info(f"account {i}/{len(readable)} {state.label}: {state.status}: {state.detail}")
            continue
        frames.append(outcome.frame)
        read_ids.append(state.account_id or "")
        posts_read += outcome.posts_read
        if outcome.incomplete_days:
            incomplete[state.spec.key] = outcome.incomplete_days
            log.warning(
                f"{state.label}: days {outcome.incomplete_days[0]}..{outcome.incomplete_days[-1]} lie beyond the "
                "3,200 most recent posts X lets a timeline reach; loaded what could be read, slice marked incomplete"
            )
        log.info(
            f"account {i}/{len(readable)} {state.label}: {outcome.frame.height} post(s) in "
            f"{outcome.pages} page(s), {sum(stats.requests.values())} request(s) so far"
        )
    frame = pl.concat(frames) if frames else TWEET_INSIGHTS_TABLE.empty_frame()
    statuses = status_frame(states, days_in(first, last), TWEET_INSIGHTS, incomplete)
    written = _write(
        warehouse,
        log,
        session,
        TWEET_INSIGHTS_TABLE,
        frame,
        (first, last),
        read_ids,
        statuses,
        TWEET_INSIGHTS,
        first_resolutions,
    )
    log.info(f"tweet_insights {first}..{last}: {written} post(s) for {len(read_ids)} of {len(states)} account(s)")
    return LoadResult(
        TWEET_INSIGHTS,
        (first, last),
        states,
        written,
        stats,
        posts_read=posts_read,
        users_read=_users_read(states),
        incomplete=incomplete,
        preview=frame.head(5),
    )
