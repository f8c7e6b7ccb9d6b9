"""The derived tables, computed in DuckDB from the stored tables and written one window at a time.

No X reads here: the insights come from what account_insights and tweet_insights hold, so a
re-run of a window recomputes it from the same rows and replaces it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb
import polars as pl

from ..constants import SCHEMA
from ..log import Log
from .store import Scope, Store, ensure_table, frame
from .tables import (
    ACCOUNT_DAILY_GROWTH_TABLE,
    ACCOUNT_INSIGHTS_TABLE,
    ENGAGEMENT_AGES,
    ENGAGEMENT_BY_AGE_TABLE,
    ENGAGEMENT_SQL,
    TWEET_ENGAGEMENT_TABLE,
    TWEET_INSIGHTS_TABLE,
    TWEET_METRICS_HISTORY_TABLE,
    Table,
)

TOP_TWEETS_VIEW_NAME = "top_tweets_weekly"
TOP_TWEETS_VIEW = f"{SCHEMA}.{TOP_TWEETS_VIEW_NAME}"  # the default source's
TOP_TWEETS_PER_WEEK = 3
ENGAGEMENT_WEEKLY_VIEW_NAME = "engagement_by_age_weekly"


def top_tweets_view(schema: str) -> str:
    return f"{schema}.{TOP_TWEETS_VIEW_NAME}"


# Each account's snapshots in order; lag() finds the previous one however many days back it is,
# and the changes cover exactly that span (a gap is reported, never filled in).
# The queries name their tables as {account_insights}, {tweet_insights}, ... in the source's schema.
_GROWTH_SQL = """
SELECT date, account_id, username, account_name, followers_count,
       previous_date,
       (date - previous_date)::INTEGER AS days_since_previous,
       followers_count - previous_followers AS followers_change,
       following_count - previous_following AS following_change,
       tweet_count - previous_tweets AS tweets_posted,
       like_count - previous_likes AS likes_given,
       listed_count - previous_listed AS listed_change{extra}
FROM (
    SELECT *,
           lag(date) OVER w AS previous_date,
           lag(followers_count) OVER w AS previous_followers,
           lag(following_count) OVER w AS previous_following,
           lag(tweet_count) OVER w AS previous_tweets,
           lag(like_count) OVER w AS previous_likes,
           lag(listed_count) OVER w AS previous_listed
    FROM {account_insights}
    WHERE date <= $last
    WINDOW w AS (PARTITION BY account_id ORDER BY date)
)
WHERE date BETWEEN $first AND $last
"""

# The follower count "at the time" is the latest snapshot taken on or before the post's day;
# an ASOF join finds it without scanning every snapshot per post.
_ENGAGEMENT_SQL = """
SELECT t.created_date, t.tweet_id, t.account_id, t.username, t.account_name, t.created_at,
       date_trunc('week', t.created_date)::DATE AS week,
       t.is_retweet,
       coalesce(t.like_count, 0) + coalesce(t.own_retweet_count, 0)
         + coalesce(t.reply_count, 0) + coalesce(t.quote_count, 0) AS engagement,
       a.followers_count AS followers_at_time,
       a.date AS followers_date,
       CASE WHEN a.followers_count > 0 THEN
         (coalesce(t.like_count, 0) + coalesce(t.own_retweet_count, 0)
          + coalesce(t.reply_count, 0) + coalesce(t.quote_count, 0)) / a.followers_count
       END AS engagement_rate{extra}
FROM {tweet_insights} AS t
ASOF LEFT JOIN {account_insights} AS a
  ON t.account_id = a.account_id AND t.created_date >= a.date
WHERE t.created_date BETWEEN $first AND $last
"""

_TOP_TWEETS_VIEW_SQL = """
CREATE OR REPLACE VIEW {top_tweets_view} AS
SELECT week, account_id, username, account_name, tweet_id, created_at, engagement, engagement_rate,
       row_number() OVER (PARTITION BY account_id, week ORDER BY engagement DESC, tweet_id) AS rank_in_week
FROM {tweet_engagement}
QUALIFY rank_in_week <= {per_week}
"""


# Each post's engagement at the ages its metrics were read (tweet_metrics_history), beside its
# identity from tweet_insights: a post deleted on X has left both.
_BY_AGE_SQL = """
SELECT t.created_date, t.tweet_id, t.account_id, t.username, t.account_name,
       date_trunc('week', t.created_date)::DATE AS week,
       {ages},
       h.observations, h.last_observed_age{{extra}}
FROM {{tweet_insights}} AS t
JOIN (
    SELECT tweet_id,
           {by_age},
           count(*) AS observations,
           max(age_days) AS last_observed_age
    FROM (
        SELECT tweet_id, age_days, {engagement} AS engagement
        FROM {{tweet_metrics_history}}
        WHERE created_date BETWEEN $first AND $last
    )
    GROUP BY tweet_id
) AS h USING (tweet_id)
WHERE t.created_date BETWEEN $first AND $last
""".format(
    engagement=ENGAGEMENT_SQL,
    ages=", ".join(f"h.engagement_day_{a}" for a in ENGAGEMENT_AGES),
    by_age=", ".join(f"max(engagement) FILTER (WHERE age_days = {a}) AS engagement_day_{a}" for a in ENGAGEMENT_AGES),
)

_WEEKLY_BY_AGE_VIEW_SQL = """
CREATE OR REPLACE VIEW {weekly_view} AS
SELECT account_id, any_value(account_name ORDER BY created_date DESC) AS account_name, week,
       count(*) AS posts,
       {averages}
