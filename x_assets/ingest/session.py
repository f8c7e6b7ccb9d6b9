"""An X session: a validated source file and one authenticated tweepy client per credential scope.

Plain logic (no Dagster): the XResource opens one for each run, and so do the command line and
the season simulation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..constants import (
    ENV_ACCESS_TOKEN,
    ENV_ACCESS_TOKEN_SECRET,
    ENV_BEARER_TOKEN,
    ENV_CONSUMER_KEY,
    ENV_CONSUMER_SECRET,
)
from ..warehouse.tables import BUILTIN_COLUMNS
from ..x_api.client import ScopeCredentials, XClient, make_client
from .source import AccountSpec, CredentialRefs, SourceConfig, SourceConfigError, load_source

DEFAULT_SCOPE = "default"
OAUTH1_ENV = (ENV_CONSUMER_KEY, ENV_CONSUMER_SECRET, ENV_ACCESS_TOKEN, ENV_ACCESS_TOKEN_SECRET)
DEFAULT_ENV = (ENV_BEARER_TOKEN, *OAUTH1_ENV)


@dataclass
class XSession:
    """A validated source file and a client for every account in it."""

    source: SourceConfig
    clients: dict[str, XClient]  # scope label -> client
    scope_of: dict[str, str]  # account key -> scope label

    def client_for(self, account: AccountSpec) -> XClient:
        return self.clients[self.scope_of[account.key]]


def open_session(
    source_file: str, base_url: str, timeout_seconds: float, given: dict[str, str | None] | None = None
) -> XSession:
    """Validate the source file and build its clients; raises SourceConfigError naming every problem.

    given: default credentials by variable name (X_BEARER_TOKEN, ...) handed to the resource; when
    none is given, the X_* variables are read now (as the run starts, so a variable set only in the
    run's environment is used). A source file's own credentials: block replaces both.
    """
    source = load_source(source_file, reserved_columns=BUILTIN_COLUMNS)
    clients: dict[str, XClient] = {}
    scope_of: dict[str, str] = {}
    uses_default = [a for a in source.accounts if a.credentials is None]
    if uses_default and source.credentials is not None:  # the source file names its own variables
        clients[DEFAULT_SCOPE] = make_client(_from_env(DEFAULT_SCOPE, source.credentials), base_url, timeout_seconds)
    elif uses_default:
        if not given or not any(given.values()):
            given = {name: os.environ.get(name) for name in DEFAULT_ENV}
        checked = {name: checked_secret(name, given.get(name)) for name in DEFAULT_ENV}
        clients[DEFAULT_SCOPE] = make_client(_default_scope(source, uses_default, checked), base_url, timeout_seconds)
    for account in source.accounts:
        if account.credentials is None:
            scope_of[account.key] = DEFAULT_SCOPE
            continue
        label = f"account {account.label}"
        clients[label] = make_client(_from_env(label, account.credentials), base_url, timeout_seconds)
        scope_of[account.key] = label
    return XSession(source=source, clients=clients, scope_of=scope_of)


def _from_env(label: str, refs: CredentialRefs) -> ScopeCredentials:
    """A scope whose credentials a source file names by environment variable, read now."""
    values = {key: checked_secret(env_name, os.environ.get(env_name)) for key, env_name in refs.env_names.items()}
    return ScopeCredentials(label=label, **values)


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
