"""Asset jobs the schedules and sensors launch."""

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:  # the type define_asset_job returns; not exported at the top of dagster
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from ..constants import ACCOUNT_DAILY_GROWTH, ACCOUNT_INSIGHTS, TWEET_ENGAGEMENT, TWEET_INSIGHTS
from .names import DEFAULT_SOURCE, SourceNames


@dataclass(frozen=True)
class SourceJobs:
    daily: "UnresolvedAssetJobDefinition"
    tweet_insights: "UnresolvedAssetJobDefinition"


@functools.cache  # one set of objects per source, however often the definitions are assembled
def build_jobs(names: SourceNames) -> SourceJobs:
    """One source's jobs: the daily load of everything, and posts with their engagement."""
    daily = dg.define_asset_job(
        names.named("x_daily_job"),
        selection=dg.AssetSelection.assets(
            *(names.key(a) for a in (ACCOUNT_INSIGHTS, TWEET_INSIGHTS, ACCOUNT_DAILY_GROWTH, TWEET_ENGAGEMENT))
        ),
        description="Snapshot accounts, load the day's posts, then derive growth and engagement.",
    )
    posts = dg.define_asset_job(
        names.named("tweet_insights_job"),
        selection=dg.AssetSelection.assets(names.key(TWEET_INSIGHTS), names.key(TWEET_ENGAGEMENT)),
        description="Load or re-read posts for a day or a range of days, then recompute their engagement.",
    )
    return SourceJobs(daily=daily, tweet_insights=posts)


_DEFAULT_JOBS = build_jobs(DEFAULT_SOURCE)
x_daily_job = _DEFAULT_JOBS.daily
tweet_insights_job = _DEFAULT_JOBS.tweet_insights
