"""X's own count of the post reads it bills: GET /2/usage/tweets (app-only auth).

X sends the counts as strings although its spec says integers, and its docs show another shape
than the spec; this follows the spec's shape and takes either type.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from .calls import Caller, XFatalError
from .client import XClient

USAGE_ROUTE = "GET /2/usage/tweets"
USAGE_FIELDS = "cap_reset_day,daily_project_usage,project_cap,project_usage"
MAX_DAYS = 90


@dataclass(frozen=True)
class Usage:
    """The project's billed post reads: per UTC day, and in the current billing cycle."""

    project_id: str | None
    daily: dict[dt.date, int]
    project_usage: int | None = None  # post reads of the billing cycle so far
    project_cap: int | None = None
    cap_reset_day: int | None = None  # days until the cycle (and the cap) resets


def fetch_usage(caller: Caller, client: XClient, days: int = 7) -> Usage:
    """One request: the last `days` UTC days (1 to 90) of the app's project, today included."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be 1 to {MAX_DAYS}, not {days}")
    if client.user_auth:
        raise XFatalError(
            f"X's usage endpoint takes the app's bearer token only, and scope '{client.scope.label}' has OAuth 1.0a "
            "user credentials: set X_BEARER_TOKEN (the same app's bearer token) to read the usage"
        )
    params = {"days": days, "usage.fields": USAGE_FIELDS}
    response = caller.call(
        client, USAGE_ROUTE, "usage", lambda: client.tweepy_client.request("GET", "/2/usage/tweets", params=params)
    )
    return parse_usage(response.json())


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def parse_usage(body: dict[str, Any]) -> Usage:
    data = body.get("data") or {}
    daily: dict[dt.date, int] = {}
    for item in (data.get("daily_project_usage") or {}).get("usage") or []:
        day = dt.datetime.fromisoformat(item["date"].replace("Z", "+00:00")).astimezone(dt.UTC).date()
        daily[day] = daily.get(day, 0) + int(item.get("usage") or 0)
    return Usage(
        project_id=data.get("project_id"),
        daily=daily,
        project_usage=_int(data.get("project_usage")),
        project_cap=_int(data.get("project_cap")),
        cap_reset_day=_int(data.get("cap_reset_day")),
    )
