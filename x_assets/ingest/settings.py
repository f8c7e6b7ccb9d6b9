"""What a run needs to know besides the source file: parallelism, the read budget, refresh, prices."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..x_api.calls import CallPolicy
from .refresh import DEFAULT_TOLERANCE as DEFAULT_TOLERANCE  # re-exported with the other defaults

# Bounds of the settings, declared once: the XResource's and the component's fields enforce them,
# and the environment parsing (definitions.settings_from_env) quotes them in its messages.
# Requests in flight are bounded by the rate-limit windows the workers share, not by their number:
# 64 reach 500 accounts' timelines at about three times the speed of 16 on 100 ms answers.
MAX_WORKERS = 256
DEFAULT_WORKERS = 64
MAX_AGE_DAYS = 365
MAX_POST_READS = 10**9
MAX_ARCHIVE_DAYS = 3650
DEFAULT_ARCHIVE_DAYS = 90  # raw answers kept for rebuilds (warehouse/archive.py)
RefreshPolicy = Literal["window", "ages", "adaptive"]
INCREMENTAL_POLICIES = ("ages", "adaptive")  # new posts by since_id, stored ones re-read by id
# Refresh ages when none are given. 'adaptive' reads every post a second time at 4 days (by then most
# have settled, and the fit on two reads says which still move) and the movers again at 7: in the
# season simulation that met day-7 within 5% for 95% of posts at under 2.5 reads (benchmarks/refresh_frontier.py).
DEFAULT_AGES = {"window": [1, 3, 7], "ages": [1, 3, 7], "adaptive": [4, 7]}


def default_ages(policy: str) -> list[int]:
    return list(DEFAULT_AGES.get(policy, DEFAULT_AGES["ages"]))


@dataclass
class RunSettings:
    """Plain settings of one run, as the XResource (or a script) gives them."""

    call_policy: CallPolicy = field(default_factory=CallPolicy)
    max_workers: int = DEFAULT_WORKERS
    max_post_reads: int | None = None
    refresh_policy: RefreshPolicy = "window"
    refresh_ages: list[int] = field(default_factory=lambda: [1, 3, 7])
    refresh_tolerance: float = DEFAULT_TOLERANCE  # 'adaptive': re-read only a post predicted to move more
    post_read_usd: float = 0.005
    user_read_usd: float = 0.010
    owned_read_usd: float = 0.001  # a post of an account's own timeline, read with its own credentials
    archive_days: int = DEFAULT_ARCHIVE_DAYS  # raw answers kept this many days (0: none), for rebuilds
