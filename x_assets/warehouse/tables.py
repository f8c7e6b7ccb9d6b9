"""Table definitions: columns, types and descriptions, the one source for DDL, the UI and the README."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from ..constants import (
    ACCOUNT_DAILY_GROWTH,
    ACCOUNT_INSIGHTS,
    ACCOUNT_REGISTRY,
    ACCOUNT_STATUS,
    ENGAGEMENT_BY_AGE,
    MENTIONS_INSIGHTS,
    READ_LEDGER,
    SCHEMA,
    SEARCH_INSIGHTS,
    TWEET_ENGAGEMENT,
    TWEET_INSIGHTS,
    TWEET_METRICS_HISTORY,
)

UTC_TS = pl.Datetime("us", "UTC")


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    dtype: Any  # polars dtype
    description: str


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    date_column: str  # the partition column (a DATE)
    key: tuple[str, ...]
    schema: str = SCHEMA  # the source's DuckDB schema: x for the project's default source
    owner: str = "account_id"  # whose rows a slice replaces: an account's, or a search query's

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    def in_schema(self, schema: str) -> Table:
        """The same table in another source's schema (a validated SQL identifier)."""
        return self if schema == self.schema else replace(self, schema=schema)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def pick(self, *names: str) -> tuple[Column, ...]:
        """These columns, for a table derived from this one: same types, same descriptions."""
        by_name = {c.name: c for c in self.columns}
        return tuple(by_name[name] for name in names)

    def polars_schema(self) -> pl.Schema:
        return pl.Schema({c.name: c.dtype for c in self.columns})

    def empty_frame(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.polars_schema())


def _c(name: str, sql_type: str, description: str) -> Column:
    dtypes = {
        "DATE": pl.Date,
        "VARCHAR": pl.String,
        "BIGINT": pl.Int64,
        "INTEGER": pl.Int32,
        "DOUBLE": pl.Float64,
        "BOOLEAN": pl.Boolean,
        "TIMESTAMPTZ": UTC_TS,
    }
    return Column(name, sql_type, dtypes[sql_type], description)


ACCOUNT_INSIGHTS_TABLE = Table(
    name=ACCOUNT_INSIGHTS,
    date_column="date",
    key=("date", "account_id"),
    columns=(
        _c("date", "DATE", "UTC day of the observation (the partition)."),
        _c("account_id", "VARCHAR", "Stable numeric X account id."),
        _c("username", "VARCHAR", "The account's handle when observed, without @."),
        _c("account_name", "VARCHAR", "The name given in the source file, else the handle as X spells it."),
        _c("followers_count", "BIGINT", "Followers."),
        _c("following_count", "BIGINT", "Accounts this account follows."),
        _c("tweet_count", "BIGINT", "Posts ever published, retweets and replies included (total tweets)."),
        _c("listed_count", "BIGINT", "Public lists that include the account."),
        _c("like_count", "BIGINT", "Likes the account has given over its lifetime (total favorites)."),
        _c("fetched_at", "TIMESTAMPTZ", "When X answered, in UTC."),
    ),
)

# X shows these only to a post's author (user-context auth as that account), for posts created in
# the last 30 days: see the README's "Owned-account metrics".
OWNED_ONLY = (
    "NULL unless the account is read with its own OAuth 1.0a credentials and the post was under 29 days old "
    "when read (X: author only, last 30 days); retweets NULL."
)
PRIVATE_METRIC_COLUMNS = {
    "owned_impression_count": ("non_public_metrics", "impression_count"),
    "url_link_clicks": ("non_public_metrics", "url_link_clicks"),
    "user_profile_clicks": ("non_public_metrics", "user_profile_clicks"),
    "engagements": ("non_public_metrics", "engagements"),
    "organic_impression_count": ("organic_metrics", "impression_count"),
    "organic_like_count": ("organic_metrics", "like_count"),
    "organic_reply_count": ("organic_metrics", "reply_count"),
    "organic_retweet_count": ("organic_metrics", "retweet_count"),
}

