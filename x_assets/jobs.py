"""Asset jobs the schedules and sensors launch."""

import dagster as dg

from .partitions import daily_partitions

x_daily_job = dg.define_asset_job(
    "x_daily_job",
    selection=dg.AssetSelection.assets("account_insights", "tweet_insights"),
    partitions_def=daily_partitions,
    description="Snapshot account_insights and load the day's posts into tweet_insights.",
)

tweet_insights_job = dg.define_asset_job(
    "tweet_insights_job",
    selection=dg.AssetSelection.assets("tweet_insights"),
    partitions_def=daily_partitions,
    description="Load or re-read posts for a day or a range of days.",
)
