"""The two tables, as daily-partitioned assets that write their own slices."""

import datetime as dt
from collections.abc import Callable
from typing import Any

import dagster as dg

from .constants import ACCOUNTS_TAG, GROUP, POOL
from .loads import LoadResult, PastObservationError, load_account_insights, load_tweet_insights
from .partitions import daily_partitions
from .resources import XResource
from .source import SourceConfigError
from .tables import ACCOUNT_INSIGHTS_TABLE, TWEET_INSIGHTS_TABLE, Table
from .warehouse import Warehouse
from .x_api.calls import XFatalError

KINDS = {"x", "duckdb", "polars"}


def _table_asset(table: Table) -> dict[str, Any]:
    """What both tables share: UTC days, one run per backfill, the x_api pool, their schema."""
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


def _window(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    window = context.partition_time_window
    return window.start.date(), (window.end - dt.timedelta(days=1)).date()


def _only_accounts(context: dg.AssetExecutionContext) -> list[str] | None:
    tag = context.run.tags.get(ACCOUNTS_TAG)
    return [key for key in tag.split(",") if key] if tag else None


def _run(
    context: dg.AssetExecutionContext, x: XResource, endpoint: str, load: Callable[[dt.date, dt.date], LoadResult]
) -> dg.MaterializeResult:
    try:
        session = x.open()
        if endpoint not in session.source.endpoints:
            context.log.warning(f"{endpoint} is not among the endpoints of {session.source.path}; nothing read")
            return dg.MaterializeResult(metadata={"skipped": f"{endpoint} disabled in {session.source.path}"})
        first, last = _window(context)
        result = load(first, last)
    except (SourceConfigError, PastObservationError, XFatalError) as exc:
        # Waiting or retrying cannot fix these; say what to do instead of showing a traceback.
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    metadata = result.metadata()
    if result.preview is not None and result.preview.height:
        metadata["preview"] = dg.MetadataValue.md(_markdown(result.preview))
    if result.failed:
        names = ", ".join(f"{s.label} ({s.detail})" for s in result.failed)
        raise dg.Failure(
            description=f"{endpoint}: {len(result.failed)} account(s) failed after retries: {names}. "
            "The other accounts were written; the failed accounts' stored rows were kept.",
            metadata=metadata,
        )
    return dg.MaterializeResult(metadata=metadata)


def _markdown(frame: Any) -> str:
    columns = [c for c in frame.columns if c not in ("fetched_at",)][:8]
    rows = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in frame.select(columns).iter_rows():
        rows.append("| " + " | ".join(str(v).replace("|", "\\|").replace("\n", " ")[:60] for v in row) + " |")
    return "\n".join(rows)


@dg.asset(**_table_asset(ACCOUNT_INSIGHTS_TABLE))
def account_insights(context: dg.AssetExecutionContext, x: XResource, warehouse: Warehouse) -> dg.MaterializeResult:
    """Daily snapshot per account: followers, following, total posts, lists and likes given."""
    return _run(
        context,
        x,
        "account_insights",
        lambda first, last: load_account_insights(x, warehouse, first, last, context.log, _only_accounts(context)),
    )


@dg.asset(**_table_asset(TWEET_INSIGHTS_TABLE))
def tweet_insights(context: dg.AssetExecutionContext, x: XResource, warehouse: Warehouse) -> dg.MaterializeResult:
    """One row per post, by UTC creation day: text, language, flags and engagement counts."""
    return _run(
        context,
        x,
        "tweet_insights",
        lambda first, last: load_tweet_insights(x, warehouse, first, last, context.log, _only_accounts(context)),
    )
