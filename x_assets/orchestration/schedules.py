"""Daily account snapshot, and a lookback that reads yesterday's posts and re-reads recent ones
while their counts still move."""

import datetime as dt
import functools
import os

import dagster as dg

from ..constants import DEFAULT_LOOKBACK_DAYS, ENV_LOOKBACK_DAYS
from .jobs import build_jobs
from .names import DEFAULT_SOURCE, SourceNames

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def lookback_days() -> int:
    raw = os.environ.get(ENV_LOOKBACK_DAYS, "").strip() or str(DEFAULT_LOOKBACK_DAYS)
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw[:6]) <= 90:
        raise ValueError(f"{ENV_LOOKBACK_DAYS} must be a whole number of days from 1 to 90, got {raw[:40]!r}")
    return int(raw)


@functools.cache  # one set of objects per source, however often the definitions are assembled
def build_schedules(names: SourceNames) -> tuple[dg.ScheduleDefinition, dg.ScheduleDefinition]:
    """One source's two schedules: yesterday at 00:30 UTC, and the lookback at 01:00 UTC."""
    jobs = build_jobs(names)

    @dg.schedule(
        name=names.named("x_daily_schedule"),
        job=jobs.account_insights,
        cron_schedule="30 0 * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Every day at 00:30 UTC: yesterday's account snapshot and follower growth (yesterday's "
        "posts come with the 01:00 lookback).",
    )
    def daily(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        """Yesterday is complete at 00:30, and its account snapshot may still be taken (see account_insights)."""
        # Not build_schedule_from_partitioned_job: today is a partition too (end_offset=1), so it would pick today.
        day = context.scheduled_execution_time.astimezone(dt.UTC).date() - dt.timedelta(days=1)
        return dg.RunRequest(run_key=f"daily-{day}", partition_key=day.isoformat())

    @dg.schedule(
        name=names.named("x_tweet_lookback_schedule"),
        job=jobs.tweet_insights,
        cron_schedule="0 1 * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Every day at 01:00 UTC: read the last X_LOOKBACK_DAYS days of posts (default 7, yesterday "
        "included) in one run, then their engagement.",
    )
    def lookback(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        """Likes and retweets keep changing for days, so recent days are read again."""
        days = lookback_days()
        last = context.scheduled_execution_time.astimezone(dt.UTC).date() - dt.timedelta(days=1)
        first = last - dt.timedelta(days=days - 1)
        return dg.RunRequest(
            run_key=f"lookback-{first}-{last}",
            tags={RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()},
        )

    return daily, lookback


x_daily_schedule, x_tweet_lookback_schedule = build_schedules(DEFAULT_SOURCE)
