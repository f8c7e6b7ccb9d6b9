"""The one partitioning every asset shares: UTC days, today included, from the first day on."""

import datetime as dt
import os

import dagster as dg

from ..constants import ENV_FIRST_DAY, PARTITIONS_START


def first_day() -> str:
    """The first partition: X_FIRST_DAY (YYYY-MM-DD), else 2024-01-01; checked when the definitions load.

    A later first day means fewer partitions to show and a history load (the new-account sensor's
    run) over fewer days: posts created before it are not loaded.
    """
    raw = os.environ.get(ENV_FIRST_DAY, "").strip() or PARTITIONS_START
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{ENV_FIRST_DAY} must be a day written YYYY-MM-DD, got {raw[:40]!r}") from None
    if not dt.date(2006, 3, 21) <= day <= dt.datetime.now(dt.UTC).date():  # X's first post; no future day
        raise ValueError(f"{ENV_FIRST_DAY} must be a past day, from 2006-03-21 (X's first post) on, got {raw!r}")
    return day.isoformat()


# end_offset=1 makes today a partition, so today's snapshot can be taken and shown.
daily_partitions = dg.DailyPartitionsDefinition(start_date=first_day(), timezone="UTC", end_offset=1)
