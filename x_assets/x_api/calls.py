"""Retry and rate-limit discipline for every X API call (after twarc's decorators2).

- 429 with x-rate-limit-reset: wait until the reset plus jitter, bounded; without
  the header, exponential backoff with a cap. Never a tight loop.
- 5xx, timeouts, dropped connections, truncated JSON: bounded retries with
  exponential backoff and full jitter, then XTransientError.
- 401, 402, 403 client-forbidden, 429 usage-capped, 400: no retry; they will not
  get better by waiting. Raised as XFatalError / XCredentialsRefusedError.
- When x-rate-limit-remaining reaches 0, wait for the window before the next call
  instead of provoking a 429.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import requests
import tweepy

from ..log import Log
from .client import XClient
from .payloads import MalformedResponseError

T = TypeVar("T")


class XFatalError(Exception):
    """Retrying cannot help: bad credentials, no credits, app not enrolled, monthly cap."""


class XCredentialsRefusedError(XFatalError):
    def __init__(self, scope_label: str) -> None:
        super().__init__(
            f"X refused the credentials of scope '{scope_label}' (401 Unauthorized): check the token values "
            "in the environment, or regenerate them in the X developer portal"
        )
        self.scope_label = scope_label


class XTransientError(Exception):
    """A call kept failing after its retries; the account counts as failed for this run."""


class RunStoppedError(Exception):
    """The run is being stopped (SIGTERM, a failure elsewhere): waiting threads give up at once."""


@dataclass
class CallPolicy:
    max_attempts: int = 5  # per call, transient faults
    backoff_seconds: float = 1.0  # first backoff; doubles each attempt
    backoff_cap_seconds: float = 60.0
    max_rate_limit_wait_seconds: float = 900.0  # bound on one rate-limit wait
    long_wait_seconds: float = 30.0  # waits at least this long are logged
    sleep: Callable[[float], None] | None = None  # None: a wait that stop() interrupts; tests inject a clock
    clock: Callable[[], float] = time.time


@dataclass
class CallStats:
    """What a run asked of X; goes into the materialization metadata."""

    requests: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    rate_limit_waits: int = 0
    rate_limit_wait_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, endpoint: str) -> None:
        with self._lock:
            self.requests[endpoint] += 1

    def waited(self, seconds: float, rate_limit: bool) -> None:
        with self._lock:
            if rate_limit:
                self.rate_limit_waits += 1
                self.rate_limit_wait_seconds += seconds
            else:
                self.retries += 1


def _problem_type(response: requests.Response | None) -> str:
    if response is None:
        return ""
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("type", "")) if isinstance(body, dict) else ""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, tweepy.HTTPException):
        messages = "; ".join(str(m) for m in exc.api_messages)
        return f"{exc.response.status_code} {exc.response.reason}" + (f": {messages}" if messages else "")
    return f"{type(exc).__name__}: {exc}"


def _utc(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# requests.RequestException covers timeouts, resets and truncated bodies (JSONDecodeError).
TRANSIENT = (tweepy.TwitterServerError, requests.RequestException, json.JSONDecodeError, MalformedResponseError)
# A request that cannot even be built will not be built on the next attempt either.
UNSENDABLE = (
    requests.exceptions.InvalidHeader,
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    UnicodeError,
)


class Recorder(Protocol):
    """Keeps the answers a run was given (the raw archive): called once per answer that parsed."""

    def record(self, kind: str, response: requests.Response, fetched_at: dt.datetime) -> None: ...


class Caller:
    """Runs one API call with the policy above, counting requests and waits."""

    def __init__(self, policy: CallPolicy, stats: CallStats, log: Log, recorder: Recorder | None = None) -> None:
        self.policy = policy
        self.stats = stats
        self.log = log
        self.recorder = recorder
        self._stopped = threading.Event()

    def stop(self) -> None:
        """End every wait now, and make the next call raise RunStoppedError instead of sending."""
        self._stopped.set()

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.policy.backoff_cap_seconds, self.policy.backoff_seconds * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)  # full jitter, never zero

    def _sleep(self, seconds: float, reason: str, rate_limit: bool) -> None:
        if seconds >= self.policy.long_wait_seconds:
            self.log.warning(f"{reason}: waiting {seconds:.0f}s, until {_utc(self.policy.clock() + seconds)}")
        self.stats.waited(seconds, rate_limit)
        if self.policy.sleep is not None:
            self.policy.sleep(seconds)
        elif self._stopped.wait(seconds):
            raise RunStoppedError("the run is stopping")

    def _pace(self, client: XClient, endpoint: str, what: str) -> None:
        """Send only into a window with room: wait for its reset instead of spending requests on 429s.

        The workers share the window through the client's adapter, which counts what each lets go.
        """
        while True:
            wait = client.adapter.take(endpoint, self.policy.clock())
            if wait is None:
                return
            if isinstance(wait, threading.Event):  # another worker is learning the window
                wait.wait(1.0)
                if self._stopped.is_set():
                    raise RunStoppedError("the run is stopping")
                continue
            wait += random.uniform(0.5, 1.5)
            if wait > self.policy.max_rate_limit_wait_seconds:
                client.adapter.go(endpoint)
                return  # X will answer 429 and call() decides
            self._sleep(wait, f"{what}: rate-limit window used up ({client.scope.label})", rate_limit=True)

    def call(self, client: XClient, endpoint: str, what: str, fn: Callable[[], T]) -> T:
        attempt = 0
        rate_limited = 0
        while True:
            self._pace(client, endpoint, what)
            if self._stopped.is_set():
                raise RunStoppedError("the run is stopping")
            self.stats.count(endpoint)
            try:
                result = fn()
            except tweepy.TooManyRequests as exc:
                if _problem_type(exc.response).endswith("/usage-capped"):
                    raise XFatalError(
                        f"{what}: X answered 429 usage-capped ({_describe(exc)}): the monthly or daily "
                        "post cap of the app is reached; waiting will not help. Raise the cap or buy "
                        "credits in the X developer console, then re-run."
                    ) from None
                rate_limited += 1
                if exc.reset_time is not None:
                    wait = exc.reset_time - self.policy.clock() + random.uniform(0.5, 1.5)
                    wait = max(wait, 0.5)
                else:  # no reset header: back off, never retry at once
                    wait = self._backoff(rate_limited)
                if wait > self.policy.max_rate_limit_wait_seconds:
                    raise XTransientError(
                        f"{what}: rate limited (429) and the reset is {wait:.0f}s away, beyond the "
                        f"{self.policy.max_rate_limit_wait_seconds:.0f}s allowed"
                    ) from None
                if rate_limited > self.policy.max_attempts + 5:
                    raise XTransientError(
                        f"{what}: still rate limited (429) after {rate_limited} attempts and "
                        f"{self.stats.rate_limit_wait_seconds:.0f}s of waiting; X keeps refusing this "
                        f"endpoint for scope '{client.scope.label}': try again later"
                    ) from None
                self._sleep(wait, f"{what}: rate limited (429, {client.scope.label})", rate_limit=True)
                continue
            except tweepy.Unauthorized:
                raise XCredentialsRefusedError(client.scope.label) from None
            except UNSENDABLE as exc:
                # Its text quotes the header it refused, token included: name the error, never quote it.
                raise XFatalError(
                    f"{what}: the request could not be sent ({type(exc).__name__}): check X_API_BASE_URL and "
                    f"the credentials of scope '{client.scope.label}' for stray characters"
                ) from None
            except tweepy.HTTPException as exc:
                if not isinstance(exc, tweepy.TwitterServerError):
                    raise XFatalError(f"{what}: {_fatal_advice(exc)}") from None
                failure: BaseException = exc
            except TRANSIENT as exc:
                failure = exc
            else:
                return result
            attempt += 1
            described = client.scope.redact(_describe(failure))
            if attempt >= self.policy.max_attempts:
                raise XTransientError(f"{what}: {described} (gave up after {attempt} attempts)") from None
            self._sleep(self._backoff(attempt), f"{what}: {described}, retrying", rate_limit=False)


def _fatal_advice(exc: tweepy.HTTPException) -> str:
    status = exc.response.status_code
    problem = _problem_type(exc.response)
    described = _describe(exc)
    if status == 402:
        return f"X answered 402 ({described}): the account has no API credits left. Buy credits, then re-run."
    if status == 403 and problem.endswith("/client-forbidden"):
        return (
            f"X answered 403 client-forbidden ({described}): the app's keys are not attached to a Project "
            "with API access. Attach the app to a Project in the X developer portal."
        )
    if status == 404:
        return f"X answered 404 ({described}): check X_API_BASE_URL"
    if status == 400:
        return f"X rejected the request as invalid ({described})"
    return f"X answered {described}"
