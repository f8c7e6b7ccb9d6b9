"""Request accounting: 15-minute rate-limit windows and the reads X would bill."""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections import Counter
from typing import Any

WINDOW_S = 900

# Per 15 minutes, (app-only bearer, user context), from X's published table.
DEFAULT_LIMITS: dict[str, tuple[int, int]] = {
    "users": (300, 900),
    "timeline": (10_000, 900),
    "tweets": (3_500, 5_000),
    "tweet": (450, 900),
    "mentions": (450, 300),
    "search": (450, 300),
    "usage": (50, 50),  # app-only: a user-context request is refused before it counts
}
PROJECT_ID = "1712345678901234567"  # the one project and app every emulator credential belongs to
CLIENT_APP_ID = "29876543"


class RateLimiter:
    def __init__(self, enforce: bool = False) -> None:
        self.enforce = enforce
        self.limits = dict(DEFAULT_LIMITS)
        self.window_s: float = WINDOW_S
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}
        self.windows_opened: Counter[str] = Counter()  # per endpoint group: how many windows requests opened
        self._lock = threading.Lock()

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {"enforce": self.enforce, "limits": self.limits, "windows_opened": dict(self.windows_opened)}

    def configure(
        self, enforce: bool | None = None, limits: dict[str, int] | None = None, window_s: float | None = None
    ) -> None:
        with self._lock:
            if enforce is not None:
                self.enforce = enforce
            for group, limit in (limits or {}).items():
                if group not in self.limits:
                    raise ValueError(f"unknown endpoint group {group!r}; one of {sorted(self.limits)}")
                self.limits[group] = (int(limit), int(limit))
            if window_s is not None:
                self.window_s = float(window_s)
            self._windows.clear()
            self.windows_opened.clear()

    def take(self, group: str, credential: str, user_context: bool) -> tuple[bool, dict[str, str]]:
        """Count one request; returns (allowed, the three x-rate-limit headers)."""
        limit = self.limits[group][1 if user_context else 0]
        now = time.time()
        with self._lock:
            start, used = self._windows.get((group, credential), (now, -1))
            if used < 0 or now >= start + self.window_s:
                start, used = now, 0
                self.windows_opened[group] += 1
            allowed = not self.enforce or used < limit
            if allowed:
                used += 1
            self._windows[(group, credential)] = (start, used)
        headers = {
            "x-rate-limit-limit": str(limit),
            "x-rate-limit-remaining": str(max(0, limit - used)),
            # the epoch second by which the window has turned over: rounded up, or a client that
            # waits until it could still arrive early and get a 429
            "x-rate-limit-reset": str(math.ceil(start + self.window_s)),
        }
        return allowed, headers


class Stats:
    """Requests per route and credential, and billable reads (a post once per UTC day)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.requests: Counter[str] = Counter()
            self.by_credential: Counter[str] = Counter()
            self.by_route_credential: Counter[str] = Counter()
            self.by_path: Counter[str] = Counter()
            self.statuses: Counter[int] = Counter()
            self.faults: Counter[str] = Counter()
            self.posts_returned = 0
            self.users_returned = 0
            self._post_days: set[tuple[str, str]] = set()
            self._user_days: set[tuple[str, str]] = set()

    def record_request(self, route: str, path: str, credential: str | None, status: int) -> None:
        label = credential or "anonymous"
        with self._lock:
            self.requests[route] += 1
            self.by_credential[label] += 1
            self.by_route_credential[f"{label} {route}"] += 1
            self.by_path[path] += 1
            self.statuses[status] += 1

    def record_fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    def record_reads(self, tweet_ids: list[str], user_ids: list[str], now_ms: int | None = None) -> None:
        """X bills a post or user once per UTC day: the day of the emulator's clock (now_ms)."""
        now = dt.datetime.now(dt.UTC) if now_ms is None else dt.datetime.fromtimestamp(now_ms / 1000, tz=dt.UTC)
        day = now.date().isoformat()
        with self._lock:
            self.posts_returned += len(tweet_ids)
            self.users_returned += len(user_ids)
            self._post_days.update((day, t) for t in tweet_ids)
            self._user_days.update((day, u) for u in user_ids)

    def post_reads_by_day(self) -> Counter[str]:
        """Billable post reads per UTC day (ISO dates): what X's usage endpoint reports."""
        with self._lock:
            return Counter(day for day, _ in self._post_days)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests_total": sum(self.requests.values()),
                "requests": dict(self.requests),
                "requests_by_credential": dict(self.by_credential),
                "requests_by_credential_and_route": dict(self.by_route_credential),
                "requests_by_path": dict(self.by_path),
                "statuses": {str(k): v for k, v in self.statuses.items()},
                "faults": dict(self.faults),
                "posts_returned": self.posts_returned,
                "users_returned": self.users_returned,
                "billable_post_reads": len(self._post_days),
                "billable_user_reads": len(self._user_days),
            }
