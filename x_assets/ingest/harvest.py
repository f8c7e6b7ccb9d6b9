"""What one run reads from X, account by account, with every account's outcome recorded.

An account that is suspended, missing, protected or refused never fails the others;
an account whose calls keep failing is reported, and its stored rows are left alone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from ..warehouse.store import Slice
from ..x_api.calls import Caller, XCredentialsRefusedError, XTransientError
from ..x_api.client import XClient
from ..x_api.payloads import Page, posts_of
from ..x_api.reads import (
    LOOKUP_BATCH,
    BudgetExhaustedError,
    ReadBudget,
    chunks,
    lookup_users,
    private_metrics,
    probe_older_posts,
    timeline_pages,
    tweets_by_ids,
)
from .session import XSession
from .source import AccountSpec
from .transform import AccountPosts, PendingPosts, private_frame

OK, PROTECTED, SUSPENDED, NOT_FOUND = "ok", "protected", "suspended", "not_found"
REFUSED, FAILED, INCOMPLETE = "credentials_refused", "failed", "incomplete"
TIMELINE_HORIZON = 3200
HORIZON_REASON = "beyond the 3,200 most recent posts X lets a timeline reach"
BUDGET_REASON = "not read: the run's post-read budget was reached"


@dataclass
class AccountState:
    spec: AccountSpec
    account_id: str | None = None
    username: str | None = None  # as X spells it now, once looked up
    user: dict[str, Any] | None = None
    fetched_at: dt.datetime | None = None
    status: str = OK
    detail: str = ""

    @property
    def display_username(self) -> str:
        return self.username or self.spec.username or ""

    @property
    def account_name(self) -> str:
        return self.spec.name or self.display_username or str(self.account_id)

    @property
    def label(self) -> str:
        return f"@{self.display_username}" if self.display_username else f"id {self.account_id}"

    def fail(self, status: str, detail: str) -> None:
        self.status, self.detail = status, detail


def error_status(error: dict[str, Any]) -> tuple[str, str]:
    problem = str(error.get("type", ""))
    detail = str(error.get("detail") or error.get("title") or "unavailable")
    if "suspended" in detail.lower():
        return SUSPENDED, detail
    if problem.endswith("/not-authorized-for-resource"):
        return PROTECTED, detail
    return NOT_FOUND, detail  # resource-not-found, and anything X may add: the account cannot be read


# Lookups of 100 accounts each sent at once: 10,000 accounts are 100 requests, the run's first ones.
LOOKUP_WORKERS = 8


def resolve_accounts(
    session: XSession,
    accounts: Iterable[AccountSpec],
    registry: dict[str, str],
    caller: Caller,
) -> tuple[list[AccountState], dict[str, tuple[str, str]]]:
    """Look every account up (by stored id once known), 100 per request and scope.

    Returns each account's state and the handles resolved for the first time.
    """
    states = [AccountState(spec=a, account_id=a.account_id or registry.get(a.key)) for a in accounts]
    by_scope: dict[str, list[AccountState]] = defaultdict(list)
    for state in states:
        by_scope[session.scope_of[state.spec.key]].append(state)
    first_resolutions: dict[str, tuple[str, str]] = {}
    for scope, scoped in by_scope.items():
        client = session.clients[scope]
        by_name = [s for s in scoped if s.account_id is None]
        by_id = [s for s in scoped if s.account_id is not None]
        _lookup(caller, client, by_name, "usernames", lambda s: s.spec.username or "")
        _lookup(caller, client, by_id, "ids", lambda s: str(s.account_id))
        for state in by_name:
            if state.account_id is not None and state.username is not None:
                first_resolutions[state.spec.key] = (state.account_id, state.username)
    return states, first_resolutions


def _lookup(caller: Caller, client: XClient, states: list[AccountState], key: str, ident: Any) -> None:
    """The batches of 100 at once: a run's first requests, before any timeline can be read."""
    batches = list(chunks(states, LOOKUP_BATCH))
    if len(batches) <= 1:
        for batch in batches:
            _lookup_batch(caller, client, batch, key, ident)
        return
    with ThreadPoolExecutor(max_workers=min(LOOKUP_WORKERS, len(batches)), thread_name_prefix="x-lookup") as pool:
        for future in [pool.submit(_lookup_batch, caller, client, batch, key, ident) for batch in batches]:
            future.result()  # the default credentials refused: raised here, as before