TWEET_INSIGHTS_TABLE = Table(
    name=TWEET_INSIGHTS,
    date_column="created_date",
    key=("tweet_id",),
    columns=(
        _c("created_date", "DATE", "UTC day the post was created (the partition)."),
        _c("tweet_id", "VARCHAR", "Post id."),
        _c("account_id", "VARCHAR", "Stable numeric id of the posting account."),
        _c("username", "VARCHAR", "The account's handle when read, without @."),
        _c("account_name", "VARCHAR", "The name given in the source file, else the handle as X spells it."),
        _c("created_at", "TIMESTAMPTZ", "When the post was created, in UTC."),
        _c("text", "VARCHAR", "Full text: note_tweet.text for long posts, else text."),
        _c("lang", "VARCHAR", "Language X detected (BCP 47; 'und' when undetermined)."),
        _c("is_retweet", "BOOLEAN", "The post is a retweet (repost) of another post."),
        _c("is_quote", "BOOLEAN", "The post quotes another post."),
        _c("is_reply", "BOOLEAN", "The post replies to another post."),
        _c("retweet_count", "BIGINT", "Retweets as X reports them; for a retweet, the original's count."),
        _c("own_retweet_count", "BIGINT", "Retweets of this post itself: 0 for a retweet, else retweet_count."),
        _c("original_tweet_id", "VARCHAR", "For a retweet, the id of the original post."),
        _c("original_retweet_count", "BIGINT", "For a retweet, the original's retweets; NULL if it is unavailable."),
        _c("like_count", "BIGINT", "Likes (favorites); 0 for a retweet, as X reports it."),
        _c("reply_count", "BIGINT", "Replies."),
        _c("quote_count", "BIGINT", "Quotes."),
        _c("bookmark_count", "BIGINT", "Bookmarks; NULL when X does not report it."),
        _c("impression_count", "BIGINT", "Impressions; NULL when X does not report it."),
        *(
            _c(name, "BIGINT", f"{what} {OWNED_ONLY}")
            for name, what in (
                ("owned_impression_count", "Impressions (non_public_metrics)."),
                ("url_link_clicks", "Clicks on a link in the post (non_public_metrics)."),
                ("user_profile_clicks", "Clicks through to the author's profile (non_public_metrics)."),
                ("engagements", "Every interaction with the post, clicks included (non_public_metrics)."),
                ("organic_impression_count", "Impressions not paid for (organic_metrics)."),
                ("organic_like_count", "Likes not paid for (organic_metrics)."),
                ("organic_reply_count", "Replies not paid for (organic_metrics)."),
                ("organic_retweet_count", "Retweets not paid for (organic_metrics)."),
            )
        ),
        _c("fetched_at", "TIMESTAMPTZ", "When X answered, in UTC."),
    ),
)

# What mentions_insights and search_insights keep of a post by someone else: its public side.
OTHERS_POST_COLUMNS = TWEET_INSIGHTS_TABLE.pick(
    "created_at",
    "text",
    "lang",
    "is_retweet",
    "is_quote",
    "is_reply",
    "retweet_count",
    "like_count",
    "reply_count",
    "quote_count",
    "bookmark_count",
    "impression_count",
    "fetched_at",
)

MENTIONS_INSIGHTS_TABLE = Table(
    name=MENTIONS_INSIGHTS,
    date_column="created_date",
    key=("account_id", "tweet_id"),
    columns=(
        _c("created_date", "DATE", "UTC day the mentioning post was created (the partition)."),
        _c("tweet_id", "VARCHAR", "Id of the post that mentions the account."),
        _c("account_id", "VARCHAR", "Stable numeric id of the configured account it mentions."),
        _c("username", "VARCHAR", "That account's handle when read, without @."),
        _c("account_name", "VARCHAR", "The name given in the source file, else the handle as X spells it."),
        _c("author_id", "VARCHAR", "Numeric id of the post's author."),
        _c("author_username", "VARCHAR", "The author's handle when read (billed by X as a user read)."),
        *OTHERS_POST_COLUMNS,
    ),
)

SEARCH_INSIGHTS_TABLE = Table(
    name=SEARCH_INSIGHTS,
    date_column="created_date",
    key=("query_name", "tweet_id"),
    owner="query_name",
    columns=(
        _c("created_date", "DATE", "UTC day the matching post was created (the partition)."),
        _c("tweet_id", "VARCHAR", "Id of the post that matched."),
        _c("query_name", "VARCHAR", "The name of the query in the source file's queries list."),
        _c("query", "VARCHAR", "The X search query as run."),
        *MENTIONS_INSIGHTS_TABLE.pick("author_id", "author_username"),
        *OTHERS_POST_COLUMNS,
    ),
)

