"""The two tables, as daily-partitioned assets that write their own slices."""

import datetime as dt
from collections.abc import Callable
from typing import Any

import dagster as dg

from .checks import CheckInput, check_specs, run_checks
from .constants import ACCOUNT_INSIGHTS, ACCOUNTS_TAG, GROUP, POOL, TWEET_INSIGHTS
from .loads import LoadResult, PastObservationError, load_account_insights, load_tweet_insights
from .markdown import markdown_table
from .partitions import daily_partitions
from .resources import XResource
from .source import SourceConfigError
from .tables import ACCOUNT_INSIGHTS_TABLE, TWEET_INSIGHTS_TABLE, Table
from .warehouse import DuplicateKeyError, Warehouse, WarehouseError
from .x_api.calls import XFatalError

KINDS = {"x", "duckdb", "polars"}

# The schedules load yesterday at 00:30 and re-read the lookback at 01:00 UTC; by 03:00 both
# tables should have been written that day, or something is wrong.
DAILY_FRESHNESS = dg.FreshnessPolicy.cron(
    deadline_cron="0 3 * * *", lower_bound_delta=dt.timedelta(hours=3), timezone="UTC"
)


def table_asset(table: Table) -> dict[str, Any]:
    """What every table asset shares: UTC days, one run per backfill, the x_api pool, its schema."""
    return {
        "partitions_def": daily_partitions,
        "backfill_policy": dg.BackfillPolicy.single_run(),
        "group_name": GROUP,
        "pool": POOL,
        "kinds": KINDS,
        "metadata": {
            "dagster/column_schema": table.table_schema(),
            "dagster/table_name": f"warehouse.{table.qualified}",
            "partition_expr": table.date_column,
        },
    }


def window(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    window = context.partition_time_window
    return window.start.date(), (window.end - dt.timedelta(days=1)).date()


def _only_accounts(context: dg.AssetExecutionContext) -> list[str] | None:
    tag = context.run.tags.get(ACCOUNTS_TAG)
    return [key for key in tag.split(",") if key] if tag else None


def _run(
    context: dg.AssetExecutionContext,
    x: XResource,
    warehouse: Warehouse,
    table: Table,
    load: Callable[[dt.date, dt.date], LoadResult],
) -> dg.MaterializeResult:
    endpoint = table.name
    try:
        session = x.open()
        first, last = window(context)
        if endpoint not in session.source.endpoints:
            context.log.warning(f"{endpoint} is not among the endpoints of {session.source.path}; nothing read")
            return dg.MaterializeResult(
                metadata={"skipped": f"{endpoint} disabled in {session.source.path}"},
                check_results=_checks(x, warehouse, table, first, last, [], context),
            )
        result = load(first, last)
    except (SourceConfigError, PastObservationError, XFatalError, DuplicateKeyError, WarehouseError) as exc:
        # Waiting or retrying cannot fix these; say what to do instead of showing a traceback.
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    metadata = result.metadata()
    if result.preview is not None and result.preview.height:
        metadata["preview"] = dg.MetadataValue.md(markdown_table(result.preview, skip=("fetched_at",)))
    if result.failed:
        names = ", ".join(f"{s.label} ({s.detail})" for s in result.failed)
        raise dg.Failure(
            description=f"{endpoint}: {len(result.failed)} account(s) failed after retries: {names}. "
            "The other accounts were written; the failed accounts' stored rows were kept.",
            metadata=metadata,
        )
    return dg.MaterializeResult(
        metadata=metadata, check_results=_checks(x, warehouse, table, first, last, result.states, context)
    )


def _checks(
    x: XResource,
    warehouse: Warehouse,
    table: Table,
    first: dt.date,
    last: dt.date,
    states: list[Any],
    context: dg.AssetExecutionContext,
) -> list[dg.AssetCheckResult]:
    with warehouse.connect(context.log) as conn:
        results = run_checks(CheckInput(conn, table, first, last, states, x.follower_drop_warn))
    for result in results:
        if not result.passed:
            level = context.log.error if result.severity == dg.AssetCheckSeverity.ERROR else context.log.warning
            rows = result.metadata["offending_rows"].value
            level(f"check {table.name}.{result.check_name} failed: {rows} row(s) break the rule ({result.description})")
    return results


@dg.asset(
    **table_asset(ACCOUNT_INSIGHTS_TABLE),
    check_specs=check_specs(ACCOUNT_INSIGHTS),
    freshness_policy=DAILY_FRESHNESS,
)
def account_insights(context: dg.AssetExecutionContext, x: XResource, warehouse: Warehouse) -> dg.MaterializeResult:
    """Daily snapshot per account: followers, following, total posts, lists and likes given."""
    return _run(
        context,
        x,
        warehouse,
        ACCOUNT_INSIGHTS_TABLE,
        lambda first, last: load_account_insights(x, warehouse, first, last, context.log, _only_accounts(context)),
    )


@dg.asset(
    **table_asset(TWEET_INSIGHTS_TABLE),
    check_specs=check_specs(TWEET_INSIGHTS),
    freshness_policy=DAILY_FRESHNESS,
)
def tweet_insights(context: dg.AssetExecutionContext, x: XResource, warehouse: Warehouse) -> dg.MaterializeResult:
    """One row per post, by UTC creation day: text, language, flags and engagement counts."""
    return _run(
        context,
        x,
        warehouse,
        TWEET_INSIGHTS_TABLE,
        lambda first, last: load_tweet_insights(x, warehouse, first, last, context.log, _only_accounts(context)),
    )
