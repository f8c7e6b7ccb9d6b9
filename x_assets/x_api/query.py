"""X's search query language, the part recent search accepts on self-serve access.

Parsed into a small tree so that a query is checked before any request (a clear error naming the
query, where X would answer 400 after billing nothing but a request) and so that the emulator can
match posts with the same grammar. Operators and rules follow X's "Build a query" page: a space is
AND, which X applies before OR ("a b OR c" is "(a b) OR c"), parentheses group, "-" negates, and
is:/has:/lang: only narrow a query that has a standalone term.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_QUERY_CHARS = 512  # self-serve recent search (Enterprise: 4,096)
STANDALONE = ("from", "to", "retweets_of", "conversation_id", "url")
CONJUNCTION_ONLY = {
    "is": ("retweet", "reply", "quote", "verified"),
    "has": ("links", "mentions", "hashtags", "media", "images", "videos"),
    "lang": (),  # any BCP 47 code
}
TOKEN = re.compile(r'\s*(\(|\)|-?"[^"]*"|-?"[^"]*$|-?[^\s()"]+)')
HANDLE = re.compile(r"^[A-Za-z0-9_]{1,15}$")


class QueryError(ValueError):
    """X would refuse the query (HTTP 400); the message is X's wording where it is known."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at position {position + 1})")
        self.position = position


@dataclass(frozen=True)
class Term:
    kind: str  # keyword, phrase, hashtag, cashtag, mention, or an operator name (from, lang, is, ...)
    value: str
    negated: bool = False

    @property
    def standalone(self) -> bool:
        return self.kind not in CONJUNCTION_ONLY and not self.negated


@dataclass(frozen=True)
class Group:
    op: str  # "and" or "or"
    parts: tuple[Term | Group, ...]


Node = Term | Group


def _term(raw: str, position: int) -> Term:
    negated = raw.startswith("-") and len(raw) > 1
    text = raw[1:] if negated else raw
    if text.startswith('"'):
        if len(text) < 2 or not text.endswith('"'):
            raise QueryError("There were errors processing your request: Unterminated quoted phrase", position)
        return Term("phrase", text[1:-1].lower(), negated)
    if text.lower() == "and":
        raise QueryError(
            "There were errors processing your request: Ambiguous use of and as a keyword. Use a space to logically "
            'join two clauses, or "and" to find occurrences of and in text',
            position,
        )
    for prefix, kind in (("#", "hashtag"), ("$", "cashtag"), ("@", "mention")):
        if text.startswith(prefix) and len(text) > 1:
            return Term(kind, text[1:].lower(), negated)
    name, colon, value = text.partition(":")
    if colon and name and not name.startswith("http"):
        operator = name.lower()
        if operator in STANDALONE:
            if operator in ("from", "to", "retweets_of") and not HANDLE.match(value.lstrip("@")):
                raise QueryError(
                    f"There were errors processing your request: Invalid value for operator '{operator}:'", position
                )
            return Term(operator, value.lstrip("@").lower(), negated)
        if operator in CONJUNCTION_ONLY:
            allowed = CONJUNCTION_ONLY[operator]
            if (allowed and value.lower() not in allowed) or not value:
                raise QueryError(
                    f"There were errors processing your request: Reference to invalid operator '{name}:{value}'",
                    position,
                )
            return Term(operator, value.lower(), negated)
        raise QueryError(
            f"There were errors processing your request: Reference to invalid operator '{name}'. Operator is not "
            "available in current product or product packaging. Please refer to complete available operator list "
            "at https://developer.x.com/en/docs/twitter-api/tweets/search/integrate/build-a-query#list",
            position,
        )
    return Term("keyword", text.lower(), negated)


def parse_query(query: str) -> Node:
    """The query as a tree; raises QueryError as X would answer 400."""
    if not query.strip():
        raise QueryError("There were errors processing your request: The query is empty", 0)
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(
            f"There were errors processing your request: Query length is {len(query)} characters, more than the "
            f"{MAX_QUERY_CHARS} recent search allows",
            MAX_QUERY_CHARS,
        )
    tokens: list[tuple[str, int]] = []
    at = 0
    while at < len(query):
        match = TOKEN.match(query, at)
        if match is None:  # only trailing spaces are left
            break
        tokens.append((match.group(1), match.start(1)))
        at = match.end()
    node, rest = _parse_or(tokens, 0)
    if rest < len(tokens):
        raise QueryError("There were errors processing your request: Unbalanced parentheses", tokens[rest][1])
    if not _has_standalone(node):
        raise QueryError(
            "There were errors processing your request: is/has/lang cannot be used as a standalone operator, and a "
            "query needs at least one term that is not negated",
            0,
        )
    return node


def _parse_or(tokens: list[tuple[str, int]], i: int) -> tuple[Node, int]:
    parts = []
    node, i = _parse_and(tokens, i)
    parts.append(node)
    while i < len(tokens) and tokens[i][0] == "OR":
        node, i = _parse_and(tokens, i + 1)
        parts.append(node)
    return (parts[0] if len(parts) == 1 else Group("or", tuple(parts))), i


def _parse_and(tokens: list[tuple[str, int]], i: int) -> tuple[Node, int]:
    parts: list[Node] = []
    while i < len(tokens) and tokens[i][0] not in ("OR", ")"):
        raw, position = tokens[i]
        if raw == "(":
            node, i = _parse_or(tokens, i + 1)
            if i >= len(tokens) or tokens[i][0] != ")":
                raise QueryError("There were errors processing your request: Unbalanced parentheses", position)
            parts.append(node)
            i += 1
            continue
        parts.append(_term(raw, position))
        i += 1
    if not parts:
        position = tokens[i][1] if i < len(tokens) else (tokens[-1][1] if tokens else 0)
        raise QueryError("There were errors processing your request: A clause is empty (OR or parentheses)", position)
    return (parts[0] if len(parts) == 1 else Group("and", tuple(parts))), i


def _has_standalone(node: Node) -> bool:
    """X's rule: every alternative of the query needs a positive term that stands alone."""
    if isinstance(node, Term):
        return node.standalone
    if node.op == "or":
        return all(_has_standalone(part) for part in node.parts)
    return any(_has_standalone(part) for part in node.parts)
