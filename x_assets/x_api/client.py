"""Authenticated tweepy clients that reach X_API_BASE_URL instead of tweepy's fixed host.

tweepy 4.17 hard-codes https://api.twitter.com and sets no timeout. The client's
session rewrites the host *before* the request is prepared, so an OAuth 1.0a
signature covers the URL the request is really sent to (a server verifies it
over the URL it received). A requests adapter mounted for that URL adds a
timeout and remembers the last rate-limit headers, which the connector uses to
pace itself.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import tweepy
from requests.adapters import HTTPAdapter

X_HOSTS = ("https://api.twitter.com", "https://api.x.com")
DEFAULT_BASE_URL = "https://api.x.com"


@dataclass(frozen=True)
class RateLimitState:
    limit: int | None
    remaining: int | None
    reset: int | None  # epoch seconds


ROUTES = (
    (re.compile(r"^/2/users/[^/]+/tweets$"), "GET /2/users/:id/tweets"),
    (re.compile(r"^/2/users/[^/]+/mentions$"), "GET /2/users/:id/mentions"),
    (re.compile(r"^/2/tweets/search/recent$"), "GET /2/tweets/search/recent"),
    (re.compile(r"^/2/users/by$"), "GET /2/users/by"),
    (re.compile(r"^/2/users$"), "GET /2/users"),
    (re.compile(r"^/2/tweets$"), "GET /2/tweets"),
    (re.compile(r"^/2/usage/tweets$"), "GET /2/usage/tweets"),
)


def route_of(url: str) -> str:
    """The endpoint a URL belongs to, as CallStats and the rate-limit windows name it."""
    path = urlsplit(url).path
    for pattern, route in ROUTES:
        if pattern.search(path):
            return route
    return path


class XBaseURLSession(requests.Session):
    """A session that sends tweepy's https://api.twitter.com/... requests to base_url.

    The URL is rewritten in request(), before requests prepares it and before the OAuth 1.0a
    auth hook signs it: the signature base string then names the host the server sees.
    """

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        # The environment's proxies and CA bundle are read once, here, not on every request: with
        # trust_env, requests also looks for a ~/.netrc per request (a file-system call that 16
        # workers queue on), and a netrc entry for the host would replace the bearer token's header.
        self.trust_env = False
        self.proxies.update(requests.utils.get_environ_proxies(self.base_url))
        self.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        text = url.decode() if isinstance(url, bytes) else url
        for host in X_HOSTS:
            if text.startswith(host):
                text = self.base_url + text[len(host) :]
                break
        return super().request(method, text, *args, **kwargs)


class XBaseURLAdapter(HTTPAdapter):
    """Sends X API requests with a default timeout, and spends each endpoint's rate-limit window.

    X reports a window in every answer (remaining, reset). The adapter counts the requests let go
    since the last report, so parallel workers use exactly what is left and then wait for the
    reset, never a request more: no 429 in normal operation, and no request held back while the
    window has room (a legacy Basic app has 5 or 10 timeline requests per window, fewer than the
    workers). Requests still in flight when a report arrives count as not yet in it, which errs
    toward waiting.
    """

    def __init__(self, timeout: float) -> None:
        super().__init__(pool_connections=4, pool_maxsize=256)  # a connection per worker (MAX_WORKERS)
        self.timeout = timeout
        self._windows: dict[str, RateLimitState] = {}
        self._sent: Counter[str] = Counter()  # let go since the window was last reported
        self._in_flight: Counter[str] = Counter()
        self._first: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        url = request.url or ""
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        route = route_of(url)
        state = None
        try:
            response = super().send(request, **kwargs)
            state = _rate_limit_state(response.headers)
        finally:
            with self._lock:
                self._in_flight[route] = max(0, self._in_flight[route] - 1)
                if state is not None and state.remaining is not None and state.reset is not None:
                    self._learn(route, state)
                first = self._first.pop(route, None)
            if first is not None:
                first.set()
        return response

    def _learn(self, route: str, state: RateLimitState) -> None:
        known = self._windows.get(route)
        if known is not None and known.reset == state.reset and (known.remaining or 0) < (state.remaining or 0):
            return  # an earlier answer of the same window, overtaken by a later one
        self._windows[route] = state
        self._sent[route] = self._in_flight[route]

    def take(self, route: str, now: float) -> float | threading.Event | None:
        """Count one request against the endpoint's window and let it go (None); or the seconds
        until the window turns over, when the requests since its last report have spent it; or,
        while no window is known, an event to wait for: the first request goes alone and learns it."""
        with self._lock:
            state = self._windows.get(route)
            if state is not None and state.remaining is not None and state.reset is not None:
                if state.remaining - self._sent[route] > 0:
                    self._go(route)
                    return None
                if state.reset > now:
                    return state.reset - now
                del self._windows[route]  # it has turned over: what we knew is stale
            first = self._first.get(route)
            if first is not None:
                return first
            self._first[route] = threading.Event()
            self._go(route)
            return None

    def go(self, route: str) -> None:
        """Count a request let go without a check (X's 429 then decides)."""
        with self._lock:
            self._go(route)

    def _go(self, route: str) -> None:
        self._sent[route] += 1
        self._in_flight[route] += 1


def _header_int(headers: Any, name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _rate_limit_state(headers: Any) -> RateLimitState:
    return RateLimitState(
        limit=_header_int(headers, "x-rate-limit-limit"),
        remaining=_header_int(headers, "x-rate-limit-remaining"),
        reset=_header_int(headers, "x-rate-limit-reset"),
    )


@dataclass(frozen=True, repr=False)
class ScopeCredentials:
    """One credential scope: a bearer token, or the four OAuth 1.0a values."""

    label: str  # "default" or "account <name>": safe to log
    bearer_token: str | None = None
    consumer_key: str | None = None
    consumer_secret: str | None = None
    access_token: str | None = None
    access_token_secret: str | None = None

    @property
    def user_auth(self) -> bool:
        return not self.bearer_token

    @property
    def owner_id(self) -> str | None:
        """The numeric id of the user an OAuth 1.0a access token belongs to: X's access tokens are
        "<user id>-<random>". None for a bearer token, which acts as the app, never as an account."""
        if self.bearer_token or not self.access_token:
            return None
        head, dash, _ = self.access_token.partition("-")
        return head if dash and head.isascii() and head.isdigit() else None

    def redact(self, text: str) -> str:
        """text with every secret of this scope masked: exception texts can quote a header."""
        secrets = (
            self.bearer_token,
            self.consumer_key,
            self.consumer_secret,
            self.access_token,
            self.access_token_secret,
        )
        for secret in filter(None, secrets):
            for form in sorted({secret, secret.strip(), repr(secret)[1:-1]} - {""}, key=len, reverse=True):
                text = text.replace(form, "[redacted]")
        return text

    def __repr__(self) -> str:  # never show a secret, even in a traceback
        kind = "bearer" if self.bearer_token else "oauth1"
        return f"ScopeCredentials({self.label!r}, {kind})"


@dataclass
class XClient:
    """A tweepy client bound to one credential scope, plus its transport adapter."""

    scope: ScopeCredentials
    tweepy_client: tweepy.Client
    adapter: XBaseURLAdapter

    @property
    def user_auth(self) -> bool:
        return self.scope.user_auth


def make_client(
    scope: ScopeCredentials,
    base_url: str = DEFAULT_BASE_URL,
    timeout: float = 30.0,
    return_type: type = requests.Response,  # raw bytes: pages are parsed by polars, not json.loads
) -> XClient:
    client = tweepy.Client(
        bearer_token=scope.bearer_token,
        consumer_key=scope.consumer_key,
        consumer_secret=scope.consumer_secret,
        access_token=scope.access_token,
        access_token_secret=scope.access_token_secret,
        return_type=return_type,
        wait_on_rate_limit=False,  # it loops without pause when the reset header is missing
    )
    session = XBaseURLSession(base_url)
    adapter = XBaseURLAdapter(timeout)
    session.mount(session.base_url, adapter)
    client.session = session
    return XClient(scope=scope, tweepy_client=client, adapter=adapter)


# tweepy and oauthlib log request headers and signing input at DEBUG, which holds
# secrets. Raising these loggers' own level also silences their child loggers.
for _name in ("tweepy", "oauthlib", "requests_oauthlib"):
    _logger = logging.getLogger(_name)
    if _logger.level < logging.INFO:
        _logger.setLevel(logging.INFO)
