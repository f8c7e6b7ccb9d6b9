"""Asset jobs the schedules and sensors launch."""

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:  # the type define_asset_job returns; not exported at the top of dagster
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from ..constants import (
    ACCOUNT_DAILY_GROWTH,
    ACCOUNT_INSIGHTS,
    ENGAGEMENT_BY_AGE,
    MENTIONS_INSIGHTS,
    SEARCH_INSIGHTS,
    TWEET_ENGAGEMENT,
    TWEET_INSIGHTS,
)
from .names import DEFAULT_SOURCE, SourceNames


@dataclass(frozen=True)
class SourceJobs:
    account_insights: "UnresolvedAssetJobDefinition"
    tweet_insights: "UnresolvedAssetJobDefinition"


@functools.cache  # one set of objects per source, however often the definitions are assembled
def build_jobs(names: SourceNames) -> SourceJobs:
    """One source's jobs: the account snapshot with its growth, and posts with their engagement.

    Two jobs, because their partitions differ: posts of any past day can be read, an account
    snapshot only of the present (a Dagster job holds assets of one partitioning).
    """
    snapshot = dg.define_asset_job(
        names.named("account_insights_job"),
        selection=dg.AssetSelection.assets(names.key(ACCOUNT_INSIGHTS), names.key(ACCOUNT_DAILY_GROWTH)),
        description="Snapshot the accounts (followers, posts, likes given), then derive their daily growth.",
    )
    posts = dg.define_asset_job(
        names.named("tweet_insights_job"),
        selection=dg.AssetSelection.assets(
            names.key(TWEET_INSIGHTS),
            names.key(TWEET_ENGAGEMENT),
            names.key(ENGAGEMENT_BY_AGE),
            names.key(MENTIONS_INSIGHTS),
            names.key(SEARCH_INSIGHTS),
        ),
        description="Load or re-read posts for a day or a range of days (each read kept in the metrics history), "
        "then recompute their engagement and engagement by age; with the mentions and search matches of those "
        "days, when the source enables them.",
    )
    return SourceJobs(account_insights=snapshot, tweet_insights=posts)


_DEFAULT_JOBS = build_jobs(DEFAULT_SOURCE)
account_insights_job = _DEFAULT_JOBS.account_insights
tweet_insights_job = _DEFAULT_JOBS.tweet_insights
