"""Which UTC days each asset offers as partitions: posts from a source's first day, account
snapshots only from the day snapshots began (X keeps no history of followers)."""

from __future__ import annotations

import datetime as dt
import functools
import os
from dataclasses import dataclass

import dagster as dg

from ..constants import ENV_FIRST_DAY, ENV_SNAPSHOTS_FROM, PARTITIONS_START

X_FIRST_POST = dt.date(2006, 3, 21)


def _day(raw: str, what: str) -> str:
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{what} must be a day written YYYY-MM-DD, got {raw[:40]!r}") from None
    if not X_FIRST_POST <= day <= dt.datetime.now(dt.UTC).date():  # no future day
        raise ValueError(f"{what} must be a past day, from 2006-03-21 (X's first post) on, got {raw!r}")
    return day.isoformat()


def first_day(raw: str | None = None, what: str = ENV_FIRST_DAY) -> str:
    """The first partition of the post tables: raw, else X_FIRST_DAY, else 2024-01-01.

    A later first day means fewer partitions to show and a history load (the new-account sensor's
    run) over fewer days: posts created before it are not loaded.
    """
    if raw is None:
        raw, what = os.environ.get(ENV_FIRST_DAY, ""), ENV_FIRST_DAY
    return _day(raw.strip() or PARTITIONS_START, what)


def snapshots_from(raw: str | None = None, what: str = ENV_SNAPSHOTS_FROM) -> str:
    """The first partition of the account snapshots: raw, else X_SNAPSHOTS_FROM, else yesterday.

    A snapshot can only be taken of the present (yesterday still counts until the 00:30 run), so an
    older day could never be filled: it is not offered. Set it to the day the source began, and its
    snapshot partitions grow by one each day from there; left unset, the UI offers yesterday and
    today as of when the definitions loaded.
    """
    if raw is None:
        raw, what = os.environ.get(ENV_SNAPSHOTS_FROM, ""), ENV_SNAPSHOTS_FROM
    raw = raw.strip()
    if not raw:
        return (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    return _day(raw, what)


@functools.cache  # one object per start day: equal definitions let assets share jobs
def daily(start: str) -> dg.DailyPartitionsDefinition:
    # end_offset=1 makes today a partition, so today's snapshot can be taken and shown.
    return dg.DailyPartitionsDefinition(start_date=start, timezone="UTC", end_offset=1)


@dataclass(frozen=True)
class SourceDays:
    """A source's two partitionings; the snapshots never start before the posts."""

    first_day: str
    snapshots_from: str

    @classmethod
    def from_env(cls) -> SourceDays:
        return cls(first_day(), snapshots_from())

    @property
    def posts(self) -> dg.DailyPartitionsDefinition:
        """tweet_insights and tweet_engagement: any day a post was created on can be read later."""
        return daily(self.first_day)

    @property
    def snapshots(self) -> dg.DailyPartitionsDefinition:
        """account_insights and account_daily_growth: only days that were (or are) the present."""
        return daily(max(self.first_day, self.snapshots_from))


# The default source's post partitions, as configured by the environment when x_assets is imported.
daily_partitions = daily(first_day())
