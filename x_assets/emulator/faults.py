"""Fault injection: rules that turn every Nth matching request into a failure."""

from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = (
    "rate_limit",  # 429 about:blank, reset `reset_in` seconds ahead (or no reset header)
    "server_error",  # 5xx with an HTML body
    "slow",  # answer after `delay_ms`
    "truncated",  # 200 with the JSON body cut short
    "reset",  # close the connection without answering
    "usage_capped",  # 429 usage-capped: the monthly cap, waiting will not help
    "credits_depleted",  # 402
    "client_not_enrolled",  # 403 client-forbidden
    "unauthorized",  # 401, as for a revoked token
)


@dataclass
class FaultRule:
    kind: str
    every: int = 1  # fire on every Nth matching request
    times: int | None = None  # stop after firing this often; None: no limit
    path: str | None = None  # regex searched in the request path
    credential: str | None = None  # only requests made with this credential label
    status: int = 503  # for server_error
    reset_in: float | None = 2.0  # for rate_limit; None sends no x-rate-limit-reset header
    delay_ms: int = 0  # for slow
    matched: int = field(default=0)
    fired: int = field(default=0)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(KINDS)}")
        if self.every < 1:
            raise ValueError("every must be at least 1")
        self._pattern = re.compile(self.path) if self.path else None

    def applies(self, path: str, credential: str | None) -> bool:
        if self._pattern is not None and not self._pattern.search(path):
            return False
        if self.credential is not None and self.credential != credential:
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        self.matched += 1
        if self.matched % self.every:
            return False
        self.fired += 1
        return True

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}


class FaultPlan:
    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def add(self, **spec: Any) -> FaultRule:
        rule = FaultRule(**spec)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def pick(self, path: str, credential: str | None) -> FaultRule | None:
        """The first rule that fires for this request; every rule sees every request."""
        chosen = None
        with self._lock:
            for rule in self._rules:
                if rule.applies(path, credential) and chosen is None:
                    chosen = rule
        return chosen

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.describe() for r in self._rules]


def parse_fault_option(text: str) -> dict[str, Any]:
    """`--fault server_error:every=3,times=2,status=502` -> rule keyword arguments."""
    kind, _, rest = text.partition(":")
    spec: dict[str, Any] = {"kind": kind.strip()}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, _, value = item.partition("=")
        key = key.strip()
        if key in ("every", "times", "status", "delay_ms"):
            spec[key] = int(value)
        elif key == "reset_in":
            spec[key] = None if value in ("", "none") else float(value)
        elif key in ("path", "credential"):
            spec[key] = value
        else:
            raise ValueError(f"unknown fault option {key!r} in {text!r}")
    return spec
