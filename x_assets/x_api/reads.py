"""The reads the assets make: users in batches of 100, and timeline pages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from .calls import Caller
from .client import XClient

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
PAGE_SIZE = 100
LOOKUP_BATCH = 100
T = TypeVar("T")
EARLIEST_START = dt.datetime(2010, 11, 6, 0, 0, 1, tzinfo=dt.UTC)


def chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


def lookup_users(
    caller: Caller, client: XClient, *, ids: list[str] | None = None, usernames: list[str] | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Users and per-user errors, 100 per request."""
    users: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    key, values, endpoint = ("ids", ids, "GET /2/users") if ids else ("usernames", usernames, "GET /2/users/by")
    for batch in chunks(list(values or []), LOOKUP_BATCH):
        body = caller.call(
            client,
            endpoint,
            f"looking up {len(batch)} account(s) by {key}",
            partial(
                client.tweepy_client.get_users, **{key: batch}, user_fields=USER_FIELDS, user_auth=client.user_auth
            ),
        )
        users.extend(body.get("data") or [])
        errors.extend(body.get("errors") or [])
    return users, errors


@dataclass
class TimelinePage:
    body: dict[str, Any]
    fetched_at: dt.datetime


def timeline_pages(
    caller: Caller, client: XClient, account_id: str, label: str, start: dt.datetime, end: dt.datetime | None
) -> Iterator[TimelinePage]:
    """Pages of the account's posts created in [start, end] (end None: up to now), newest first."""
    token: str | None = None
    page_no = 0
    while True:
        page_no += 1
        body = caller.call(
            client,
            "GET /2/users/:id/tweets",
            f"{label}: reading posts (page {page_no})",
            partial(
                client.tweepy_client.get_users_tweets,
                account_id,
                max_results=PAGE_SIZE,
                start_time=max(start, EARLIEST_START),
                end_time=end,
                pagination_token=token,
                tweet_fields=TWEET_FIELDS,
                expansions=EXPANSIONS,
                user_auth=client.user_auth,
            ),
        )
        yield TimelinePage(body, dt.datetime.now(dt.UTC))
        token = (body.get("meta") or {}).get("next_token")
        if not token or not body.get("data"):
            return


def probe_older_posts(caller: Caller, client: XClient, account_id: str, label: str, before: dt.datetime) -> bool:
    """Does the timeline still reach posts older than `before`? (The 3,200-post horizon.)"""
    body = caller.call(
        client,
        "GET /2/users/:id/tweets",
        f"{label}: checking the 3,200-post horizon",
        partial(
            client.tweepy_client.get_users_tweets,
            account_id,
            max_results=5,
            end_time=before - dt.timedelta(seconds=1),
            user_auth=client.user_auth,
        ),
    )
    return bool(body.get("data"))