FROM {engagement_by_age}
GROUP BY account_id, week
"""


@dataclass(frozen=True)
class Derivation:
    table: Table
    source: Table
    sql: str
    after: Callable[[duckdb.DuckDBPyConnection, str], None] | None = None  # (connection, schema)
    # Numbers per day worth plotting, besides the row count: "SELECT <sums> ... " over {table}
    day_figures: str = ""


def _names(schema: str) -> dict[str, str]:
    """The tables a derivation's SQL names, in one source's schema."""
    tables = (
        ACCOUNT_INSIGHTS_TABLE,
        TWEET_INSIGHTS_TABLE,
        TWEET_ENGAGEMENT_TABLE,
        TWEET_METRICS_HISTORY_TABLE,
        ENGAGEMENT_BY_AGE_TABLE,
    )
    return {t.name: t.in_schema(schema).qualified for t in tables} | {
        "top_tweets_view": top_tweets_view(schema),
        "weekly_view": f"{schema}.{ENGAGEMENT_WEEKLY_VIEW_NAME}",
    }


def _create_top_tweets_view(conn: duckdb.DuckDBPyConnection, schema: str) -> None:
    conn.execute(_TOP_TWEETS_VIEW_SQL.format(per_week=TOP_TWEETS_PER_WEEK, **_names(schema)))


def _create_weekly_by_age_view(conn: duckdb.DuckDBPyConnection, schema: str) -> None:
    averages = ", ".join(
        f"round(avg(engagement_day_{a}), 2) AS avg_engagement_day_{a}, "
        f"count(engagement_day_{a}) AS posts_read_at_day_{a}"
        for a in ENGAGEMENT_AGES
    )
    conn.execute(_WEEKLY_BY_AGE_VIEW_SQL.format(averages=averages, **_names(schema)))


ACCOUNT_DAILY_GROWTH = Derivation(
    ACCOUNT_DAILY_GROWTH_TABLE,
    ACCOUNT_INSIGHTS_TABLE,
    _GROWTH_SQL,
    # sums of BIGINT are HUGEINT (decimals in Python): cast back, Dagster plots ints and floats
    day_figures="sum(followers_count)::BIGINT AS followers_total, "
    "sum(followers_change)::BIGINT AS followers_net_change",
)
TWEET_ENGAGEMENT = Derivation(
    TWEET_ENGAGEMENT_TABLE,
    TWEET_INSIGHTS_TABLE,
    _ENGAGEMENT_SQL,
    _create_top_tweets_view,
    day_figures="sum(engagement)::BIGINT AS engagement_total, "
    "round(median(engagement_rate), 6)::DOUBLE AS median_engagement_rate",
)


ENGAGEMENT_BY_AGE = Derivation(
    ENGAGEMENT_BY_AGE_TABLE,
    TWEET_INSIGHTS_TABLE,
    _BY_AGE_SQL,
    _create_weekly_by_age_view,
    day_figures=", ".join(f"sum(engagement_day_{a})::BIGINT AS engagement_day_{a}_total" for a in ENGAGEMENT_AGES),
)


@dataclass
class DerivedResult:
    table: Table
    days: tuple[dt.date, dt.date]
    rows_written: int
    accounts: int
    preview: pl.DataFrame
    day_figures: dict[dt.date, dict[str, Any]]  # the row count and the derivation's sums, per day


def derive(
    store: Store,
    log: Log,
    derivation: Derivation,
    first: dt.date,
    last: dt.date,
    default_schema: dict[str, Any],
) -> DerivedResult:
    """Recompute the days first..last of a derived table from the stored tables, in one transaction."""
    table = store.table(derivation.table)
    date = f'"{table.date_column}"'
    prefix = "t." if derivation.source is TWEET_INSIGHTS_TABLE else ""
    extra = "".join(f', {prefix}"{name}"' for name in default_schema)

    def body(conn: duckdb.DuckDBPyConnection) -> tuple[int, int, pl.DataFrame, pl.DataFrame]:
        # The stored tables may not exist yet (nothing loaded): an empty table derives an empty window.
        for source in (ACCOUNT_INSIGHTS_TABLE, TWEET_INSIGHTS_TABLE, TWEET_METRICS_HISTORY_TABLE, table):
            ensure_table(conn, store.table(source), default_schema)
        conn.execute(f"DELETE FROM {table.qualified} WHERE {date} BETWEEN ? AND ?", [first, last])
        params = {"first": first, "last": last}
        sql = derivation.sql.format(extra=extra, **_names(store.schema_name))
        conn.execute(f"INSERT INTO {table.qualified} BY NAME {sql}", params)
        ((rows, accounts),) = conn.execute(
            f"SELECT count(*), count(DISTINCT account_id) FROM {table.qualified} WHERE {date} BETWEEN ? AND ?",
            [first, last],
        ).fetchall()
        figures = ", " + derivation.day_figures if derivation.day_figures else ""
        per_day = frame(
            conn,
            f'SELECT {date} AS day, count(*) AS "dagster/row_count"{figures} FROM {table.qualified} '
            f"WHERE {date} BETWEEN ? AND ? GROUP BY 1",
            [first, last],
        )
        preview = frame(
            conn,
            f"SELECT * FROM {table.qualified} WHERE {date} BETWEEN ? AND ? ORDER BY {date} DESC, account_id LIMIT 5",
            [first, last],
        )
        if derivation.after is not None:
            derivation.after(conn, store.schema_name)
        return rows, accounts, per_day, preview

    rows, accounts, per_day, preview = store.write(log, [Scope(table, Scope.days_from(first, last))], body)
    log.info(f"{table.name} {first}..{last}: {rows} row(s) for {accounts} account(s)")
    by_day = {row.pop("day"): row for row in per_day.to_dicts()}
    return DerivedResult(table, (first, last), int(rows), int(accounts), preview, by_day)


DERIVATIONS = (ACCOUNT_DAILY_GROWTH, TWEET_ENGAGEMENT, ENGAGEMENT_BY_AGE)
