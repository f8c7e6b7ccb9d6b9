"""The source file (x_source.yaml): accounts, default schema, endpoints, validated whole.

Every problem is reported at once, each naming the file, the key and the account,
before any API call or table change.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .constants import ENDPOINTS

HANDLE_RE = re.compile(r"^[A-Za-z0-9_]{1,15}$")
ID_RE = re.compile(r"^[0-9]{1,19}$")
COLUMN_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
BEARER_KEYS = ("bearer_token",)
OAUTH1_KEYS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
ACCOUNT_KEYS = frozenset({"username", "id", "name", "credentials"})
TOP_KEYS = frozenset({"accounts", "default_schema", "endpoints"})


class SourceConfigError(ValueError):
    """The source file is unusable; the message lists every problem found."""


@dataclass(frozen=True)
class CredentialRefs:
    """NAMES of environment variables holding one account's own credentials."""

    env_names: dict[str, str]

    def missing(self) -> list[str]:
        return [name for name in self.env_names.values() if not os.environ.get(name)]


@dataclass(frozen=True)
class AccountSpec:
    username: str | None
    account_id: str | None
    name: str | None
    credentials: CredentialRefs | None = None
    position: int = 0

    @property
    def key(self) -> str:
        """Stable identity of the configured entry: by id when given, else by handle."""
        return f"id:{self.account_id}" if self.account_id else f"username:{(self.username or '').lower()}"

    @property
    def label(self) -> str:
        return f"@{self.username}" if self.username else f"id {self.account_id}"


@dataclass(frozen=True)
class SourceConfig:
    path: str
    accounts: tuple[AccountSpec, ...]
    default_schema: dict[str, Any] = field(default_factory=dict)
    endpoints: tuple[str, ...] = ENDPOINTS


def load_source(path: str | os.PathLike[str], reserved_columns: frozenset[str] = frozenset()) -> SourceConfig:
    """Read and validate the source file; raise SourceConfigError naming every problem."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourceConfigError(f"{file}: source file not found (set X_SOURCE_FILE or create it)") from None
    except OSError as exc:
        raise SourceConfigError(f"{file}: cannot read the source file: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        raise SourceConfigError(f"{file}: not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None
    return parse_source(raw, str(file), reserved_columns)


def parse_source(raw: Any, path: str, reserved_columns: frozenset[str] = frozenset()) -> SourceConfig:
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise SourceConfigError(f"{path}: the top level must be a mapping with an 'accounts' key")
    for key in sorted(set(raw) - TOP_KEYS):
        problems.append(f"unknown key '{key}' (expected one of: {', '.join(sorted(TOP_KEYS))})")

    accounts = _parse_accounts(raw.get("accounts"), problems)
    default_schema = _parse_default_schema(raw.get("default_schema"), reserved_columns, problems)
    endpoints = _parse_endpoints(raw.get("endpoints"), problems)
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems)
        raise SourceConfigError(f"{path}: {len(problems)} problem(s):\n{listed}")
    return SourceConfig(path=path, accounts=tuple(accounts), default_schema=default_schema, endpoints=endpoints)


def _parse_accounts(raw: Any, problems: list[str]) -> list[AccountSpec]:
    if raw is None:
        problems.append("'accounts' is missing: list at least one account")
        return []
    if not isinstance(raw, list) or not raw:
        problems.append("'accounts' must be a non-empty list")
        return []
    accounts: list[AccountSpec] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(raw):
        where = f"accounts[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected a mapping with 'username' or 'id', got {entry!r}")
            continue
        who = entry.get("username") or entry.get("id") or "?"
        where = f"accounts[{i}] ({who})"
        for key in sorted(set(entry) - ACCOUNT_KEYS):
            problems.append(f"{where}: unknown key '{key}' (expected: {', '.join(sorted(ACCOUNT_KEYS))})")
        username, account_id = entry.get("username"), entry.get("id")
        if username is None and account_id is None:
            problems.append(f"{where}: give 'username' or 'id'")
            continue
        if username is not None and account_id is not None:
            problems.append(f"{where}: give 'username' or 'id', not both")
            continue
        if username is not None and not (isinstance(username, str) and HANDLE_RE.match(username)):
            problems.append(
                f"{where}: username {username!r} is not a valid X handle (1 to 15 letters, digits or underscores)"
            )
            continue
        if account_id is not None:
            account_id = str(account_id)
            if not ID_RE.match(account_id):
                problems.append(f"{where}: id {account_id!r} is not a numeric X account id")
                continue
        name = entry.get("name")
        if name is not None and not (isinstance(name, str) and name.strip()):
            problems.append(f"{where}: name must be a non-empty string")
        credentials = _parse_credentials(entry.get("credentials"), where, problems)
        spec = AccountSpec(username=username, account_id=account_id, name=name, credentials=credentials, position=i)
        if spec.key in seen:
            problems.append(f"{where}: duplicate of accounts[{seen[spec.key]}]")
            continue
        seen[spec.key] = i
        accounts.append(spec)
    return accounts


def _parse_credentials(raw: Any, where: str, problems: list[str]) -> CredentialRefs | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.append(f"{where}: credentials must map credential names to environment variable names")
        return None
    known = set(BEARER_KEYS) | set(OAUTH1_KEYS)
    unknown = sorted(set(raw) - known)
    for key in unknown:
        problems.append(f"{where}: credentials: unknown key '{key}' (expected: {', '.join(sorted(known))})")
    names = {k: v for k, v in raw.items() if k in known}
    for key, env_name in names.items():
        if not (isinstance(env_name, str) and re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", env_name)):
            problems.append(f"{where}: credentials.{key} must be the NAME of an environment variable, got {env_name!r}")
            return None
    oauth = [k for k in OAUTH1_KEYS if k in names]
    if "bearer_token" not in names and len(oauth) != len(OAUTH1_KEYS):
        missing = [k for k in OAUTH1_KEYS if k not in names]
        problems.append(
            f"{where}: credentials need bearer_token, or all four OAuth 1.0a keys (missing: {', '.join(missing)})"
        )
        return None
    refs = CredentialRefs(env_names=names)
    for env_name in refs.missing():
        problems.append(f"{where}: credentials name environment variable {env_name}, which is not set")
    return refs if not unknown else None


def _parse_default_schema(raw: Any, reserved: frozenset[str], problems: list[str]) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append("default_schema must map column names to constant values")
        return {}
    columns: dict[str, Any] = {}
    for name, value in raw.items():
        where = f"default_schema.{name}"
        if not isinstance(name, str) or not COLUMN_RE.match(name):
            problems.append(f"{where}: {name!r} is not a valid column name (lowercase letters, digits, underscores)")
        elif name in reserved:
            problems.append(f"{where}: collides with the built-in column '{name}'")
        elif not isinstance(value, (str, int, float, bool, dt.date)) and value is not None:
            problems.append(f"{where}: value must be a string, number, boolean or date, got {type(value).__name__}")
        else:
            columns[name] = value
    return columns


def _parse_endpoints(raw: Any, problems: list[str]) -> tuple[str, ...]:
    if raw is None:
        return ENDPOINTS
    if not isinstance(raw, list) or not raw:
        problems.append(f"endpoints must be a non-empty list of: {', '.join(ENDPOINTS)}")
        return ENDPOINTS
    for value in raw:
        if value not in ENDPOINTS:
            problems.append(f"endpoints: unknown endpoint {value!r} (expected: {', '.join(ENDPOINTS)})")
    return tuple(v for v in ENDPOINTS if v in raw)