ACCOUNT_STATUS_TABLE = Table(
    name=ACCOUNT_STATUS,
    date_column="date",
    key=("date", "account_id", "username", "endpoint"),
    columns=(
        _c("date", "DATE", "UTC day of the slice the status is about."),
        _c("account_id", "VARCHAR", "Numeric account id; NULL when a handle could not be resolved, or for a query."),
        _c("username", "VARCHAR", "Handle, as configured or as X spells it; query:<name> for a search query."),
        _c("account_name", "VARCHAR", "Name from the source file, else the handle."),
        _c("endpoint", "VARCHAR", "account_insights, tweet_insights, mentions_insights or search_insights."),
        _c("status", "VARCHAR", "ok, protected, suspended, not_found, credentials_refused, failed or incomplete."),
        _c("detail", "VARCHAR", "What happened, in words."),
        _c(
            "recorded_at",
            "TIMESTAMPTZ",
            "When the status was recorded, in UTC. An 'ok' recorded after its day ended stands for a day read "
            "whole: a later run that cannot reach the day (a horizon, the budget) leaves it, and the day's rows.",
        ),
    ),
)

ACCOUNT_REGISTRY_TABLE = Table(
    name=ACCOUNT_REGISTRY,
    date_column="resolved_at",
    key=("account_key",),
    columns=(
        _c("account_key", "VARCHAR", "The source-file entry: username:<handle> or id:<id>."),
        _c("account_id", "VARCHAR", "The id the entry resolved to, the first time."),
        _c("username", "VARCHAR", "The handle at that time."),
        _c("resolved_at", "TIMESTAMPTZ", "When the handle was first resolved."),
    ),
)

READ_LEDGER_TABLE = Table(
    name=READ_LEDGER,
    date_column="read_date",
    key=("read_date", "resource", "resource_id"),
    columns=(
        _c(
            "read_date",
            "DATE",
            "UTC day of the read, the day X bills it: a post or user is billed once a UTC day however often "
            "the runs of that day read it.",
        ),
        _c("resource", "VARCHAR", "post or user."),
        _c("resource_id", "VARCHAR", "The post's id, or the user's numeric id."),
        _c(
            "rate",
            "VARCHAR",
            "post, owned (a post of an account's own timeline or mentions read as itself) or user: the price "
            "the first read of the day was billed at.",
        ),
        _c("endpoint", "VARCHAR", "The table whose run read it first that day."),
        _c("recorded_at", "TIMESTAMPTZ", "When that run recorded it, in UTC."),
    ),
)

ACCOUNT_DAILY_GROWTH_TABLE = Table(
    name=ACCOUNT_DAILY_GROWTH,
    date_column="date",
    key=("date", "account_id"),
    columns=(
        *ACCOUNT_INSIGHTS_TABLE.pick("date", "account_id", "username", "account_name", "followers_count"),
        _c("previous_date", "DATE", "The account's latest earlier snapshot; NULL for its first one."),
        _c(
            "days_since_previous",
            "INTEGER",
            "Days between the two snapshots: 1 for consecutive days. The changes below cover the whole gap; "
            "they are never spread over the missing days.",
        ),
        _c("followers_change", "BIGINT", "Followers gained (or lost, negative) since previous_date."),
        _c("following_change", "BIGINT", "Change in accounts followed since previous_date."),
        _c("tweets_posted", "BIGINT", "Change in the account's post total since previous_date (deletions net out)."),
        _c("likes_given", "BIGINT", "Change in likes given since previous_date (unlikes net out)."),
        _c("listed_change", "BIGINT", "Change in public lists that include the account since previous_date."),
    ),
)

TWEET_ENGAGEMENT_TABLE = Table(
    name=TWEET_ENGAGEMENT,
    date_column="created_date",
    key=("tweet_id",),
    columns=(
        *TWEET_INSIGHTS_TABLE.pick("created_date", "tweet_id", "account_id", "username", "account_name", "created_at"),
        _c("week", "DATE", "Monday (UTC) of the post's ISO week."),
        _c("is_retweet", "BOOLEAN", "The post is a retweet; its engagement then counts only its own."),
        _c(
            "engagement",
            "BIGINT",
            "like_count + own_retweet_count + reply_count + quote_count: a retweet does not count the "
            "original's retweets again.",
        ),
        _c(
            "followers_at_time",
            "BIGINT",
            "Followers in the account's latest snapshot on or before created_date; NULL when none was taken.",
        ),
        _c("followers_date", "DATE", "The day of that snapshot."),
        _c("engagement_rate", "DOUBLE", "engagement / followers_at_time; NULL without a snapshot or followers."),
    ),
)

