"""X API answers as polars schemas: pages are parsed from raw bytes, column-wise.

polars.read_json with a fixed schema turns a 100-post page into columns several
times faster than json.loads plus a DataFrame built from dicts (see benchmarks/).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import polars as pl

from ..clock import utc_now

METRICS = ("retweet_count", "reply_count", "like_count", "quote_count", "bookmark_count", "impression_count")
TWEET_SCHEMA = pl.Struct(
    {
        "id": pl.String,
        "text": pl.String,
        "created_at": pl.String,
        "lang": pl.String,
        "public_metrics": pl.Struct({m: pl.Int64 for m in METRICS}),
        "referenced_tweets": pl.List(pl.Struct({"type": pl.String, "id": pl.String})),
        "note_tweet": pl.Struct({"text": pl.String}),
    }
)
# Of a referenced post, the table needs its id (and X bills for it) and its retweet count: the
# rest of it is tokenized but not kept, which parses a page about 15% faster.
INCLUDED_SCHEMA = pl.Struct({"id": pl.String, "public_metrics": pl.Struct({"retweet_count": pl.Int64})})
AUTHOR_SCHEMA = pl.Struct({"id": pl.String, "username": pl.String})  # includes.users, with expansions=author_id
ERROR_SCHEMA = pl.Struct(
    {k: pl.String for k in ("value", "detail", "title", "type", "parameter", "resource_id", "resource_type")}
)
BODY_SCHEMA = {
    "data": pl.List(TWEET_SCHEMA),
    "includes": pl.Struct({"tweets": pl.List(INCLUDED_SCHEMA)}),
    "errors": pl.List(ERROR_SCHEMA),
    "meta": pl.Struct({"result_count": pl.Int64, "next_token": pl.String}),
}
# Posts by others (mentions, search): their author too. A separate schema, so that reading an
# account's own timeline does not pay for columns it does not keep (about 12% of a page's parse).
OTHERS_BODY_SCHEMA = {
    **BODY_SCHEMA,
    "data": pl.List(pl.Struct({**TWEET_SCHEMA.to_schema(), "author_id": pl.String})),
    "includes": pl.Struct({"tweets": pl.List(INCLUDED_SCHEMA), "users": pl.List(AUTHOR_SCHEMA)}),
}
EMPTY_TWEETS = pl.DataFrame(schema=TWEET_SCHEMA.to_schema())
EMPTY_INCLUDED = pl.DataFrame(schema=INCLUDED_SCHEMA.to_schema())
UTC_TS = pl.Datetime("us", "UTC")
NEXT_TOKEN = re.compile(rb'"next_token"\s*:\s*"([^"\\]+)"')
RESULT_COUNT = re.compile(rb'"result_count"\s*:\s*(\d+)')


class MalformedResponseError(Exception):
    """The answer was not the JSON it should be (truncated, or not JSON at all)."""


@dataclass
class Page:
    """One answer holding posts (a timeline page or a lookup by ids), still one row of columns.

    Exploding the posts into rows is left to posts_of(), once for all of an account's pages:
    per page it would cost more than parsing the JSON.
    """

    body: pl.DataFrame  # one row: data, includes, errors, meta
    errors: list[dict[str, Any]]
    next_token: str | None
    fetched_at: dt.datetime
    result_count: int | None = None  # meta.result_count, when the answer has one

    @cached_property
    def count(self) -> int:
        """Posts in data."""
        if self.result_count is not None:
            return self.result_count
        return int(self.body.get_column("data").list.len().fill_null(0).item())

    @cached_property
    def user_ids(self) -> list[str]:
        """Users in includes (authors, with expansions=author_id): X bills each as a user read."""
        includes = self.body.get_column("includes")
        if "users" not in includes.struct.fields:  # an own timeline's page: no authors asked
            return []
        users = includes.struct.field("users").list.eval(pl.element().struct.field("id"))
        ids = users.item()
        return [] if ids is None else ids.to_list()

    @cached_property
    def post_reads(self) -> int:
        """Posts X bills for this answer: data and includes."""
        included = self.body.get_column("includes").struct.field("tweets").list.len().fill_null(0).item()
        return self.count + int(included)


def parse_page(content: bytes, others: bool = False) -> Page:
    """A page of posts; others: posts by others, with their authors (OTHERS_BODY_SCHEMA)."""
    fetched_at = utc_now()
    try:
        body = pl.read_json(content, schema=OTHERS_BODY_SCHEMA if others else BODY_SCHEMA)
    except Exception as exc:  # polars raises ComputeError and friends; the bytes are what is wrong
        raise MalformedResponseError(f"unreadable answer ({len(content)} bytes): {type(exc).__name__}") from None
    if body.height != 1:
        raise MalformedResponseError("the answer is not one JSON object")
    # Only meta and errors become Python objects, and only when present: the posts stay columns.
    # They are read off the bytes (quotes inside JSON strings are escaped, so they cannot be faked):
    # per page, polars selects would cost as much as the parse.
    # meta comes last in X's answers: search from its key, not through 75 KB of posts
    meta = content[max(0, content.rfind(b'"meta"')) :]
    token = NEXT_TOKEN.search(meta)
    result_count = RESULT_COUNT.search(meta)
    errors = body.get_column("errors").to_list()[0] if b'"errors"' in content else None
    return Page(
        body,
        list(errors or []),
        token.group(1).decode() if token else None,
        fetched_at,
        int(result_count.group(1)) if result_count else None,
    )


def posts_of(pages: list[Page]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """All posts of these pages (with fetched_at), and the referenced posts from includes."""
    return posts_of_many(pages, {})


def posts_of_many(pages: list[Page], per_page: dict[str, pl.Series]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """posts_of() for the pages of several accounts at once, each post carrying its page's columns
    in per_page (a value per page: the account, its window); the referenced posts carry them too."""
    if not pages:
        return EMPTY_TWEETS.with_columns(fetched_at=pl.lit(None, dtype=UTC_TS)), EMPTY_INCLUDED
    tags = list(per_page)
    # one concat, then one column for all pages: per-page with_columns costs more than parsing
    stacked = pl.concat([p.body for p in pages]).with_columns(
        pl.Series("fetched_at", [p.fetched_at for p in pages], dtype=UTC_TS), *per_page.values()
    )
    data = stacked.select("data", "fetched_at", *tags).explode("data").drop_nulls("data").unnest("data")
    included = (
        stacked.select(pl.col("includes").struct.field("tweets").alias("tweets"), *tags)
        .explode("tweets")
        .drop_nulls("tweets")
        .unnest("tweets")
    )
    return data, included


def authors_of(pages: list[Page]) -> pl.DataFrame:
    """The users of these pages' includes (id, username): the posts' authors, with expansions=author_id."""
    if not pages:
        return pl.DataFrame(schema=AUTHOR_SCHEMA.to_schema())
    users = pl.concat([p.body for p in pages]).select(pl.col("includes").struct.field("users").alias("users"))
    return users.explode("users").drop_nulls("users").unnest("users").unique("id", keep="first", maintain_order=True)


# X's ids are snowflakes: the top 42 bits count milliseconds since X's epoch, so an id tells the
# UTC day its post was created without another read.
TWITTER_EPOCH_MS = 1288834974657


def created_days(ids: pl.Series) -> pl.Series:
    """The UTC creation day of each post id (as a polars Date series)."""
    ms = (ids.cast(pl.UInt64) // (1 << 22)).cast(pl.Int64) + TWITTER_EPOCH_MS
    return ms.cast(pl.Datetime("ms", "UTC")).dt.date()