def _lookup_batch(caller: Caller, client: XClient, batch: list[AccountState], key: str, ident: Any) -> None:
    values = [ident(s) for s in batch]
    try:
        if key == "ids":
            users, errors, fetched_at = lookup_users(caller, client, ids=values)
        else:
            users, errors, fetched_at = lookup_users(caller, client, usernames=values)
    except XCredentialsRefusedError as exc:
        if client.scope.label == "default":
            raise
        for state in batch:
            state.fail(REFUSED, str(exc))
        return
    except XTransientError as exc:
        for state in batch:
            state.fail(FAILED, str(exc))
        return
    # handles are case-insensitive on X, so match them case-insensitively
    found = {(u["id"] if key == "ids" else u["username"]).lower(): u for u in users}
    problems = {str(e.get("value", "")).lower(): e for e in errors}
    for state, value in zip(batch, values, strict=True):
        user = found.get(value.lower())
        if user is None:
            error = problems.get(value.lower(), {"detail": "X returned neither the account nor an error"})
            state.fail(*error_status(error))
            continue
        state.user, state.fetched_at = user, fetched_at
        state.account_id, state.username = user["id"], user["username"]
        if user.get("protected"):
            # the lookup cannot tell whether an account's own credentials may read its timeline
            posts = (
                "posts readable only with its own credentials, which a run tries"
                if state.spec.credentials
                else "posts are not"
            )
            state.fail(PROTECTED, f"protected account: profile metrics are public, {posts}")


@dataclass
class PostsOutcome:
    posts: AccountPosts | PendingPosts  # rows to be: tweets_frame_many turns several accounts' into rows at once
    slice: Slice | None = None  # the days read completely; stored rows there are replaced
    pages: int = 0
    read_ids: pl.Series = field(default_factory=lambda: pl.Series("id", [], dtype=pl.String))  # X bills each once a day
    incomplete_days: list[dt.date] = field(default_factory=list)
    incomplete_reason: str = ""
    delete_keys: list[str] = field(default_factory=list)  # posts X reports as gone
    owned_ids: pl.Series = field(default_factory=lambda: pl.Series("id", [], dtype=pl.String))  # billed as owned


# X serves author-only metrics for posts of the last 30 days; a day's margin keeps a post that
# crosses the limit during the run from being refused.
OWNED_METRICS_DAYS = 29


def is_owned(client: XClient, state: AccountState) -> bool:
    """Read with the account's own user context: its own posts' private metrics are readable, and
    X bills its timeline as owned reads."""
    return state.account_id is not None and client.scope.owner_id == state.account_id


def add_owned_metrics(
    caller: Caller, client: XClient, state: AccountState, outcomes: list[PostsOutcome], now: dt.datetime
) -> None:
    """With the account's own credentials: its recent posts' private metrics, joined to their rows.
    The same posts were read moments ago, on the same UTC day: X does not bill them again."""
    recent = (now - dt.timedelta(days=OWNED_METRICS_DAYS)).strftime("%Y-%m-%dT%H:%M:%S")
    for outcome in outcomes:
        assert isinstance(outcome.posts, AccountPosts)  # read_posts explodes an owned account's pages at once
        data = outcome.posts.data
        if not data.height:
            continue
        own = data.filter(
            (pl.col("created_at") >= recent)
            & ~pl.col("referenced_tweets")
            .list.eval(pl.element().struct.field("type") == "retweeted")
            .list.any()
            .fill_null(False)
        )
        ids = own.get_column("id").unique(maintain_order=True).to_list()
        if ids:
            posts = private_metrics(caller, client, ids, state.label)
            outcome.posts = replace(outcome.posts, private=private_frame(posts))


