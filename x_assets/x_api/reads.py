"""The reads the assets make: users in batches of 100, timeline pages, posts by id."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any, TypeVar

import requests

from ..clock import utc_now
from .calls import Caller
from .client import XClient
from .payloads import Page, parse_page

USER_FIELDS = ["created_at", "protected", "public_metrics"]
TWEET_FIELDS = [
    "author_id",
    "created_at",
    "lang",
    "note_tweet",
    "public_metrics",
    "referenced_tweets",
    "in_reply_to_user_id",
]
EXPANSIONS = ["referenced_tweets.id"]
MENTION_FIELDS = [*TWEET_FIELDS]  # author_id included: the author's handle comes from includes.users
MENTION_EXPANSIONS = ["author_id"]
PAGE_SIZE = 100
LOOKUP_BATCH = 100
MIN_PAGE = 5
READS_PER_POST = 3  # a post, plus up to two referenced posts in includes (a quote-reply)
EARLIEST_START = dt.datetime(2010, 11, 6, 0, 0, 1, tzinfo=dt.UTC)
T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


class BudgetExhaustedError(Exception):
    """The run's post-read budget would be exceeded by the next request."""


class ReadBudget:
    """A per-run cap on billable post reads, shared by all workers; never exceeded."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.used = 0
        self._reserved = 0
        self._lock = threading.Lock()

    def take(self, wanted_posts: int, at_least: int, label: str) -> int:
        """Reserve room for a request of up to wanted_posts; returns how many to ask for.

        Raises BudgetExhaustedError when not even at_least posts fit.
        """
        with self._lock:
            if self.limit is None:
                self._reserved += wanted_posts * READS_PER_POST
                return wanted_posts
            room = (self.limit - self.used - self._reserved) // READS_PER_POST
            size = min(wanted_posts, room)
            if size < at_least:
                raise BudgetExhaustedError(f"{label}: post-read budget reached")
            self._reserved += size * READS_PER_POST
            return size

    def settle(self, page_size: int, reads: int) -> None:
        with self._lock:
            self._reserved -= page_size * READS_PER_POST
            self.used += reads


def _page_of(
    caller: Caller, kind: str, request: Callable[[], requests.Response], others: bool = False
) -> Callable[[], Page]:
    """Parsing happens inside the call, so a truncated body is retried like any transient fault; an
    answer that parsed is handed to the run's recorder (the raw archive), once."""

    def page() -> Page:
        response = request()
        parsed = parse_page(response.content, others)
        if caller.recorder is not None:
            caller.recorder.record(kind, response, parsed.fetched_at)
        return parsed

    return page


def _json_of(
    caller: Caller, kind: str, request: Callable[[], requests.Response]
) -> Callable[[], tuple[dict[str, Any], dt.datetime]]:
    """A JSON answer and when it came (the time the archive keeps with it, and the rows carry)."""

    def body() -> tuple[dict[str, Any], dt.datetime]:
        response = request()
        parsed: dict[str, Any] = response.json()
        fetched_at = utc_now()
        if caller.recorder is not None:
            caller.recorder.record(kind, response, fetched_at)
        return parsed, fetched_at

    return body


def _budgeted(
    caller: Caller,
    client: XClient,
    endpoint: str,
    what: str,
    request: Callable[[], requests.Response],
    budget: ReadBudget,
    size: int,
    others: bool = False,
    kind: str = "timeline",
) -> Page:
    """One page read against the room reserved for it; what it returned is then counted as spent."""
    try:
        page = caller.call(client, endpoint, what, _page_of(caller, kind, request, others))
    except BaseException:
        budget.settle(size, 0)
        raise
    budget.settle(size, page.post_reads if budget.limit is not None else 0)  # counting costs; only if capped
    return page


def lookup_users(
    caller: Caller, client: XClient, *, ids: list[str] | None = None, usernames: list[str] | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dt.datetime]:
    """Users and per-user errors, 100 per request, and when the last answer came."""
    users: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    fetched_at = utc_now()
    key, values, endpoint = ("ids", ids, "GET /2/users") if ids else ("usernames", usernames, "GET /2/users/by")
    for batch in chunks(list(values or []), LOOKUP_BATCH):
        request = partial(
            client.tweepy_client.get_users, **{key: batch}, user_fields=USER_FIELDS, user_auth=client.user_auth
        )
        body, fetched_at = caller.call(
            client, endpoint, f"looking up {len(batch)} account(s) by {key}", _json_of(caller, "users", request)
        )
        users.extend(body.get("data") or [])
        errors.extend(body.get("errors") or [])
    return users, errors, fetched_at


def _pages(
    caller: Caller,
    client: XClient,
    endpoint: str,
    what: str,
    request_for: Callable[[int, str | None], Callable[[], requests.Response]],
    budget: ReadBudget | None,
    label: str,
    at_least: int = MIN_PAGE,
    others: bool = False,
    kind: str = "timeline",
) -> Iterator[Page]:
    """Page after page of a paginated read, each sized to the budget's room, until X gives no
    next_token (or an empty page). request_for(size, token) makes one page's request; others: the
    pages hold posts by others, with their authors."""
    budget = budget or ReadBudget(None)
    token: str | None = None
    page_no = 0
    while True:
        page_no += 1
        size = budget.take(PAGE_SIZE, at_least=at_least, label=label)
        what_page = f"{label}: {what} (page {page_no})"
        page = _budgeted(caller, client, endpoint, what_page, request_for(size, token), budget, size, others, kind)
        yield page
        token = page.next_token
        if not token or not page.count:
            return


