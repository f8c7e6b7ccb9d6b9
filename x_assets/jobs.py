"""Asset jobs the schedules and sensors launch."""

import dagster as dg

from .partitions import daily_partitions

x_daily_job = dg.define_asset_job(
    "x_daily_job",
    selection=dg.AssetSelection.assets(
        "account_insights", "tweet_insights", "account_daily_growth", "tweet_engagement"
    ),
    partitions_def=daily_partitions,
    description="Snapshot accounts, load the day's posts, then derive growth and engagement.",
)

tweet_insights_job = dg.define_asset_job(
    "tweet_insights_job",
    selection=dg.AssetSelection.assets("tweet_insights", "tweet_engagement"),
    partitions_def=daily_partitions,
    description="Load or re-read posts for a day or a range of days, then recompute their engagement.",
)