def read_posts(
    caller: Caller,
    client: XClient,
    state: AccountState,
    first: dt.date,
    last: dt.date,
    now: dt.datetime,
    budget: ReadBudget,
    since_id: str | None = None,
) -> PostsOutcome:
    """The account's posts created on days first..last; with since_id, only the newer ones."""
    assert state.account_id is not None
    start = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
    end = dt.datetime.combine(last, dt.time(23, 59, 59), tzinfo=dt.UTC)
    # A window that reaches (nearly) today is read up to now: then the post count alone tells
    # whether the horizon cut it. Older windows are bounded and checked with a small probe.
    open_ended = end >= now - dt.timedelta(days=1)
    pages: list[Page] = []
    budget_stopped = False
    try:
        for page in timeline_pages(
            caller, client, state.account_id, state.label, start, None if open_ended else end, since_id, budget
        ):
            if not page.count and page.errors and not pages:
                state.fail(*error_status(page.errors[0]))
                return PostsOutcome(_account_posts(state, posts_of([])))
            pages.append(page)
    except BudgetExhaustedError:
        budget_stopped = True
    timeline_posts = sum(p.count for p in pages)
    tweet_count = ((state.user or {}).get("public_metrics") or {}).get("tweet_count") or 0

    @functools.cache
    def horizon_cut() -> bool:
        """Whether X's 3,200-post horizon cut the window short."""
        if open_ended:
            return timeline_posts >= TIMELINE_HORIZON
        if tweet_count > TIMELINE_HORIZON:
            return not probe_older_posts(caller, client, state.account_id or "", state.label, start)
        return False

    if not budget_stopped and not is_owned(client, state):
        # The common case, read whole: its pages are exploded later with other accounts' (the
        # stager counts what X bills of them).
        pending = PendingPosts(tuple(pages), first, last, state.account_id, state.display_username, state.account_name)
        if since_id is not None:
            return PostsOutcome(pending, pages=len(pages))
        if not horizon_cut():
            return PostsOutcome(pending, slice=Slice(state.account_id, first, last), pages=len(pages))
    data, included = posts_of(pages)
    read_ids = _read_ids((data, included))
    pages_data_ids = data.get_column("id")
    # created_at is X's UTC ISO time ("2026-10-09T23:43:06.000Z"): its first ten characters are the UTC day
    day = pl.col("created_at").str.slice(0, 10)
    data = data.filter(day.is_between(pl.lit(first.isoformat()), pl.lit(last.isoformat())))
    outcome = PostsOutcome(_account_posts(state, (data, included)), pages=len(pages), read_ids=read_ids)
    if is_owned(client, state):  # its own timeline, read as itself: X bills the posts of data as owned reads
        outcome.owned_ids = pages_data_ids

    if since_id is not None:
        if budget_stopped:  # a gap after since_id would be skipped for good: write none of it
            outcome.posts = _account_posts(state, posts_of([]))
            outcome.incomplete_days, outcome.incomplete_reason = days_in(first, last), BUDGET_REASON
        return outcome
    cut = not budget_stopped and horizon_cut()
    if not (cut or budget_stopped):
        outcome.slice = Slice(state.account_id, first, last)
        return outcome
    # Posts come newest first: the days after the oldest one read are complete, that day only partly.
    oldest = dt.date.fromisoformat(str(data.select(day.min()).item())) if data.height else None
    complete_from = oldest + dt.timedelta(days=1) if oldest else last + dt.timedelta(days=1)
    if complete_from <= last:
        outcome.slice = Slice(state.account_id, complete_from, last)
    outcome.incomplete_days = [d for d in days_in(first, last) if d < complete_from]
    outcome.incomplete_reason = BUDGET_REASON if budget_stopped else HORIZON_REASON
    return outcome


def refresh_posts(
    caller: Caller, client: XClient, state: AccountState, ids: list[str], budget: ReadBudget
) -> PostsOutcome:
    """Re-read stored posts by id (the refresh-by-age policy); gone ones are to be deleted."""
    assert state.account_id is not None
    pages, gone = reread_by_ids(caller, client, ids, state.label, budget)
    posts = posts_of(pages)
    return PostsOutcome(_account_posts(state, posts), pages=len(pages), read_ids=_read_ids(posts), delete_keys=gone)


def reread_by_ids(
    caller: Caller, client: XClient, ids: list[str], label: str, budget: ReadBudget, authors: bool = False
) -> tuple[list[Page], list[str]]:
    """Stored posts read again by id (the 'ages' policy): the pages, and the ids X reports gone.
    The budget may stop it early: what was not re-read keeps its stored numbers."""
    pages: list[Page] = []
    with contextlib.suppress(BudgetExhaustedError):
        pages.extend(tweets_by_ids(caller, client, ids, label, budget, authors=authors))
    gone = [
        str(e.get("value"))
        for p in pages
        for e in p.errors
        if e.get("parameter") == "ids" and str(e.get("type", "")).endswith("/resource-not-found")
    ]
    return pages, gone


def _account_posts(state: AccountState, posts: tuple[pl.DataFrame, pl.DataFrame]) -> AccountPosts:
    return AccountPosts(posts[0], posts[1], state.account_id or "", state.display_username, state.account_name)


def _read_ids(posts: tuple[pl.DataFrame, pl.DataFrame]) -> pl.Series:
    """Every post the answers returned, in data or includes: what X bills."""
    return pl.concat([posts[0].get_column("id"), posts[1].get_column("id")])


def days_in(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