def timeline_pages(
    caller: Caller,
    client: XClient,
    account_id: str,
    label: str,
    start: dt.datetime,
    end: dt.datetime | None,
    since_id: str | None = None,
    budget: ReadBudget | None = None,
) -> Iterator[Page]:
    """Pages of the account's posts in [start, end] (end None: up to now), newest first.

    With since_id, only posts newer than it (X lets since_id override start_time).
    Raises BudgetExhaustedError when the next page would overspend the budget.
    """

    def request_for(size: int, token: str | None) -> Callable[[], requests.Response]:
        return partial(
            client.tweepy_client.get_users_tweets,
            account_id,
            max_results=size,
            start_time=None if since_id else max(start, EARLIEST_START),
            since_id=since_id,
            end_time=end,
            pagination_token=token,
            tweet_fields=TWEET_FIELDS,
            expansions=EXPANSIONS,
            user_auth=client.user_auth,
        )

    return _pages(caller, client, "GET /2/users/:id/tweets", "reading posts", request_for, budget, label)


def tweets_by_ids(
    caller: Caller,
    client: XClient,
    ids: list[str],
    label: str,
    budget: ReadBudget | None = None,
    authors: bool = False,
) -> Iterator[Page]:
    """The posts with these ids, 100 per request (deleted ones come back as errors); with authors,
    as mentions are read: the authors' handles in includes instead of the referenced posts."""
    budget = budget or ReadBudget(None)
    for batch in chunks(ids, LOOKUP_BATCH):
        size = budget.take(len(batch), at_least=len(batch), label=label)
        request = partial(
            client.tweepy_client.get_tweets,
            batch,
            tweet_fields=MENTION_FIELDS if authors else TWEET_FIELDS,
            expansions=MENTION_EXPANSIONS if authors else EXPANSIONS,
            user_fields=["username"] if authors else None,
            user_auth=client.user_auth,
        )
        what = f"{label}: refreshing {len(batch)} post(s)"
        yield _budgeted(caller, client, "GET /2/tweets", what, request, budget, size, authors, "by_ids")


PRIVATE_FIELDS = ["non_public_metrics", "organic_metrics"]


def private_metrics(caller: Caller, client: XClient, ids: list[str], label: str) -> list[dict[str, Any]]:
    """Author-only metrics of the account's own posts, 100 per request, with its own user context.

    A separate lookup, not a field of the timeline read: asked on a timeline, X leaves out every
    post older than 30 days and every referenced post by someone else (a retweet's original).
    """
    posts: list[dict[str, Any]] = []
    for batch in chunks(ids, LOOKUP_BATCH):
        request = partial(client.tweepy_client.get_tweets, batch, tweet_fields=PRIVATE_FIELDS, user_auth=True)
        what = f"{label}: owned metrics of {len(batch)} post(s)"
        body, _ = caller.call(client, "GET /2/tweets", what, _json_of(caller, "private", request))
        posts.extend(body.get("data") or [])
    return posts


def mention_pages(
    caller: Caller,
    client: XClient,
    account_id: str,
    label: str,
    start: dt.datetime,
    since_id: str | None = None,
    budget: ReadBudget | None = None,
) -> Iterator[Page]:
    """Pages of the posts that mention the account, from start (or after since_id) up to now, newest
    first. Always up to now: X serves only the 800 most recent mentions, so the count read up to now
    is what tells whether the window's start was still within reach."""

    def request_for(size: int, token: str | None) -> Callable[[], requests.Response]:
        return partial(
            client.tweepy_client.get_users_mentions,
            account_id,
            max_results=size,
            start_time=None if since_id else max(start, EARLIEST_START),
            since_id=since_id,
            pagination_token=token,
            tweet_fields=MENTION_FIELDS,
            expansions=MENTION_EXPANSIONS,
            user_fields=["username"],
            user_auth=client.user_auth,
        )

    endpoint = "GET /2/users/:id/mentions"
    what = "reading mentions"
    return _pages(caller, client, endpoint, what, request_for, budget, label, others=True, kind="mentions")


def search_pages(
    caller: Caller,
    client: XClient,
    query: str,
    label: str,
    start: dt.datetime,
    end: dt.datetime | None,
    since_id: str | None = None,
    budget: ReadBudget | None = None,
) -> Iterator[Page]:
    """Pages of recent search (the last 7 days) for the query in [start, end], newest first."""

    def request_for(size: int, token: str | None) -> Callable[[], requests.Response]:
        return partial(
            client.tweepy_client.search_recent_tweets,
            query,
            max_results=size,
            start_time=None if since_id else start,
            end_time=end,
            since_id=since_id,
            next_token=token,
            tweet_fields=MENTION_FIELDS,
            expansions=MENTION_EXPANSIONS,
            user_fields=["username"],
            user_auth=client.user_auth,
        )

    # recent search pages hold 10 to 100 posts
    endpoint = "GET /2/tweets/search/recent"
    return _pages(caller, client, endpoint, "searching", request_for, budget, label, 10, others=True, kind="search")


def probe_older_posts(caller: Caller, client: XClient, account_id: str, label: str, before: dt.datetime) -> bool:
    """Does the timeline still reach posts older than `before`? (The 3,200-post horizon.)"""
    request = partial(
        client.tweepy_client.get_users_tweets,
        account_id,
        max_results=MIN_PAGE,
        end_time=before - dt.timedelta(seconds=1),
        user_auth=client.user_auth,
    )
    page = caller.call(
        client,
        "GET /2/users/:id/tweets",
        f"{label}: checking the 3,200-post horizon",
        _page_of(caller, "probe", request),
    )
    return bool(page.count)
