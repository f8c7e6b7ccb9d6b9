"""Insights computed from the two tables: follower growth and post engagement, with charts."""

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from .assets import account_insights, table_asset, tweet_insights, window
from .charts import followers_chart, markdown_image, save_chart, weekly_engagement_chart
from .derived import ACCOUNT_DAILY_GROWTH, TOP_TWEETS_VIEW, TWEET_ENGAGEMENT, Derivation, derive
from .markdown import markdown_table
from .resources import XResource
from .source import SourceConfigError, load_source
from .tables import BUILTIN_COLUMNS
from .warehouse import Warehouse, WarehouseError, frame

CHARTS_FOLDER = "charts"


def _derive(
    context: dg.AssetExecutionContext,
    x: XResource,
    warehouse: Warehouse,
    derivation: Derivation,
    chart: Callable[[duckdb.DuckDBPyConnection, dt.date], bytes],
    chart_name: str,
    extra: Callable[[duckdb.DuckDBPyConnection, dt.date], dict[str, Any]] | None = None,
) -> dg.MaterializeResult:
    try:
        default_schema = load_source(x.source_file, reserved_columns=BUILTIN_COLUMNS).default_schema
    except SourceConfigError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    first, last = window(context)
    try:
        result = derive(warehouse, context.log, derivation, first, last, default_schema)
        with warehouse.connect(context.log) as conn:
            png = chart(conn, last)
            more = extra(conn, last) if extra is not None else {}
    except WarehouseError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    # Beside the DuckDB file (data/ by default), so the picture is there without the UI.
    path = save_chart(png, Path(warehouse.database).parent / CHARTS_FOLDER / f"{chart_name}.png")
    context.log.info(f"chart written to {path}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": result.rows_written,
            "days": f"{first}..{last}" if first != last else str(first),
            "accounts": result.accounts,
            "preview": dg.MetadataValue.md(markdown_table(result.preview)),
            "chart": dg.MetadataValue.md(markdown_image(png, chart_name)),
            "chart_path": dg.MetadataValue.path(str(path)),
            **more,
        }
    )


def _top_posts(conn: duckdb.DuckDBPyConnection, last: dt.date) -> dict[str, Any]:
    """Each account's best post of the latest week up to the day last, from the weekly view."""
    top = frame(
        conn,
        f"SELECT week, account_name, tweet_id, engagement, round(engagement_rate, 5) AS engagement_rate "
        f"FROM {TOP_TWEETS_VIEW} WHERE rank_in_week = 1 AND week = (SELECT max(week) FROM {TOP_TWEETS_VIEW} "
        "WHERE week <= ?) ORDER BY engagement DESC",
        [last],
    )
    return {"top_posts_of_the_week": dg.MetadataValue.md(markdown_table(top, rows=20))} if top.height else {}


@dg.asset(**table_asset(ACCOUNT_DAILY_GROWTH.table), deps=[account_insights])
def account_daily_growth(context: dg.AssetExecutionContext, x: XResource, warehouse: Warehouse) -> dg.MaterializeResult:
    """Per account per day: followers gained or lost, posts and likes since the previous snapshot."""
    return _derive(context, x, warehouse, ACCOUNT_DAILY_GROWTH, followers_chart, "followers")


@dg.asset(
    **table_asset(TWEET_ENGAGEMENT.table),
    deps=[tweet_insights, account_insights],
)
def tweet_engagement(context: dg.AssetExecutionContext, x: XResource, warehouse: Warehouse) -> dg.MaterializeResult:
    """Per post: engagement (retweets counted once) and engagement per follower at the time."""
    return _derive(context, x, warehouse, TWEET_ENGAGEMENT, weekly_engagement_chart, "weekly_engagement", _top_posts)
