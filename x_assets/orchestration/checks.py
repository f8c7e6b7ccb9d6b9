"""Data checks run by each materialization over the slice it just wrote, as Dagster asset checks.

They read DuckDB only (no X calls), so they run with every materialization. Errors block the
derived assets downstream; warnings (a follower drop, an incomplete slice) only show in the UI.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg
import duckdb
import polars as pl

from ..constants import (
    ACCOUNT_DAILY_GROWTH,
    ACCOUNT_INSIGHTS,
    ENGAGEMENT_BY_AGE,
    MENTIONS_INSIGHTS,
    SEARCH_INSIGHTS,
    TWEET_ENGAGEMENT,
    TWEET_INSIGHTS,
)
from ..ingest.harvest import INCOMPLETE, AccountState
from ..reports.markdown import markdown_table
from ..warehouse.store import duplicate_keys, frame
from ..warehouse.tables import (
    ACCOUNT_INSIGHTS_TABLE,
    ACCOUNT_STATUS_TABLE,
    ENGAGEMENT_AGES,
    ENGAGEMENT_SQL,
    TWEET_INSIGHTS_TABLE,
    TWEET_METRICS_HISTORY_TABLE,
    Table,
)

ERROR = dg.AssetCheckSeverity.ERROR
WARN = dg.AssetCheckSeverity.WARN
SAMPLE = 5


@dataclass
class CheckInput:
    conn: duckdb.DuckDBPyConnection
    table: Table
    first: dt.date
    last: dt.date
    states: Sequence[AccountState]
    follower_drop_share: float

    @property
    def window(self) -> str:
        return f'"{self.table.date_column}" BETWEEN $first AND $last'

    def sibling(self, table: Table) -> Table:
        """Another table of the same source's schema."""
        return table.in_schema(self.table.schema)

    def rows(self, sql: str, **params: Any) -> pl.DataFrame:
        given = {"first": self.first, "last": self.last, **params}
        # DuckDB refuses named parameters a statement does not use
        return frame(self.conn, sql, {name: value for name, value in given.items() if f"${name}" in sql})


@dataclass(frozen=True)
class Check:
    name: str
    description: str
    severity: dg.AssetCheckSeverity
    offenders: Callable[[CheckInput], pl.DataFrame]  # rows that break the rule; empty means passed


def _duplicate_keys(c: CheckInput) -> pl.DataFrame:
    return duplicate_keys(c.conn, c.table, c.first, c.last)


def _negative_counts(c: CheckInput) -> pl.DataFrame:
    counts = [col.name for col in c.table.columns if col.sql_type == "BIGINT"]
    key = ", ".join(f'"{k}"' for k in c.table.key)
    negative = " OR ".join(f'"{name}" < 0' for name in counts)
    return c.rows(f"SELECT {key}, {', '.join(counts)} FROM {c.table.qualified} WHERE {c.window} AND ({negative})")


def _unexplained_accounts(c: CheckInput) -> pl.DataFrame:
    """Configured accounts with neither rows nor a status saying why, on some day of the window.

    A post table may rightly hold no rows for an account on a day (it posted nothing): there a
    status row of any kind explains it. A snapshot table must hold a row unless the status is not ok.
    """
    endpoint = c.table.name
    accounts = pl.DataFrame(
        [{"account_id": s.account_id, "username": s.display_username} for s in c.states],
        schema={"account_id": pl.String, "username": pl.String},
    )
    ok_needs_rows = endpoint == ACCOUNT_INSIGHTS
    c.conn.register("_accounts", accounts.to_arrow())
    try:
        # every account on every day of the window, crossed in DuckDB (a long backfill has many days)
        return c.rows(
            f"""
            WITH e AS (
                SELECT d.date, a.account_id, a.username FROM _accounts AS a CROSS JOIN (
                    SELECT unnest(generate_series($first::TIMESTAMP, $last::TIMESTAMP, INTERVAL 1 DAY))::DATE AS date
                ) AS d
            )
            SELECT e.date, e.account_id, e.username FROM e
            WHERE NOT EXISTS (SELECT 1 FROM {c.table.qualified} AS t
                              WHERE t.account_id = e.account_id AND t."{c.table.date_column}" = e.date)
              AND NOT EXISTS (SELECT 1 FROM {c.sibling(ACCOUNT_STATUS_TABLE).qualified} AS s
                              WHERE s.endpoint = $endpoint AND s.date = e.date
                                AND (s.account_id = e.account_id OR (e.account_id IS NULL AND s.username = e.username))
                                AND (s.status <> 'ok' OR NOT $ok_needs_rows))
            ORDER BY e.date, e.username
            """,
            endpoint=endpoint,
            ok_needs_rows=ok_needs_rows,
        )
    finally:
        c.conn.unregister("_accounts")


