"""API pages to table rows, column-wise in polars (no Python object per field)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from ..warehouse.tables import (
    ACCOUNT_INSIGHTS_TABLE,
    PRIVATE_METRIC_COLUMNS,
    TWEET_INSIGHTS_TABLE,
    UTC_TS,
    Table,
)
from ..x_api.payloads import METRICS, Page, posts_of_many

API_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.fZ"


def _referenced(kind: str) -> pl.Expr:
    """Whether the post references another this way; reads the "types" column _with_types adds."""
    return pl.col("types").list.contains(kind).fill_null(False)


@dataclass(frozen=True)
class AccountPosts:
    """One account's posts as read (see payloads.posts_of), waiting to become table rows."""

    data: pl.DataFrame
    included: pl.DataFrame
    account_id: str
    username: str
    account_name: str
    private: pl.DataFrame | None = None  # tweet_id and the owned-only columns (see private_frame)

    @property
    def count(self) -> int:
        return self.data.height


@dataclass(frozen=True)
class PendingPosts:
    """One account's timeline pages as read, not yet exploded into posts: the stager explodes a batch
    of accounts at once (for a one-page account, polars' fixed cost per call is most of the work:
    1.4 ms an account one by one, against 0.03 s for 500 together)."""

    pages: tuple[Page, ...]
    first: dt.date  # the posts kept: those created on days first..last (a page may cross the start)
    last: dt.date
    account_id: str
    username: str
    account_name: str

    @property
    def count(self) -> int:
        """Posts on the pages, before the days are applied."""
        return sum(p.count for p in self.pages)


def _exploded(pending: Sequence[PendingPosts]) -> tuple[pl.DataFrame, pl.DataFrame, pl.Series]:
    """The pending accounts' posts and referenced posts, each tagged with its account, exploded in
    one pass; and the ids of every post the pages returned (what X bills), before the days apply."""
    pages = [p for item in pending for p in item.pages]
    per_page = {
        name: pl.Series(name, [value(item) for item in pending for _ in item.pages], dtype=pl.String)
        for name, value in (
            ("account_id", lambda i: i.account_id),
            ("username", lambda i: i.username),
            ("account_name", lambda i: i.account_name),
            ("first_day", lambda i: i.first.isoformat()),
            ("last_day", lambda i: i.last.isoformat()),
        )
    }
    data, included = posts_of_many(pages, per_page)
    read = pl.concat([data.get_column("id"), included.get_column("id")])
    # created_at is X's UTC ISO time: its first ten characters are the UTC day
    day = pl.col("created_at").str.slice(0, 10)
    data = data.filter(day.is_between(pl.col("first_day"), pl.col("last_day"))).drop("first_day", "last_day")
    return data, included.drop("first_day", "last_day", "username", "account_name"), read


def _with_types(data: pl.DataFrame, each: Sequence[str] = ("id",)) -> pl.DataFrame:
    """Each post once (once per each), with its reference types as one list column, taken once
    (three list.eval passes cost more); _referenced reads it."""
    return data.unique(list(each), keep="first", maintain_order=True).with_columns(
        pl.col("referenced_tweets").list.eval(pl.element().struct.field("type")).alias("types")
    )


def _post_columns() -> list[pl.Expr]:
    """What every table of posts keeps of a post as read: day and time (UTC), id, full text,
    language, the three flags and the public counts as X gives them, and when X answered."""
    metric = pl.col("public_metrics").struct.field
    created_at = pl.col("created_at").str.strptime(UTC_TS, API_TIME_FORMAT)
    return [
        created_at.dt.date().alias("created_date"),
        pl.col("id").alias("tweet_id"),
        created_at.alias("created_at"),
        pl.coalesce(pl.col("note_tweet").struct.field("text"), pl.col("text")).alias("text"),
        pl.col("lang"),
        _referenced("retweeted").alias("is_retweet"),
        _referenced("quoted").alias("is_quote"),
        _referenced("replied_to").alias("is_reply"),
        *(metric(m).alias(m) for m in METRICS),
        pl.col("fetched_at"),
    ]


def tweets_frame_many(
    batch: Sequence[AccountPosts | PendingPosts], read_ids: list[pl.Series] | None = None
) -> pl.DataFrame:
    """tweet_insights rows for several accounts in one pass; read_ids, when given, receives the ids
    of every post the pending accounts' pages returned.

    polars pays a fixed cost per expression and frame: ten accounts of 2,500 posts transform
    about 2.4 times faster together than one by one (see benchmarks/).
    """
    items = [b for b in batch if isinstance(b, AccountPosts) and b.data.height]
    pending = [b for b in batch if isinstance(b, PendingPosts) and b.pages]
    parts = [
        b.data.with_columns(
            pl.lit(b.account_id).alias("account_id"),
            pl.lit(b.username).alias("username"),
            pl.lit(b.account_name).alias("account_name"),
        )
        for b in items
    ]
    # each account's originals as its own answers gave them (two accounts may read one at different times)
    originals = [b.included.with_columns(pl.lit(b.account_id).alias("account_id")) for b in items]
    if pending:
        data, included, read = _exploded(pending)
        parts.append(data)
        originals.append(included)
        if read_ids is not None:
            read_ids.append(read)
    if not parts or not sum(p.height for p in parts):
        return TWEET_INSIGHTS_TABLE.empty_frame()
    private = [b.private for b in items if b.private is not None and b.private.height]
    return tweet_rows(
        pl.concat(parts, how="diagonal"),
        pl.concat(originals, how="diagonal"),
        pl.concat(private).unique("tweet_id") if private else None,
    )


