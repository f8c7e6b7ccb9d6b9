"""The two tables, as daily-partitioned assets that write their own slices."""

import datetime as dt
import functools
import warnings
from collections.abc import Callable
from typing import Any

import dagster as dg
from pydantic import Field

from ..constants import ACCOUNT_INSIGHTS, ACCOUNT_STATUS, ACCOUNTS_TAG, TWEET_INSIGHTS, TWEET_METRICS_HISTORY
from ..ingest.harvest import days_in
from ..ingest.loads import LoadResult, PastObservationError, load_account_insights, load_tweet_insights
from ..ingest.mentions import load_mentions_insights
from ..ingest.rebuild import RebuildError, RebuildResult, rebuild
from ..ingest.search import load_search_insights
from ..ingest.source import SourceConfigError
from ..warehouse.store import DuplicateKeyError, Store, WarehouseError
from ..warehouse.tables import (
    ACCOUNT_INSIGHTS_TABLE,
    MENTIONS_INSIGHTS_TABLE,
    SEARCH_INSIGHTS_TABLE,
    TWEET_INSIGHTS_TABLE,
    Table,
)
from ..x_api.calls import XFatalError
from .checks import CHECKS, CheckInput, check_specs, run_checks
from .metadata import table_preview
from .names import SourceNames
from .resources import Warehouse, XResource
from .shape import DEFAULT_SHAPE, SourceShape

KINDS = {"x", "duckdb", "polars"}
ACCOUNTS_CHECK = "accounts_accounted_for"  # the check that needs the accounts a run read
REBUILT = "a rebuild from the archive reads no account"

# The schedules load yesterday at 00:30 and re-read the lookback at 01:00 UTC; by 03:00 both
# tables should have been written that day, or something is wrong.
DAILY_FRESHNESS = dg.FreshnessPolicy.cron(
    deadline_cron="0 3 * * *", lower_bound_delta=dt.timedelta(hours=3), timezone="UTC"
)


def partitioned_asset(**kwargs: Any) -> Any:
    """dg.asset, without the BetaWarning Dagster prints for backfill_policy at every start: the
    policy is chosen on purpose (a backfill is one run that reads each account's window once)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=dg.BetaWarning, message="Parameter `backfill_policy`")
        return dg.asset(**kwargs)


def table_asset(shape: SourceShape, table: Table, partitions_def: dg.PartitionsDefinition) -> dict[str, Any]:
    """What every table asset shares: UTC days, one run per backfill, the x_api pool, its schema."""
    names = shape.names
    return {
        "key": names.key(table.name),
        "partitions_def": partitions_def,
        "backfill_policy": dg.BackfillPolicy.single_run(),
        "group_name": names.group,
        "pool": names.pool,
        "kinds": KINDS,
        "metadata": {
            "dagster/column_schema": column_schema(table, shape.default_columns),
            "dagster/table_name": f"warehouse.{table.in_schema(names.schema).qualified}",
            "partition_expr": table.date_column,
        },
    }


def column_schema(table: Table, default_columns: tuple[tuple[str, str], ...] = ()) -> dg.TableSchema:
    """The table's columns as the UI's column schema, each with its description, then the source's
    default_schema columns, which every table of the source carries."""
    columns = [dg.TableColumn(c.name, c.sql_type, description=c.description) for c in table.columns]
    for name, sql_type in default_columns:
        columns.append(dg.TableColumn(name, sql_type, description="A constant from the source's default_schema."))
    return dg.TableSchema(columns=columns)


def window(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    window = context.partition_time_window
    return window.start.date(), (window.end - dt.timedelta(days=1)).date()


def _only_accounts(context: dg.AssetExecutionContext) -> list[str] | None:
    tag = context.run.tags.get(ACCOUNTS_TAG)
    return [key for key in tag.split(",") if key] if tag else None


def source_resources(names: SourceNames, context: dg.AssetExecutionContext) -> tuple[XResource, Store]:
    """The source's own X access and tables (each source has its own resource keys)."""
    warehouse: Warehouse = getattr(context.resources, names.warehouse_resource)
    return getattr(context.resources, names.x_resource), warehouse.store()


class TableRun(dg.Config):
    """Run config of the tables a rebuild can make (account_insights, tweet_insights)."""

    from_archive: bool = Field(
        default=False,
        description="Rebuild the run's days from the raw archive of X's answers instead of reading X: no "
        "request is sent, nothing is billed (as `x-assets rebuild`). Days no archived run read keep their rows.",
    )


