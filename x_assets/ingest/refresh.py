"""Which stored posts the 'adaptive' refresh policy re-reads: a post is read again at a refresh age
only while its engagement is predicted to have moved since its last read. Plain logic, no I/O.

A post's engagement (likes, its own retweets, replies, quotes) grows fast at first and then settles.
From its last two reads on different UTC days the growth is fitted as E(t) = A (1 - q**t), t its age
in days: the total A it settles at, and q, how much of each day's gain the next day keeps. A post is
re-read when its stored engagement is predicted to be short of its engagement now by more than the
tolerance; with one read only, or a growth that shows no slowing, it is always re-read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_TOLERANCE = 0.02  # of its predicted engagement now (benchmarks/refresh_frontier.py measured 0.02 and 0.04)


@dataclass(frozen=True, slots=True)
class Read:
    """One UTC day's read of a post: its age in days when X answered, and its engagement then."""

    age_days: float
    engagement: int


def settling_curve(earlier: Read, later: Read) -> tuple[float, float] | None:
    """(A, q) of E(t) = A (1 - q**t) through both reads, or None when the growth shows no slowing
    (as fast as, or faster than, a straight line through zero)."""
    t0, t1 = max(earlier.age_days, 1e-3), later.age_days
    e0, e1 = earlier.engagement, later.engagement
    if t1 <= t0 or e1 <= 0:
        return None
    ratio = e0 / e1
    # (1 - q**t0) / (1 - q**t1) falls from 1 (q -> 0: settled at once) to t0 / t1 (q -> 1: linear)
    if ratio <= t0 / t1:
        return None
    if ratio >= 1:
        return float(e1), 0.0
    low, high = 0.0, 1.0
    for _ in range(50):
        q = (low + high) / 2
        if (1 - q**t0) / (1 - q**t1) > ratio:
            low = q
        else:
            high = q
    q = (low + high) / 2
    return e1 / (1 - q**t1), q


def still_moving(reads: Sequence[Read], age_now: float, tolerance: float = DEFAULT_TOLERANCE) -> bool:
    """Whether the post's engagement now is predicted to exceed its last read's by more than
    tolerance of it. reads: one per UTC day, oldest first."""
    if len(reads) < 2:
        return True  # one read tells nothing of how fast the post moves
    earlier, later = reads[-2], reads[-1]
    if later.engagement <= earlier.engagement:
        return False  # nothing gained over a day or more: settled
    curve = settling_curve(earlier, later)
    if curve is None:
        return True
    total, q = curve
    # against the predicted value now, not the total: a growth near a straight line fits a huge total
    predicted = total * (1 - q**age_now)
    return predicted - later.engagement > tolerance * predicted
