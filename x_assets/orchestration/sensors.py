"""Notice accounts added to the source file and load their reachable history once."""

import functools
import hashlib
import json
from typing import Any

import dagster as dg

from ..clock import utc_today
from ..constants import (
    ACCOUNTS_TAG,
    ENGAGEMENT_BY_AGE,
    HISTORY_TAG,
    MENTIONS_INSIGHTS,
    TWEET_ENGAGEMENT,
    TWEET_INSIGHTS,
)
from ..ingest.source import SourceConfigError, load_source
from ..warehouse.tables import BUILTIN_COLUMNS
from .dead_runs import release_dead_runs
from .jobs import build_jobs
from .names import SourceNames
from .resources import XResource
from .schedules import RANGE_END_TAG, RANGE_START_TAG
from .shape import DEFAULT_SHAPE, SourceShape


@functools.cache  # one object per source, however often the definitions are assembled
def build_new_accounts_sensor(shape: SourceShape) -> dg.SensorDefinition:
    """One source's sensor: a history run for accounts that appear in its source file."""
    names = shape.names

    @dg.sensor(
        name=names.named("x_new_accounts_sensor"),
        job=build_jobs(names).tweet_insights,
        minimum_interval_seconds=60,
        # Stopped until someone starts it: its first evaluation pays for every account's history.
        default_status=dg.DefaultSensorStatus.STOPPED,
        required_resource_keys={names.x_resource},
        description="Stopped by default, because it spends: once started, its first evaluation loads every "
        "configured account's reachable posts (up to 3,200 post reads per account, about $16 per account at "
        "$0.005 a read) in one run, and later evaluations do the same for each account added to the source file.",
    )
    def new_accounts(context: dg.SensorEvaluationContext, **_: Any) -> dg.SensorResult | dg.SkipReason:
        """One history run for the new accounts only; the others are not read again. The accounts of a
        history run that failed are requested again (with a new run key) at the next evaluation."""
        # (a direct call in a test also passes the source's resources as keywords: the same objects)
        return _new_accounts(context, shape, getattr(context.resources, names.x_resource))

    return new_accounts


def _new_accounts(
    context: dg.SensorEvaluationContext, shape: SourceShape, x: XResource
) -> dg.SensorResult | dg.SkipReason:
    names = shape.names
    try:
        source = load_source(x.source_file, reserved_columns=BUILTIN_COLUMNS)
    except SourceConfigError as exc:
        return dg.SkipReason(f"source file unusable, nothing requested: {exc}")
    state = json.loads(context.cursor) if context.cursor else {}
    if isinstance(state, list):  # the cursor of earlier versions: the accounts requested
        state = {"requested": state}
    requested = set(state.get("requested", []))
    retried: list[str] = state.get("retried", [])
    failed = _failed_history_runs(context, names, set(retried))
    for run in failed:
        requested -= set(run.tags.get(ACCOUNTS_TAG, "").split(","))
        retried.append(run.run_id)
    current = [a.key for a in source.accounts]
    new = [key for key in current if key not in requested]
    cursor = json.dumps({"requested": sorted(requested | set(current)), "retried": retried[-200:]})
    if not new:
        return dg.SensorResult(skip_reason=dg.SkipReason("no new accounts"), cursor=cursor)
    today = utc_today()
    digest = hashlib.sha256(",".join(sorted(new)).encode()).hexdigest()[:16]
    first = shape.days.first_day
    request = dg.RunRequest(
        run_key=f"history-{today}-{digest}-{len(retried)}",  # a retry is a new run, not a duplicate key
        # the new accounts' own tables: search reads queries, not accounts, and the lookback keeps it
        asset_selection=[
            names.key(name) for name in (TWEET_INSIGHTS, TWEET_ENGAGEMENT, ENGAGEMENT_BY_AGE, MENTIONS_INSIGHTS)
        ],
        tags={
            RANGE_START_TAG: first,
            RANGE_END_TAG: today.isoformat(),
            ACCOUNTS_TAG: ",".join(new),
            HISTORY_TAG: names.name,  # which source's history, so each sensor retries only its own
        },
    )
    again = f" ({len(failed)} failed history run(s) requested again)" if failed else ""
    context.log.info(f"{len(new)} new account(s): {', '.join(new)}; requesting their history{again}")
    return dg.SensorResult(run_requests=[request], cursor=cursor)


def _failed_history_runs(
    context: dg.SensorEvaluationContext, names: SourceNames, seen: set[str]
) -> list[dg.DagsterRun]:
    """This source's history runs that failed or were canceled and were not requested again yet."""
    try:
        instance = context.instance
    except dg.DagsterInvariantViolationError:  # a context built without an instance, in a test
        return []
    runs = instance.get_runs(
        filters=dg.RunsFilter(
            # "1": the default source's history runs before sources had names
            tags={HISTORY_TAG: [names.name, "1"] if names.default else names.name},
            statuses=[dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED],
        ),
        limit=100,
    )
    return [run for run in runs if run.run_id not in seen]


x_new_accounts_sensor = build_new_accounts_sensor(DEFAULT_SHAPE)


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every minute: a run of this machine whose process is gone (killed) is marked failed and its "
    "x_api pool slot freed, so later runs do not wait for it forever. Reads nothing from X.",
)
def x_dead_runs_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    """Dagster's run monitoring cannot see a killed run of the default launcher; this does."""
    released = release_dead_runs(context.instance, context.log)
    return dg.SkipReason(f"released {len(released)} dead run(s): {', '.join(released)}" if released else "none dead")
