"""The connector's one clock: now, in UTC.

Every "now" and "today" the connector uses comes from here, so a test or the season
simulation can move the connector through simulated days together with the emulator's
clock (`use_clock`), instead of running on the wall clock while the world runs on another.
X_ASSETS_NOW (an ISO time with its offset) pins it in a child process, for tests and
simulations only: with real credentials it would date every row wrongly.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_source: Callable[[], dt.datetime] | None = None


ENV_NOW = "X_ASSETS_NOW"


def utc_now() -> dt.datetime:
    """Now, as an aware UTC datetime."""
    if _source is not None:
        return _source()
    pinned = os.environ.get(ENV_NOW)
    if pinned:
        return dt.datetime.fromisoformat(pinned).astimezone(dt.UTC)
    return dt.datetime.now(dt.UTC)


def utc_today() -> dt.date:
    return utc_now().date()


@contextmanager
def use_clock(source: Callable[[], dt.datetime]) -> Iterator[None]:
    """Within the block, utc_now() asks source (which must return aware UTC datetimes)."""
    global _source
    previous, _source = _source, source
    try:
        yield
    finally:
        _source = previous