def _inconsistent_retweets(c: CheckInput) -> pl.DataFrame:
    return c.rows(
        f"""
        SELECT tweet_id, is_retweet, retweet_count, own_retweet_count, original_tweet_id, original_retweet_count
        FROM {c.table.qualified} WHERE {c.window} AND (
            (is_retweet AND (own_retweet_count IS DISTINCT FROM 0 OR original_tweet_id IS NULL))
         OR (NOT is_retweet AND (own_retweet_count IS DISTINCT FROM retweet_count
                                 OR original_tweet_id IS NOT NULL OR original_retweet_count IS NOT NULL)))
        ORDER BY tweet_id
        """
    )


def _follower_drops(c: CheckInput) -> pl.DataFrame:
    table = c.sibling(ACCOUNT_INSIGHTS_TABLE).qualified
    return c.rows(
        f"""
        SELECT t.date, t.account_id, t.username, p.followers_count AS previous_day,
               t.followers_count AS followers,
               round((p.followers_count - t.followers_count) / p.followers_count, 4) AS share_lost
        FROM {table} AS t JOIN {table} AS p ON p.account_id = t.account_id AND p.date = t.date - 1
        WHERE t.date BETWEEN $first AND $last AND p.followers_count > 0
          AND (p.followers_count - t.followers_count) / p.followers_count > $share
        ORDER BY t.date, t.account_id
        """,
        share=c.follower_drop_share,
    )


def _growth_disagrees_with_snapshots(c: CheckInput) -> pl.DataFrame:
    """Growth rows that do not follow from the snapshots: no snapshot that day, other followers, or a
    change that is not the difference with the snapshot of previous_date."""
    snapshots = c.sibling(ACCOUNT_INSIGHTS_TABLE).qualified
    return c.rows(
        f"""
        SELECT g.date, g.account_id, g.username, g.followers_count, g.previous_date, g.followers_change
        FROM {c.table.qualified} AS g
        LEFT JOIN {snapshots} AS a ON a.account_id = g.account_id AND a.date = g.date
        LEFT JOIN {snapshots} AS p ON p.account_id = g.account_id AND p.date = g.previous_date
        WHERE g.date BETWEEN $first AND $last AND (
            a.account_id IS NULL OR a.followers_count IS DISTINCT FROM g.followers_count
            OR (g.previous_date IS NOT NULL AND (p.account_id IS NULL OR g.previous_date >= g.date
                OR g.followers_change IS DISTINCT FROM a.followers_count - p.followers_count)))
        ORDER BY g.date, g.account_id
        """
    )


def _engagement_disagrees_with_posts(c: CheckInput) -> pl.DataFrame:
    """Posts of the window missing from the engagement table or in it alone, or whose engagement is
    not likes + own retweets + replies + quotes of the stored post."""
    posts = c.sibling(TWEET_INSIGHTS_TABLE).qualified
    return c.rows(
        f"""
        SELECT coalesce(t.tweet_id, e.tweet_id) AS tweet_id, t.created_date, e.engagement,
               coalesce(t.like_count, 0) + coalesce(t.own_retweet_count, 0) + coalesce(t.reply_count, 0)
                 + coalesce(t.quote_count, 0) AS expected
        FROM (SELECT * FROM {posts} WHERE created_date BETWEEN $first AND $last) AS t
        FULL JOIN (SELECT * FROM {c.table.qualified} WHERE created_date BETWEEN $first AND $last) AS e
          ON e.tweet_id = t.tweet_id
        WHERE t.tweet_id IS NULL OR e.tweet_id IS NULL OR e.engagement IS DISTINCT FROM (
            coalesce(t.like_count, 0) + coalesce(t.own_retweet_count, 0) + coalesce(t.reply_count, 0)
            + coalesce(t.quote_count, 0))
        ORDER BY 1
        """
    )


def _by_age_disagrees_with_history(c: CheckInput) -> pl.DataFrame:
    """Stored posts of the window with observations but no row (or a row without a stored post or
    observation), or an engagement at an age that is not the one observed at that age."""
    posts = c.sibling(TWEET_INSIGHTS_TABLE).qualified
    history = c.sibling(TWEET_METRICS_HISTORY_TABLE).qualified
    at_age = ", ".join(f"max({ENGAGEMENT_SQL}) FILTER (WHERE age_days = {a}) AS day_{a}" for a in ENGAGEMENT_AGES)
    differs = " OR ".join(f"e.engagement_day_{a} IS DISTINCT FROM h.day_{a}" for a in ENGAGEMENT_AGES)
    return c.rows(
        f"""
        SELECT coalesce(h.tweet_id, e.tweet_id) AS tweet_id, e.created_date
        FROM (SELECT tweet_id, {at_age} FROM {history}
              WHERE created_date BETWEEN $first AND $last
                AND tweet_id IN (SELECT tweet_id FROM {posts} WHERE created_date BETWEEN $first AND $last)
              GROUP BY tweet_id) AS h
        FULL JOIN (SELECT * FROM {c.table.qualified} WHERE created_date BETWEEN $first AND $last) AS e
          ON e.tweet_id = h.tweet_id
        WHERE h.tweet_id IS NULL OR e.tweet_id IS NULL OR {differs}
        ORDER BY 1
        """
    )


