"""Insights computed from the two tables: follower growth and post engagement, with charts."""

import datetime as dt
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from ..constants import TWEET_METRICS_HISTORY
from ..ingest.harvest import days_in
from ..ingest.source import SourceConfigError, load_source
from ..reports.charts import (
    engagement_curve_chart,
    followers_chart,
    markdown_image,
    save_chart,
    weekly_engagement_chart,
)
from ..warehouse.derived import (
    ACCOUNT_DAILY_GROWTH,
    ENGAGEMENT_BY_AGE,
    ENGAGEMENT_WEEKLY_VIEW_NAME,
    TOP_TWEETS_VIEW_NAME,
    TWEET_ENGAGEMENT,
    Derivation,
    derive,
    top_tweets_view,
)
from ..warehouse.store import WarehouseError, frame
from ..warehouse.tables import BUILTIN_COLUMNS
from .assets import (
    build_table_assets,
    checks_of,
    partition_truth,
    partitioned_asset,
    report_side_table,
    source_resources,
    table_asset,
    window,
)
from .checks import check_specs
from .metadata import table_preview
from .names import SourceNames
from .shape import DEFAULT_SHAPE, SourceShape

CHARTS_FOLDER = "charts"


def _derive(
    context: dg.AssetExecutionContext,
    names: SourceNames,
    derivation: Derivation,
    chart: Callable[[duckdb.DuckDBPyConnection, str, dt.date], bytes],
    chart_name: str,
    extra: Callable[[duckdb.DuckDBPyConnection, str, dt.date], dict[str, Any]] | None = None,
) -> dg.MaterializeResult:
    x, store = source_resources(names, context)
    try:
        # Pure SQL over stored tables: the source file is read for its default-schema columns only,
        # so an unset credential variable (needed by reads from X) does not stop it.
        default_schema = load_source(x.source_file, reserved_columns=BUILTIN_COLUMNS, check_env=False).default_schema
    except SourceConfigError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    first, last = window(context)
    try:
        result = derive(store, context.log, derivation, first, last, default_schema)
        with store.connect(context.log) as conn:
            png = chart(conn, store.schema_name, last)
            more = extra(conn, store.schema_name, last) if extra is not None else {}
    except WarehouseError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    # Beside the DuckDB file (data/ by default), so the picture is there without the UI; a named
    # source's charts in a folder of its own.
    folder = Path(store.database).parent / CHARTS_FOLDER
    path = save_chart(png, (folder if names.default else folder / names.name) / f"{chart_name}.png")
    context.log.info(f"chart written to {path}")
    # Each day's own numbers (rows, and what is worth plotting: followers, engagement), so the
    # Plots tab draws curves; the chart and preview said once.
    per_day = {day: result.day_figures.get(day, {"dagster/row_count": 0}) for day in days_in(first, last)}
    run = {
        "run_row_count": result.rows_written,
        "days": f"{first}..{last}" if first != last else str(first),
        "accounts": result.accounts,
    }
    details = {
        "preview": table_preview(result.preview),
        "chart": dg.MetadataValue.md(markdown_image(png, chart_name)),
        "chart_path": dg.MetadataValue.path(str(path)),
        **more,
    }
    metadata = partition_truth(context, (first, last), per_day, run, details)
    checks = checks_of(context, store, derivation.table, first, last, [])
    return dg.MaterializeResult(metadata=metadata, check_results=checks)


def _top_posts(conn: duckdb.DuckDBPyConnection, schema: str, last: dt.date) -> dict[str, Any]:
    """Each account's best post of the latest week up to the day last, from the weekly view."""
    view = top_tweets_view(schema)
    top = frame(
        conn,
        f"SELECT week, account_name, tweet_id, engagement, round(engagement_rate, 5) AS engagement_rate "
        f"FROM {view} WHERE rank_in_week = 1 AND week = (SELECT max(week) FROM {view} "
        "WHERE week <= ?) ORDER BY engagement DESC",
        [last],
    )
    return {"top_posts_of_the_week": table_preview(top, rows=20)} if top.height else {}


@functools.cache  # one set of objects per source, however often the definitions are assembled
def build_derived_assets(
    shape: SourceShape,
) -> tuple[dg.AssetsDefinition, dg.AssetsDefinition, dg.AssetsDefinition]:
    """One source's insights computed from its two tables, with no X reads."""
    names = shape.names
    account_insights, tweet_insights, *_ = build_table_assets(shape)
    resource_keys = {names.x_resource, names.warehouse_resource}

    @partitioned_asset(
        **table_asset(shape, ACCOUNT_DAILY_GROWTH.table, shape.days.snapshots),
        check_specs=check_specs(names.key(ACCOUNT_DAILY_GROWTH.table.name)),
        deps=[account_insights],
        required_resource_keys=resource_keys,
    )
    def account_daily_growth(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        """Per account per day: followers gained or lost, posts and likes since the previous snapshot."""
        return _derive(context, names, ACCOUNT_DAILY_GROWTH, followers_chart, "followers")

    @partitioned_asset(
        **table_asset(shape, TWEET_ENGAGEMENT.table, shape.days.posts),
        check_specs=check_specs(names.key(TWEET_ENGAGEMENT.table.name)),
        deps=[tweet_insights, account_insights],
        required_resource_keys=resource_keys,
    )
    def tweet_engagement(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        """Per post: engagement (retweets counted once) and engagement per follower at the time."""
        result = _derive(context, names, TWEET_ENGAGEMENT, weekly_engagement_chart, "weekly_engagement", _top_posts)
        report_side_table(context, names.key(TOP_TWEETS_VIEW_NAME), "tweet_engagement")  # the view, recreated
        return result

    @partitioned_asset(
        **table_asset(shape, ENGAGEMENT_BY_AGE.table, shape.days.posts),
        check_specs=check_specs(names.key(ENGAGEMENT_BY_AGE.table.name)),
        deps=[tweet_insights, names.key(TWEET_METRICS_HISTORY)],
        required_resource_keys=resource_keys,
    )
    def engagement_by_age(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        """Per post: engagement when it was 1, 3 and 7 days old, from the daily metrics history."""
        result = _derive(context, names, ENGAGEMENT_BY_AGE, engagement_curve_chart, "engagement_by_age")
        report_side_table(context, names.key(ENGAGEMENT_WEEKLY_VIEW_NAME), "engagement_by_age")
        return result

    return account_daily_growth, tweet_engagement, engagement_by_age


account_daily_growth, tweet_engagement, engagement_by_age = build_derived_assets(DEFAULT_SHAPE)