def _run(
    context: dg.AssetExecutionContext,
    names: SourceNames,
    table: Table,
    load: Callable[..., LoadResult],  # load_account_insights or load_tweet_insights
    config: TableRun | None = None,
) -> dg.MaterializeResult:
    x, store = source_resources(names, context)
    endpoint = table.name
    try:
        session = x.open()
        first, last = window(context)
        if endpoint not in session.source.endpoints:
            # Nothing read, nothing written: the checks have no slice to judge, and say so.
            reason = f"{endpoint} is not among the endpoints of {session.source.path}"
            context.log.warning(f"{reason}; nothing read")
            return dg.MaterializeResult(
                metadata={"skipped": f"{endpoint} disabled in {session.source.path}"},
                check_results=skipped_checks(table, reason),
            )
        if config is not None and config.from_archive:
            rebuilt = rebuild(store, session.source, endpoint, first, last, context.log)
            return _rebuilt(context, store, table, rebuilt, x.follower_drop_warn)
        result = load(session, x.settings(), store, first, last, context.log, _only_accounts(context))
    except (
        SourceConfigError,
        PastObservationError,
        XFatalError,
        DuplicateKeyError,
        WarehouseError,
        RebuildError,
    ) as exc:
        # Waiting or retrying cannot fix these; say what to do instead of showing a traceback.
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    metadata = run_metadata(context, result)
    tag_cost(context, result)
    what = f"{endpoint} {result.days[0]}..{result.days[1]}"
    report_side_table(context, names.key(ACCOUNT_STATUS), what)
    if result.observations is not None:
        report_side_table(context, names.key(TWEET_METRICS_HISTORY), f"{what}: {result.observations} observation(s)")
    failed = [f"{s.label} ({s.detail})" for s in result.failed] + result.other_failures
    if failed:
        raise dg.Failure(
            description=f"{endpoint}: {len(failed)} failed after retries: {', '.join(failed)}. "
            "The others were written; the failed ones' stored rows were kept.",
            metadata=metadata,
        )
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=checks_of(context, store, table, first, last, result.states, x.follower_drop_warn),
    )


def _rebuilt(
    context: dg.AssetExecutionContext, store: Store, table: Table, result: RebuildResult, follower_drop_warn: float
) -> dg.MaterializeResult:
    """A rebuild's materialization: each day's rows, nothing read from X, and the checks of the
    rebuilt slice. Whether every account was accounted for was judged by the runs that read X: a
    rebuild reads no account, so that check says it was not run rather than pass on nothing."""
    first, last = result.days
    per_day = {
        day: {"dagster/row_count": result.rows_per_day.get(day, 0), "post_reads": 0, "user_reads": 0}
        for day in days_in(first, last)
    }
    run = {"run_rows": result.rows, "run_requests": 0, "from_archive": True}
    details = {"archived_answers": result.answers, "archive_files": result.files}
    metadata = partition_truth(context, result.days, per_day, run, details)
    checks = [
        _not_judged(c.check_name, c.severity, REBUILT, "Not judged by a rebuild (the runs that read X judged it)")
        if c.check_name == ACCOUNTS_CHECK
        else c
        for c in checks_of(context, store, table, first, last, [], follower_drop_warn)
    ]
    return dg.MaterializeResult(metadata=metadata, check_results=checks)


def partition_truth(
    context: dg.AssetExecutionContext,
    days: tuple[dt.date, dt.date],
    per_day: dict[dt.date, dict[str, Any]],
    run: dict[str, Any],
    details: dict[str, Any],
) -> dict[str, Any]:
    """The metadata of a run that writes one materialization per day (a ranged run): each day gets
    its own figures (per_day); the run's totals (run, under run_* keys) go on every day; its detail
    is said once, on the day's materialization for a one-day run, else in one observation of the
    run's last day, not copied onto hundreds of days. Returns the materialization's metadata."""
    first, last = days
    for day, figures in per_day.items():
        context.add_asset_metadata({k: v for k, v in figures.items() if v is not None}, partition_key=str(day))
    if first == last:
        return {**run, **details}
    context.log_event(
        dg.AssetObservation(
            asset_key=context.asset_key,
            partition=str(last),
            description=f"The run {context.run_id} over {first}..{last}: its detail, said once.",
            metadata={**run, **details},
        )
    )
    return run


def run_metadata(context: dg.AssetExecutionContext, result: LoadResult) -> dict[str, Any]:
    """Each day's own rows, reads and cost; the run's totals; its per-account and per-route detail."""
    details = result.run_details()
    if result.preview is not None and result.preview.height:
        details["preview"] = table_preview(result.preview, skip=("fetched_at",))
    return partition_truth(context, result.days, result.day_figures(), result.run_metadata(), details)


def report_side_table(context: dg.AssetExecutionContext, key: dg.AssetKey, what: str) -> None:
    """A table written beside the asset's own (see catalog.py) says when, and by which run."""
    context.log_event(dg.AssetMaterialization(asset_key=key, description=f"Written with {what}."))


