"""The one partitioning every asset shares: UTC days, today included."""

import dagster as dg

from .constants import PARTITIONS_START

# end_offset=1 makes today a partition, so today's snapshot can be taken and shown.
daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC", end_offset=1)
