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

from ..constants import DEFAULT_ENDPOINTS, ENDPOINTS, SEARCH_INSIGHTS
from ..x_api.query import QueryError, parse_query

HANDLE_RE = re.compile(r"^[A-Za-z0-9_]{1,15}$")
MAX_ID = 2**63 - 1  # X ids are 64-bit snowflakes: at most 19 digits
EXCERPT_CHARS = 60
MAX_PROBLEMS_SHOWN = 50  # a message stays readable (and small in run storage) however broken the file
COLUMN_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
BEARER_KEYS = ("bearer_token",)
OAUTH1_KEYS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
ACCOUNT_KEYS = frozenset({"username", "id", "name", "credentials"})
TOP_KEYS = frozenset({"accounts", "credentials", "default_schema", "endpoints", "queries"})
QUERY_KEYS = frozenset({"name", "query"})
QUERY_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class SourceConfigError(ValueError):
    """The source file is unusable; the message lists every problem found."""


class WrittenInt(int):
    """An integer from the source file that remembers the text it was written as (an id must be
    exactly the digits written: YAML 1.1 reads 0777 as 511, 0x10 as 16, 1_000 as 1000, 1:30 as 90)."""

    text: str


class SourceLoader(yaml.SafeLoader):
    """PyYAML's safe loader, with integers that keep their text, dates checked, and no aliases.

    An alias repeats a node without writing it again: nested, a few hundred bytes expand to
    megabytes (a "billion laughs"), and nothing a source file holds needs one.
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"aliases (*{excerpt(event.anchor, 20)}) are not allowed in a source file", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_written_int(self, node: yaml.ScalarNode) -> WrittenInt:
        value = WrittenInt(self.construct_yaml_int(node))
        value.text = str(node.value)
        return value

    def construct_checked_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return self.construct_yaml_timestamp(node)
        except ValueError as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"{excerpt(node.value, 30)} is not a valid date ({exc})", node.start_mark
            ) from None


SourceLoader.add_constructor("tag:yaml.org,2002:int", SourceLoader.construct_written_int)
SourceLoader.add_constructor("tag:yaml.org,2002:timestamp", SourceLoader.construct_checked_timestamp)


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """A value as a message quotes it: its repr, cut short, so no entry is ever printed whole."""
    text = repr(value.text if isinstance(value, WrittenInt) else value)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-2:]}"


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
class QuerySpec:
    """A recent-search query the source watches: its rows in search_insights carry its name."""

    name: str
    query: str


@dataclass(frozen=True)
class SourceConfig:
    path: str
    accounts: tuple[AccountSpec, ...]
    default_schema: dict[str, Any] = field(default_factory=dict)
    endpoints: tuple[str, ...] = DEFAULT_ENDPOINTS
    credentials: CredentialRefs | None = None  # the source's own default credentials; else the X_* variables
    queries: tuple[QuerySpec, ...] = ()


def load_source(
    path: str | os.PathLike[str], reserved_columns: frozenset[str] = frozenset(), check_env: bool = True
) -> SourceConfig:
    """Read and validate the source file; raise SourceConfigError naming every problem.

    check_env: whether the credential variables it names must be set (reads from X need them;
    the derived assets, pure SQL, do not).
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourceConfigError(f"{file}: source file not found (set X_SOURCE_FILE or create it)") from None
    except OSError as exc:
        raise SourceConfigError(f"{file}: cannot read the source file: {exc.strerror}") from None
    try:
        raw = yaml.load(text, Loader=SourceLoader)  # a SafeLoader subclass: builds no Python objects
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        raise SourceConfigError(f"{file}: not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None
    return parse_source(raw, str(file), reserved_columns, check_env)


def parse_source(
    raw: Any, path: str, reserved_columns: frozenset[str] = frozenset(), check_env: bool = True
) -> SourceConfig:
    problems: list[str] = []
    if not isinstance(raw, dict):
        raise SourceConfigError(f"{path}: the top level must be a mapping with an 'accounts' key")
    for key in sorted(map(str, set(raw) - TOP_KEYS)):
        problems.append(f"unknown key {excerpt(key)} (expected one of: {', '.join(sorted(TOP_KEYS))})")

    accounts = _parse_accounts(raw.get("accounts"), problems, check_env)
    credentials = _parse_credentials(raw.get("credentials"), "credentials", problems, check_env)
    default_schema = _parse_default_schema(raw.get("default_schema"), reserved_columns, problems)
    endpoints = _parse_endpoints(raw.get("endpoints"), problems)
    queries = _parse_queries(raw.get("queries"), problems)
    if SEARCH_INSIGHTS in endpoints and not queries and "queries" not in raw:
        problems.append(f"endpoints: {SEARCH_INSIGHTS} needs a 'queries' list (each with a name and an X query)")
    if problems:
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        listed = "\n".join(f"  - {p}" for p in shown) + (f"\n  - ... and {more} more" if more else "")
        raise SourceConfigError(f"{path}: {len(problems)} problem(s):\n{listed}")
    return SourceConfig(
        path=path,
        accounts=tuple(accounts),
        default_schema=default_schema,
        endpoints=endpoints,
        credentials=credentials,
        queries=tuple(queries),
    )


def _parse_accounts(raw: Any, problems: list[str], check_env: bool = True) -> list[AccountSpec]:
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
            problems.append(f"{where}: expected a mapping with 'username' or 'id', got {excerpt(entry)}")
            continue
        who = entry.get("username") or entry.get("id") or "?"
        who = who.text if isinstance(who, WrittenInt) else who
        where = f"accounts[{i}] ({str(who)[:EXCERPT_CHARS]})"
        for key in sorted(map(str, set(entry) - ACCOUNT_KEYS)):
            problems.append(f"{where}: unknown key {excerpt(key)} (expected: {', '.join(sorted(ACCOUNT_KEYS))})")
        username, account_id = entry.get("username"), entry.get("id")
        if username is None and account_id is None:
            problems.append(f"{where}: give 'username' or 'id'")
            continue
        if username is not None and account_id is not None:
            problems.append(f"{where}: give 'username' or 'id', not both")
            continue
        if username is not None and not (isinstance(username, str) and HANDLE_RE.match(username)):
            problems.append(
                f"{where}: username {excerpt(username)} is not a valid X handle "
                "(1 to 15 letters, digits or underscores)"
            )
            continue
        if account_id is not None:
            account_id, problem = _parse_id(account_id)
            if problem:
                problems.append(f"{where}: {problem}")
                continue
        name = entry.get("name")
        if name is not None and not (isinstance(name, str) and name.strip()):
            problems.append(f"{where}: name must be a non-empty string")
        credentials = _parse_credentials(entry.get("credentials"), where, problems, check_env)
        spec = AccountSpec(username=username, account_id=account_id, name=name, credentials=credentials, position=i)
        if spec.key in seen:
            problems.append(f"{where}: duplicate of accounts[{seen[spec.key]}] (the same account, listed twice)")
            continue
        seen[spec.key] = i
        accounts.append(spec)
    return accounts


def _parse_id(raw: Any) -> tuple[str, str | None]:
    """The id exactly as written (quoted or not), or why it is not one."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        return "", f'id {excerpt(raw)} is not a numeric X account id: write its digits, e.g. id: "2244994945"'
    text = raw.text if isinstance(raw, WrittenInt) else raw if isinstance(raw, str) else str(raw)
    if not (text.isascii() and text.isdigit()):
        return "", (
            f"id {excerpt(text)} is not a numeric X account id: write the digits only, quoted, "
            'e.g. id: "2244994945" (unquoted YAML would read 0x10, 1_000 or 1:30 as other numbers)'
        )
    if text.startswith("0"):
        return "", (
            f"id {excerpt(text)} starts with 0, which no X account id does (unquoted YAML would read 0777 as "
            "the octal number 511): write the id exactly as X gives it"
        )
    if len(text) > 19 or int(text) > MAX_ID:
        return "", f"id {excerpt(text)} has more digits than X's 64-bit ids (at most 19): check it was copied whole"
    return text, None


def _parse_credentials(raw: Any, where: str, problems: list[str], check_env: bool = True) -> CredentialRefs | None:
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
            problems.append(
                f"{where}: credentials.{key} must be the NAME of an environment variable, got {excerpt(env_name)}"
            )
            return None
    oauth = [k for k in OAUTH1_KEYS if k in names]
    if "bearer_token" not in names and len(oauth) != len(OAUTH1_KEYS):
        missing = [k for k in OAUTH1_KEYS if k not in names]
        problems.append(
            f"{where}: credentials need bearer_token, or all four OAuth 1.0a keys (missing: {', '.join(missing)})"
        )
        return None
    refs = CredentialRefs(env_names=names)
    for env_name in refs.missing() if check_env else []:
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
        where = f"default_schema.{str(name)[:EXCERPT_CHARS]}"
        if not isinstance(name, str) or not COLUMN_RE.match(name):
            problems.append(
                f"{where}: {excerpt(name)} is not a valid column name (lowercase letters, digits, underscores)"
            )
        elif name in reserved:
            problems.append(f"{where}: collides with the built-in column '{name}'")
        elif not isinstance(value, (str, int, float, bool, dt.date)) and value is not None:
            problems.append(f"{where}: value must be a string, number, boolean or date, got {type(value).__name__}")
        elif isinstance(value, int) and not isinstance(value, bool) and not -MAX_ID - 1 <= value <= MAX_ID:
            problems.append(f"{where}: {excerpt(value)} does not fit a 64-bit integer column; quote it to store text")
        else:
            columns[name] = int(value) if isinstance(value, WrittenInt) else value
    return columns


def _parse_endpoints(raw: Any, problems: list[str]) -> tuple[str, ...]:
    if raw is None:
        return DEFAULT_ENDPOINTS
    if not isinstance(raw, list) or not raw:
        problems.append(f"endpoints must be a non-empty list of: {', '.join(ENDPOINTS)}")
        return DEFAULT_ENDPOINTS
    for value in raw:
        if value not in ENDPOINTS:
            problems.append(f"endpoints: unknown endpoint {excerpt(value)} (expected: {', '.join(ENDPOINTS)})")
    return tuple(v for v in ENDPOINTS if v in raw)


def _parse_queries(raw: Any, problems: list[str]) -> list[QuerySpec]:
    """Each query checked as X's recent search would check it, so a bad one fails here, by name."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not raw:
        problems.append("queries must be a non-empty list of mappings with 'name' and 'query'")
        return []
    queries: list[QuerySpec] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(raw):
        where = f"queries[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected a mapping with 'name' and 'query', got {excerpt(entry)}")
            continue
        name, query = entry.get("name"), entry.get("query")
        where = f"queries[{i}] ({str(name)[:EXCERPT_CHARS]})" if name is not None else where
        for key in sorted(map(str, set(entry) - QUERY_KEYS)):
            problems.append(f"{where}: unknown key {excerpt(key)} (expected: name, query)")
        if not (isinstance(name, str) and QUERY_NAME_RE.match(name)):
            problems.append(f"{where}: name {excerpt(name)} must be 1 to 40 lowercase letters, digits or underscores")
            continue
        if name in seen:
            problems.append(f"{where}: duplicate name of queries[{seen[name]}]")
            continue
        seen[name] = i
        if not isinstance(query, str):
            problems.append(f"{where}: query must be a string, e.g. query: '#launch -is:retweet lang:en'")
            continue
        try:
            parse_query(query)
        except QueryError as exc:
            problems.append(f"{where}: X would refuse the query {excerpt(query)}: {exc}")
            continue
        queries.append(QuerySpec(name, query))
    return queries


def twin_problems(source: SourceConfig, ids: dict[str, str]) -> list[str]:
    """Entries that name one X account twice (a handle and its id): each would be read, paid for and
    written twice. ids maps account keys to the ids known so far (given, stored or just looked up)."""
    by_id: dict[str, list[AccountSpec]] = {}
    for spec in source.accounts:
        account_id = spec.account_id or ids.get(spec.key)
        if account_id:
            by_id.setdefault(account_id, []).append(spec)
    return [
        f"{' and '.join(f'accounts[{s.position}] ({s.label})' for s in specs)} are the same X account "
        f"(id {account_id}): list it once"
        for account_id, specs in by_id.items()
        if len(specs) > 1
    ]


def refuse_twins(source: SourceConfig, ids: dict[str, str]) -> None:
    problems = twin_problems(source, ids)
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems[:MAX_PROBLEMS_SHOWN])
        raise SourceConfigError(f"{source.path}: {len(problems)} problem(s):\n{listed}")