def tag_cost(context: dg.AssetExecutionContext, result: LoadResult) -> None:
    """The run's reads and estimated cost as run tags, so the runs list and the run page show
    them; a run of several assets (the daily job) adds its steps up."""
    run = context.instance.get_run_by_id(context.run_id)
    tags = run.tags if run is not None else {}
    spent = {
        "x/estimated_usd": f"{float(tags.get('x/estimated_usd', 0)) + result.estimated_usd:.4f}",
        "x/post_reads": str(int(tags.get("x/post_reads", 0)) + result.post_reads),
        **(
            {"x/owned_reads": str(int(tags.get("x/owned_reads", 0)) + result.owned_reads)} if result.owned_reads else {}
        ),
        "x/user_reads": str(int(tags.get("x/user_reads", 0)) + result.user_reads),
        # what the run added to X's bill of the day, less what earlier runs had read (the read ledger)
        **(
            {"x/billed_usd": f"{float(tags.get('x/billed_usd', 0)) + result.billed_usd:.4f}"}
            if result.billed_usd is not None
            else {}
        ),
    }
    context.instance.add_run_tags(context.run_id, spent)


def skipped_checks(table: Table, reason: str) -> list[dg.AssetCheckResult]:
    said = "Nothing written, nothing to check"
    return [_not_judged(check.name, check.severity, reason, said) for check in CHECKS[table.name]]


def _not_judged(name: str, severity: dg.AssetCheckSeverity, reason: str, said: str) -> dg.AssetCheckResult:
    """A check that was not run, saying so (the UI has no third state between passed and failed)."""
    return dg.AssetCheckResult(
        check_name=name,
        passed=True,
        severity=severity,
        metadata={"offending_rows": 0, "skipped": reason},
        description=f"{said}: {reason}.",
    )


def checks_of(
    context: dg.AssetExecutionContext,
    store: Store,
    table: Table,
    first: dt.date,
    last: dt.date,
    states: list[Any],
    follower_drop_share: float = 0.0,
) -> list[dg.AssetCheckResult]:
    """The table's checks over the slice just written, each failure logged with its row count."""
    with store.connect(context.log) as conn:
        stored = store.table(table)
        results = run_checks(CheckInput(conn, stored, first, last, states, follower_drop_share))
    for result in results:
        if not result.passed:
            level = context.log.error if result.severity == dg.AssetCheckSeverity.ERROR else context.log.warning
            rows = result.metadata["offending_rows"].value
            level(f"check {table.name}.{result.check_name} failed: {rows} row(s) break the rule ({result.description})")
    return results


@functools.cache  # one set of objects per source, however often the definitions are assembled
def build_table_assets(shape: SourceShape) -> tuple[dg.AssetsDefinition, ...]:
    """One source's tables read from X: account_insights, tweet_insights, mentions_insights and
    search_insights (the last two opt-in through the source file's endpoints)."""
    names = shape.names
    resource_keys = {names.x_resource, names.warehouse_resource}

    @partitioned_asset(
        **table_asset(shape, ACCOUNT_INSIGHTS_TABLE, shape.days.snapshots),
        check_specs=check_specs(names.key(ACCOUNT_INSIGHTS)),
        freshness_policy=DAILY_FRESHNESS,
        required_resource_keys=resource_keys,
    )
    def account_insights(context: dg.AssetExecutionContext, config: TableRun) -> dg.MaterializeResult:
        """Daily snapshot per account: followers, following, total posts, lists and likes given."""
        return _run(context, names, ACCOUNT_INSIGHTS_TABLE, load_account_insights, config)

    @partitioned_asset(
        **table_asset(shape, TWEET_INSIGHTS_TABLE, shape.days.posts),
        check_specs=check_specs(names.key(TWEET_INSIGHTS)),
        freshness_policy=DAILY_FRESHNESS,
        required_resource_keys=resource_keys,
    )
    def tweet_insights(context: dg.AssetExecutionContext, config: TableRun) -> dg.MaterializeResult:
        """One row per post, by UTC creation day: text, language, flags and engagement counts."""
        return _run(context, names, TWEET_INSIGHTS_TABLE, load_tweet_insights, config)

    @partitioned_asset(
        **table_asset(shape, MENTIONS_INSIGHTS_TABLE, shape.days.posts),
        check_specs=check_specs(names.key(MENTIONS_INSIGHTS_TABLE.name)),
        required_resource_keys=resource_keys,
    )
    def mentions_insights(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        """Posts that @mention each account, by UTC creation day, with their authors (opt-in endpoint)."""
        return _run(context, names, MENTIONS_INSIGHTS_TABLE, load_mentions_insights)

    @partitioned_asset(
        **table_asset(shape, SEARCH_INSIGHTS_TABLE, shape.days.posts),
        check_specs=check_specs(names.key(SEARCH_INSIGHTS_TABLE.name)),
        required_resource_keys=resource_keys,
    )
    def search_insights(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        """Posts matching each of the source file's queries, by UTC creation day (last 7 days; opt-in)."""
        return _run(context, names, SEARCH_INSIGHTS_TABLE, load_search_insights)

    return account_insights, tweet_insights, mentions_insights, search_insights


# The project's default source, under the names it has always had.
account_insights, tweet_insights, mentions_insights, search_insights = build_table_assets(DEFAULT_SHAPE)