def _incomplete_slices(c: CheckInput) -> pl.DataFrame:
    return c.rows(
        f"SELECT date, account_id, username, detail FROM {c.sibling(ACCOUNT_STATUS_TABLE).qualified} "
        "WHERE endpoint = $endpoint AND date BETWEEN $first AND $last AND status = $incomplete "
        "ORDER BY date, username",
        endpoint=c.table.name,
        incomplete=INCOMPLETE,
    )


_UNIQUE = Check("unique_key", "No two rows share the table's key.", ERROR, _duplicate_keys)
_NON_NEGATIVE = Check("no_negative_counts", "No count is negative.", ERROR, _negative_counts)
_ACCOUNTED = Check(
    "accounts_accounted_for",
    "Every configured account has rows on every day of the slice, or the account_status table says why not.",
    ERROR,
    _unexplained_accounts,
)

CHECKS: dict[str, tuple[Check, ...]] = {
    ACCOUNT_INSIGHTS: (
        _UNIQUE,
        _NON_NEGATIVE,
        _ACCOUNTED,
        Check(
            "follower_drop",
            "No account lost more than the configured share of its followers since the previous day "
            "(X_FOLLOWER_DROP_WARN, default 5%).",
            WARN,
            _follower_drops,
        ),
    ),
    # The derived tables: each row follows from the stored tables it was computed from.
    ACCOUNT_DAILY_GROWTH: (
        _UNIQUE,
        Check(
            "follows_from_snapshots",
            "Each row's followers are that day's snapshot, and its change is the difference with the "
            "snapshot of previous_date (an earlier day).",
            ERROR,
            _growth_disagrees_with_snapshots,
        ),
    ),
    TWEET_ENGAGEMENT: (
        _UNIQUE,
        _NON_NEGATIVE,
        Check(
            "follows_from_posts",
            "Every stored post of the window has one row, and its engagement is likes + own retweets + replies "
            "+ quotes of the stored post.",
            ERROR,
            _engagement_disagrees_with_posts,
        ),
    ),
    MENTIONS_INSIGHTS: (
        _UNIQUE,
        _NON_NEGATIVE,
        _ACCOUNTED,
        Check(
            "complete_slices",
            "No account's days were cut short (the 800 most recent mentions X serves, or the read budget).",
            WARN,
            _incomplete_slices,
        ),
    ),
    SEARCH_INSIGHTS: (
        _UNIQUE,
        _NON_NEGATIVE,
        Check(
            "complete_slices",
            "No query's days were cut short (older than the 7 days recent search reaches, or the read budget).",
            WARN,
            _incomplete_slices,
        ),
    ),
    ENGAGEMENT_BY_AGE: (
        _UNIQUE,
        _NON_NEGATIVE,
        Check(
            "follows_from_history",
            "Every stored post of the window that was observed has one row, and its engagement at 1, 3 and 7 "
            "days is the one tweet_metrics_history holds for that age.",
            ERROR,
            _by_age_disagrees_with_history,
        ),
    ),
    TWEET_INSIGHTS: (
        _UNIQUE,
        _NON_NEGATIVE,
        _ACCOUNTED,
        Check(
            "retweet_columns_consistent",
            "Retweets have own_retweet_count 0 and an original_tweet_id; other posts have "
            "own_retweet_count = retweet_count and no original_* values.",
            ERROR,
            _inconsistent_retweets,
        ),
        Check(
            "complete_slices",
            "No account's days were cut short (the 3,200-post timeline horizon, or the read budget).",
            WARN,
            _incomplete_slices,
        ),
    ),
}


def check_specs(asset: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    # Blocking errors keep derived assets from reading a slice that broke a rule.
    return [
        dg.AssetCheckSpec(check.name, asset=asset, description=check.description, blocking=check.severity == ERROR)
        for check in CHECKS[asset.path[-1]]
    ]


def run_checks(check_input: CheckInput) -> list[dg.AssetCheckResult]:
    results = []
    for check in CHECKS[check_input.table.name]:
        offenders = check.offenders(check_input)
        metadata: dict[str, Any] = {"offending_rows": offenders.height}
        if offenders.height:
            metadata["sample"] = dg.MetadataValue.md(markdown_table(offenders, rows=SAMPLE, columns=10))
        results.append(
            dg.AssetCheckResult(
                check_name=check.name,
                passed=offenders.height == 0,
                severity=check.severity,
                metadata=metadata,
                description=check.description,
            )
        )
    return results
