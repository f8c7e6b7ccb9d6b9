"""The tables the assets write besides their own, in the catalog: what they hold, where they come
from, their columns. They are written as a side effect of the assets' runs, so they are specs
(not materialized on their own); the runs that write them report it."""

from __future__ import annotations

import functools

import dagster as dg

from ..constants import (
    ACCOUNT_INSIGHTS,
    ENGAGEMENT_BY_AGE,
    MENTIONS_INSIGHTS,
    SEARCH_INSIGHTS,
    TWEET_ENGAGEMENT,
    TWEET_INSIGHTS,
)
from ..warehouse.derived import ENGAGEMENT_WEEKLY_VIEW_NAME, TOP_TWEETS_VIEW_NAME
from ..warehouse.tables import (
    ACCOUNT_REGISTRY_TABLE,
    ACCOUNT_STATUS_TABLE,
    ENGAGEMENT_AGES,
    TWEET_METRICS_HISTORY_TABLE,
)
from .assets import column_schema
from .shape import SourceShape

TableColumns = tuple[tuple[str, str, str], ...]  # name, SQL type, description

# The weekly view's columns (a view, so not a Table the store writes).
TOP_TWEETS_COLUMNS: TableColumns = (
    ("week", "DATE", "Monday (UTC) of the ISO week the post was created in."),
    ("account_id", "VARCHAR", "Numeric account id."),
    ("username", "VARCHAR", "Handle at the time of the read."),
    ("account_name", "VARCHAR", "Name from the source file, else the handle."),
    ("tweet_id", "VARCHAR", "Post id."),
    ("created_at", "TIMESTAMPTZ", "When the post was created, in UTC."),
    ("engagement", "BIGINT", "Likes + own retweets + replies + quotes."),
    ("engagement_rate", "DOUBLE", "Engagement per follower at the time of the post."),
    ("rank_in_week", "BIGINT", "1 for the account's most engaging post of the week; up to 3 are kept."),
)


WEEKLY_BY_AGE_COLUMNS: TableColumns = (
    ("account_id", "VARCHAR", "Numeric account id."),
    ("account_name", "VARCHAR", "Name from the source file, else the handle (the latest)."),
    ("week", "DATE", "Monday (UTC) of the ISO week the posts were created in."),
    ("posts", "BIGINT", "Posts of the week with at least one observation."),
    *(
        column
        for age in ENGAGEMENT_AGES
        for column in (
            (f"avg_engagement_day_{age}", "DOUBLE", f"Mean engagement of the week's posts read at {age} day(s) old."),
            (f"posts_read_at_day_{age}", "BIGINT", f"How many of the week's posts were read at {age} day(s) old."),
        )
    ),
)


def _view_schema(columns: TableColumns) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(n, t, description=d) for n, t, d in columns])


@functools.cache  # one set of objects per source, however often the definitions are assembled
def build_catalog_specs(shape: SourceShape) -> tuple[dg.AssetSpec, ...]:
    """account_status, account_registry, tweet_metrics_history and the two views of one source."""
    names = shape.names
    readers = [names.key(ACCOUNT_INSIGHTS), names.key(TWEET_INSIGHTS), names.key(MENTIONS_INSIGHTS)]
    status_writers = [*readers, names.key(SEARCH_INSIGHTS)]

    def spec(name: str, description: str, deps: list[dg.AssetKey], columns: dg.TableSchema) -> dg.AssetSpec:
        return dg.AssetSpec(
            key=names.key(name),
            description=description,
            deps=deps,
            group_name=names.group,
            kinds={"duckdb"},
            metadata={
                "dagster/column_schema": columns,
                "dagster/table_name": f"warehouse.{names.schema}.{name}",
            },
        )

    return (
        spec(
            ACCOUNT_STATUS_TABLE.name,
            "Per account, UTC day and endpoint: ok, or why rows are missing (protected, suspended, not_found, "
            "failed, incomplete), and per search query (query:<name>); written by each read from X.",
            status_writers,
            column_schema(ACCOUNT_STATUS_TABLE, shape.default_columns),  # status rows carry them too
        ),
        spec(
            ACCOUNT_REGISTRY_TABLE.name,
            "Each source-file entry and the numeric id it first resolved to, so a renamed or re-used handle "
            "never turns into another account; written when a handle is first read.",
            readers,
            column_schema(ACCOUNT_REGISTRY_TABLE),
        ),
        spec(
            TOP_TWEETS_VIEW_NAME,
            "A view: each account's three most engaging posts per ISO week, from tweet_engagement.",
            [names.key(TWEET_ENGAGEMENT)],
            _view_schema(TOP_TWEETS_COLUMNS),
        ),
        spec(
            TWEET_METRICS_HISTORY_TABLE.name,
            "One row per post per UTC day its metrics were read: the curve X itself does not keep. Every read "
            "of tweet_insights adds its day's observations and never rewrites an earlier day.",
            [names.key(TWEET_INSIGHTS)],
            column_schema(TWEET_METRICS_HISTORY_TABLE, shape.default_columns),
        ),
        spec(
            ENGAGEMENT_WEEKLY_VIEW_NAME,
            "A view: per account and ISO week, the mean engagement of its posts at 1, 3 and 7 days old.",
            [names.key(ENGAGEMENT_BY_AGE)],
            _view_schema(WEEKLY_BY_AGE_COLUMNS),
        ),
    )
