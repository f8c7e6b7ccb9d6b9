"""XResource: credentials, where requests go, the source file, and one tweepy client per scope."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated, Literal

import dagster as dg
from pydantic import Field, PrivateAttr

from .constants import (
    DEFAULT_API_BASE_URL,
    DEFAULT_FOLLOWER_DROP_WARN,
    DEFAULT_SOURCE_FILE,
    ENV_ACCESS_TOKEN,
    ENV_ACCESS_TOKEN_SECRET,
    ENV_BEARER_TOKEN,
    ENV_CONSUMER_KEY,
    ENV_CONSUMER_SECRET,
)
from .source import AccountSpec, SourceConfig, SourceConfigError, load_source
from .tables import BUILTIN_COLUMNS
from .x_api.calls import CallPolicy
from .x_api.client import ScopeCredentials, XClient, make_client

DEFAULT_SCOPE = "default"
# Bounds of the settings, declared once: the fields below enforce them, and the environment
# parsing (definitions.settings_from_env) quotes them in its messages.
MAX_WORKERS = 64  # beyond this, parallel workers only wait for each other's rate-limit windows
MAX_AGE_DAYS = 365
MAX_POST_READS = 10**9
RefreshPolicy = Literal["window", "ages"]
OAUTH1_ENV = (ENV_CONSUMER_KEY, ENV_CONSUMER_SECRET, ENV_ACCESS_TOKEN, ENV_ACCESS_TOKEN_SECRET)


@dataclass
class XSession:
    """A validated source file and a client for every account in it."""

    source: SourceConfig
    clients: dict[str, XClient]  # scope label -> client
    scope_of: dict[str, str]  # account key -> scope label

    def client_for(self, account: AccountSpec) -> XClient:
        return self.clients[self.scope_of[account.key]]


class XResource(dg.ConfigurableResource):
    """X API v2 access: default credentials, per-account overrides from the source file, retries."""

    bearer_token: str | None = Field(default=None, description="App-only bearer token (X_BEARER_TOKEN).")
    consumer_key: str | None = Field(default=None, description="OAuth 1.0a consumer key (X_CONSUMER_KEY).")
    consumer_secret: str | None = Field(default=None, description="OAuth 1.0a consumer secret.")
    access_token: str | None = Field(default=None, description="OAuth 1.0a access token.")
    access_token_secret: str | None = Field(default=None, description="OAuth 1.0a access token secret.")
    base_url: str = Field(default=DEFAULT_API_BASE_URL, description="Where X API requests go (X_API_BASE_URL).")
    source_file: str = Field(default=DEFAULT_SOURCE_FILE, description="The source file (X_SOURCE_FILE).")
    timeout_seconds: float = Field(default=30.0, description="Per-request timeout.")
    max_attempts: int = Field(default=5, description="Attempts per request on transient faults (5xx, timeouts).")
    backoff_seconds: float = Field(default=1.0, description="First retry delay; doubles per attempt, jittered.")
    max_rate_limit_wait_seconds: float = Field(default=900.0, description="Longest wait for a rate-limit reset.")
    max_workers: int = Field(
        default=16,
        ge=1,
        le=MAX_WORKERS,
        description="Accounts read in parallel (paced by the rate-limit headers), 1 to 64 (X_MAX_WORKERS).",
    )
    max_post_reads: int | None = Field(
        default=None,
        ge=1,
        le=MAX_POST_READS,
        description="Per-run cap on billable post reads; the run stops before it (X_MAX_POST_READS).",
    )
    post_read_usd: float = Field(default=0.005, description="Price of one post read, for the cost estimate.")
    user_read_usd: float = Field(default=0.010, description="Price of one user read, for the cost estimate.")
    refresh_policy: RefreshPolicy = Field(
        default="window",
        description="'window': every run re-reads its whole window; 'ages': new posts by since_id, and "
        "stored posts re-read by id only when they are refresh_ages days old (X_REFRESH_POLICY).",
    )
    refresh_ages: list[Annotated[int, Field(ge=1, le=MAX_AGE_DAYS)]] = Field(
        default=[1, 3, 7], min_length=1, description="Ages in days (1 to 365) at which 'ages' re-reads a post."
    )
    follower_drop_warn: float = Field(
        default=DEFAULT_FOLLOWER_DROP_WARN,
        gt=0,
        lt=1,
        description="Share of followers lost in a day that makes follower_drop warn (X_FOLLOWER_DROP_WARN).",
    )

    _session: XSession | None = PrivateAttr(default=None)
    _error: SourceConfigError | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Configuration problems surface from open() as a clear step failure, not a resource traceback.
        try:
            self._session = self._build()
        except SourceConfigError as exc:
            self._error = exc

    def open(self) -> XSession:
        """The validated source and clients; raises SourceConfigError naming every problem."""
        if self._session is None and self._error is None:
            try:
                self._session = self._build()
            except SourceConfigError as exc:
                self._error = exc
        if self._error is not None:
            raise self._error
        assert self._session is not None
        return self._session

    def call_policy(self) -> CallPolicy:
        return CallPolicy(
            max_attempts=self.max_attempts,
            backoff_seconds=self.backoff_seconds,
            max_rate_limit_wait_seconds=self.max_rate_limit_wait_seconds,
        )

    def _build(self) -> XSession:
        source = load_source(self.source_file, reserved_columns=BUILTIN_COLUMNS)
        clients: dict[str, XClient] = {}
        scope_of: dict[str, str] = {}
        uses_default = [a for a in source.accounts if a.credentials is None]
        if uses_default and source.credentials is not None:  # the source file names its own variables
            values = {
                key: checked_secret(env_name, os.environ.get(env_name))
                for key, env_name in source.credentials.env_names.items()
            }
            default = ScopeCredentials(label=DEFAULT_SCOPE, **values)
            clients[DEFAULT_SCOPE] = make_client(default, self.base_url, self.timeout_seconds)
        elif uses_default:
            # Values given to the resource, else the X_* variables as the run starts (a variable set
            # only in the run's environment is used).
            given = {
                ENV_BEARER_TOKEN: self.bearer_token,
                ENV_CONSUMER_KEY: self.consumer_key,
                ENV_CONSUMER_SECRET: self.consumer_secret,
                ENV_ACCESS_TOKEN: self.access_token,
                ENV_ACCESS_TOKEN_SECRET: self.access_token_secret,
            }
            if not any(given.values()):
                given = {name: os.environ.get(name) for name in given}
            checked = {name: checked_secret(name, value) for name, value in given.items()}
            default = _default_scope(source, uses_default, checked)
            clients[DEFAULT_SCOPE] = make_client(default, self.base_url, self.timeout_seconds)
        for account in source.accounts:
            if account.credentials is None:
                scope_of[account.key] = DEFAULT_SCOPE
                continue
            label = f"account {account.label}"
            values = {
                key: checked_secret(env_name, os.environ.get(env_name))
                for key, env_name in account.credentials.env_names.items()
            }
            scope = ScopeCredentials(label=label, **values)
            clients[label] = make_client(scope, self.base_url, self.timeout_seconds)
            scope_of[account.key] = label
        return XSession(source=source, clients=clients, scope_of=scope_of)


def _default_scope(source: SourceConfig, users: list[AccountSpec], values: dict[str, str | None]) -> ScopeCredentials:
    """The default credentials: the bearer token when set, else all four OAuth 1.0a values."""
    if values[ENV_BEARER_TOKEN]:
        return ScopeCredentials(label=DEFAULT_SCOPE, bearer_token=values[ENV_BEARER_TOKEN])
    oauth = {name: values[name] for name in OAUTH1_ENV}
    if all(oauth.values()):
        return ScopeCredentials(
            label=DEFAULT_SCOPE,
            consumer_key=oauth[ENV_CONSUMER_KEY],
            consumer_secret=oauth[ENV_CONSUMER_SECRET],
            access_token=oauth[ENV_ACCESS_TOKEN],
            access_token_secret=oauth[ENV_ACCESS_TOKEN_SECRET],
        )
    missing = [name for name, value in oauth.items() if not value]
    who = ", ".join(a.label for a in users[:5]) + (" and more" if len(users) > 5 else "")
    partial = f" ({', '.join(missing)} not set)" if len(missing) < len(oauth) else ""
    raise SourceConfigError(
        f"{source.path}: no default X credentials for {who}: set {ENV_BEARER_TOKEN}, or all four of "
        f"{', '.join(OAUTH1_ENV)}{partial}; or give those accounts their own credentials"
    )


def checked_secret(variable: str, value: str | None) -> str | None:
    """A credential as X expects it, or a SourceConfigError that names the variable, never the value.

    Surrounding whitespace is dropped (a .env saved with CRLF line ends leaves a carriage return,
    which requests refuses with an error quoting the whole header, token included); X tokens never
    hold a space, a control character or a non-ASCII one, so such a value is refused.
    """
    if value is None:
        return None
    token = value.strip()
    if any(not (c.isascii() and c.isprintable()) or c.isspace() for c in token):
        raise SourceConfigError(
            f"{variable} holds a space, a control character or a non-ASCII character inside its value: "
            "an X credential is a single token; copy it again from the X developer portal"
        )
    return token or None


def env_or_none(name: str) -> dg.EnvVar | None:
    """An EnvVar only when set, so an unused credential does not fail config resolution."""
    return dg.EnvVar(name) if os.environ.get(name) else None