def tweet_rows(
    data: pl.DataFrame,
    included: pl.DataFrame,
    private: pl.DataFrame | None,
    by: Sequence[str] = ("account_id",),
    private_keys: Sequence[str] = ("tweet_id",),
    each: Sequence[str] = ("id",),
) -> pl.DataFrame:
    """tweet_insights rows from exploded posts (with account_id, username, account_name, fetched_at)
    and the referenced posts of the same answers; a retweet's original is looked up among the
    referenced posts of its own group (by: the account, and for a rebuild the run that read it).
    private: the owned-only columns by private_keys, when there are any. each: what makes a row
    (a post; for the metrics history, a post and the UTC day of its read)."""
    retweeted = (
        pl.col("referenced_tweets")
        .list.eval(pl.element().filter(pl.element().struct.field("type") == "retweeted").struct.field("id"))
        .list.first()
    )
    keys = [*by, "original_tweet_id"]
    frame = _with_types(data, each).select(
        *_post_columns(),
        *(pl.col(c) for c in by if c != "account_id"),
        pl.col("account_id"),
        pl.col("username"),
        pl.col("account_name"),
        retweeted.alias("original_tweet_id"),
    )
    lookup = included.select(
        *(pl.col(c) for c in by),
        pl.col("id").alias("original_tweet_id"),
        pl.col("public_metrics").struct.field("retweet_count").alias("original_retweet_count"),
    ).unique(keys, keep="first", maintain_order=True)
    frame = frame.join(lookup, on=keys, how="left", maintain_order="left").with_columns(
        pl.when(pl.col("is_retweet")).then(0).otherwise(pl.col("retweet_count")).alias("own_retweet_count"),
        # only a retweet has an original in this sense; quotes keep their own counts
        pl.when(pl.col("is_retweet")).then(pl.col("original_retweet_count")).alias("original_retweet_count"),
    )
    if private is not None and private.height:
        frame = frame.join(private, on=list(private_keys), how="left", maintain_order="left")
    else:
        frame = frame.with_columns(pl.lit(None, pl.Int64).alias(name) for name in PRIVATE_METRIC_COLUMNS)
    return frame.select(TWEET_INSIGHTS_TABLE.column_names).cast(TWEET_INSIGHTS_TABLE.polars_schema())


def private_frame(posts: list[dict[str, Any]]) -> pl.DataFrame:
    """The owned-only columns of these posts (as private_metrics() returned them), by tweet_id."""
    schema = {"tweet_id": pl.String, **{name: pl.Int64 for name in PRIVATE_METRIC_COLUMNS}}
    rows = [
        {
            "tweet_id": p["id"],
            **{name: (p.get(group) or {}).get(key) for name, (group, key) in PRIVATE_METRIC_COLUMNS.items()},
        }
        for p in posts
    ]
    return pl.DataFrame(rows, schema=schema)


def others_posts_frame(data: pl.DataFrame, authors: pl.DataFrame, table: Table, **constants: str) -> pl.DataFrame:
    """Rows of posts by others (mentions_insights, search_insights) with their authors' handles;
    constants: the columns that say what the posts were read for (the account, or the query)."""
    if not data.height:
        return table.empty_frame()
    frame = _with_types(data).select(
        *_post_columns(),
        *(pl.lit(value, pl.String).alias(name) for name, value in constants.items()),
        pl.col("author_id"),
    )
    handles = authors.select(pl.col("id").alias("author_id"), pl.col("username").alias("author_username"))
    frame = frame.join(handles, on="author_id", how="left", maintain_order="left")
    return frame.select(table.column_names).cast(table.polars_schema())


def accounts_frame(rows: list[dict[str, Any]], day: dt.date) -> pl.DataFrame:
    """account_insights rows from looked-up users: dicts with user, account_name, fetched_at."""
    if not rows:
        return ACCOUNT_INSIGHTS_TABLE.empty_frame()
    records = []
    for row in rows:
        user, metrics = row["user"], row["user"].get("public_metrics") or {}
        records.append(
            {
                "date": day,
                "account_id": user["id"],
                "username": user["username"],
                "account_name": row["account_name"],
                "followers_count": metrics.get("followers_count"),
                "following_count": metrics.get("following_count"),
                "tweet_count": metrics.get("tweet_count"),
                "listed_count": metrics.get("listed_count"),
                "like_count": metrics.get("like_count"),
                "fetched_at": row["fetched_at"],
            }
        )
    return pl.DataFrame(records, schema=ACCOUNT_INSIGHTS_TABLE.polars_schema())