TWEET_METRICS_HISTORY_TABLE = Table(
    name=TWEET_METRICS_HISTORY,
    date_column="observed_date",
    key=("observed_date", "tweet_id"),
    columns=(
        _c(
            "observed_date",
            "DATE",
            "UTC day the metrics were read. A later read that day replaces the row (X bills a post once a "
            "UTC day); a read on a later day adds a row and never changes this one.",
        ),
        *TWEET_INSIGHTS_TABLE.pick("tweet_id", "account_id", "username", "account_name", "created_date"),
        _c("age_days", "INTEGER", "observed_date - created_date: 0 on the day the post was created."),
        *TWEET_INSIGHTS_TABLE.pick(
            "is_retweet",
            "like_count",
            "retweet_count",
            "own_retweet_count",
            "reply_count",
            "quote_count",
            "bookmark_count",
            "impression_count",
            "fetched_at",
        ),
    ),
)

ENGAGEMENT = "like_count + own_retweet_count + reply_count + quote_count"
# The same in SQL over a row of tweet_insights or tweet_metrics_history: a count X leaves out is 0.
ENGAGEMENT_SQL = " + ".join(f"coalesce({c.strip()}, 0)" for c in ENGAGEMENT.split("+"))
ENGAGEMENT_AGES = (1, 3, 7)

ENGAGEMENT_BY_AGE_TABLE = Table(
    name=ENGAGEMENT_BY_AGE,
    date_column="created_date",
    key=("tweet_id",),
    columns=(
        *TWEET_INSIGHTS_TABLE.pick("created_date", "tweet_id", "account_id", "username", "account_name"),
        _c("week", "DATE", "Monday (UTC) of the post's ISO week."),
        *(
            _c(
                f"engagement_day_{age}",
                "BIGINT",
                f"Engagement ({ENGAGEMENT}) read when the post was {age} day(s) old; NULL when it was not read "
                "on that UTC day (a policy that skipped it, or a run that did not happen).",
            )
            for age in ENGAGEMENT_AGES
        ),
        _c("observations", "BIGINT", "Days on which the post's metrics were read (rows of tweet_metrics_history)."),
        _c("last_observed_age", "INTEGER", "Age in days at the latest of those reads."),
    ),
)

BUILTIN_COLUMNS = frozenset(
    c.name for t in (ACCOUNT_INSIGHTS_TABLE, TWEET_INSIGHTS_TABLE, ACCOUNT_STATUS_TABLE) for c in t.columns
)


def sql_type_for(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "BIGINT"
    if isinstance(value, float):
        return "DOUBLE"
    if isinstance(value, dt.date):
        return "DATE"
    return "VARCHAR"


def with_default_schema(frame: pl.DataFrame, default_schema: dict[str, Any]) -> pl.DataFrame:
    """Append the constant columns; typed so an all-NULL value still gets a column type."""
    if not default_schema:
        return frame
    return frame.with_columns(pl.lit(value).alias(name) for name, value in default_schema.items())


def markdown_reference() -> str:
    """The README's table reference, generated from the definitions above."""
    parts = []
    for table in (
        ACCOUNT_INSIGHTS_TABLE,
        TWEET_INSIGHTS_TABLE,
        ACCOUNT_STATUS_TABLE,
        READ_LEDGER_TABLE,
        TWEET_METRICS_HISTORY_TABLE,
        MENTIONS_INSIGHTS_TABLE,
        SEARCH_INSIGHTS_TABLE,
        ACCOUNT_DAILY_GROWTH_TABLE,
        TWEET_ENGAGEMENT_TABLE,
        ENGAGEMENT_BY_AGE_TABLE,
    ):
        parts.append(f"#### `{table.qualified}` (key: {', '.join(table.key)})\n")
        parts.append("| column | type | meaning |\n|---|---|---|")
        parts.extend(f"| `{c.name}` | {c.sql_type} | {c.description} |" for c in table.columns)
        parts.append("")
    return "\n".join(parts)


if __name__ == "__main__":  # python -m x_assets.warehouse.tables: the README's table reference
    print(markdown_reference())
