"""The X API v2 read endpoints the connector uses, with the real parameter rules."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..x_api.query import QueryError, parse_query
from . import meter, shapes
from .auth import Credential
from .search import matches
from .world import MENTIONS_CAP, SUSPENDED, TIMELINE_CAP, Account, Tweet, World

USERNAME_RE = re.compile(r"^[A-Za-z0-9_]{1,15}$")
ID_RE = re.compile(r"^[0-9]{1,19}$")
# RFC 3339, as the spec's `date-time` format says: Z or an offset (twarc sends +00:00), milliseconds at most
TIME_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d{1,3})?(Z|[+-]\d{2}:\d{2})$")
EARLIEST = dt.datetime(2010, 11, 6, 0, 0, 1, tzinfo=dt.UTC)

FIELD_PARAMS = ("tweet.fields", "user.fields", "expansions", "media.fields", "place.fields", "poll.fields")
USER_PARAMS = ("user.fields", "expansions", "tweet.fields")
TIMELINE_PARAMS = (
    "max_results",
    "pagination_token",
    "start_time",
    "end_time",
    "since_id",
    "until_id",
    "exclude",
    *FIELD_PARAMS,
)
MENTIONS_PARAMS = tuple(p for p in TIMELINE_PARAMS if p != "exclude")


class InvalidRequestError(Exception):
    def __init__(self, parameter: str, value: str, message: str) -> None:
        super().__init__(message)
        self.body = shapes.invalid_request(parameter, [value], message)


class UnsupportedAuthenticationError(Exception):
    """A user-context-only field asked for with app-only (bearer) auth: X answers 403."""

    body = shapes.UNSUPPORTED_AUTHENTICATION


class AppOnlyEndpointError(UnsupportedAuthenticationError):
    """User context on an endpoint that takes app-only auth alone: X answers 403 too."""

    body = shapes.USER_CONTEXT_FORBIDDEN


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    route: str
    group: str  # rate-limit bucket
    tweet_ids: list[str] = field(default_factory=list)  # billable reads in this answer
    user_ids: list[str] = field(default_factory=list)


@dataclass
class Request:
    world: World
    params: dict[str, str]
    credential: Credential
    post_reads_by_day: Callable[[], Counter[str]] = Counter  # the meter's billed posts per UTC day

    def values(self, name: str) -> list[str]:
        raw = self.params.get(name, "")
        return [v for v in raw.split(",") if v]

    def fields(self, name: str, allowed: frozenset[str]) -> frozenset[str]:
        chosen = self.values(name)
        for value in chosen:
            if value not in allowed:
                raise InvalidRequestError(
                    name,
                    value,
                    f"The `{name}` query parameter value [{value}] is not one of [{','.join(sorted(allowed))}]",
                )
        return frozenset(chosen)

    def private_fields(self) -> frozenset[str]:
        """The author-only fields asked for; refused at once under app-only auth, as X does."""
        asked = self.fields("tweet.fields", shapes.TWEET_FIELDS) & shapes.PRIVATE_FIELDS
        if asked and self.credential.kind == "bearer":
            raise UnsupportedAuthenticationError()
        return asked

    def may_see_private(self, tweet: Tweet) -> bool:
        """Author-only metrics: the authenticated user's own posts of the last 30 days."""
        recent = tweet.created_ms >= self.world.now_ms() - shapes.PRIVATE_METRICS_DAYS * 86_400_000
        return recent and self.credential.user_id is not None and tweet.author_id == self.credential.user_id

    def can_read_timeline(self, account: Account) -> bool:
        if not account.is_protected:
            return True
        return account.owner_label is not None and account.owner_label == self.credential.label


def check_params(params: dict[str, str], allowed: tuple[str, ...]) -> None:
    for name in params:
        if name not in allowed:
            raise InvalidRequestError(
                name, params[name], f"The query parameter [{name}] is not one of [{','.join(allowed)}]"
            )


def _list_param(req: Request, name: str, pattern: re.Pattern[str]) -> list[str]:
    values = req.values(name)
    if not 1 <= len(values) <= 100:
        raise InvalidRequestError(
            name,
            req.params.get(name, ""),
            f"The number of values in the `{name}` query parameter list [{len(values)}] is not between 1 and 100",
        )
    for value in values:
        if not pattern.match(value):
            raise InvalidRequestError(
                name, value, f"The `{name}` query parameter value [{value}] does not match {pattern.pattern}"
            )
    return values


# -- users ---------------------------------------------------------------------------
def _user_result(
    req: Request,
    account: Account | None,
    parameter: str,
    value: str,
    data: list[dict[str, Any]],
    errors: list[dict[str, Any]],
    fields: frozenset[str],
) -> None:
    if account is None:
        errors.append(shapes.not_found("user", parameter, value))
    elif account.state == SUSPENDED:
        errors.append(shapes.suspended(parameter, value))
    else:
        data.append(shapes.render_user(req.world, account, fields))


def _users_reply(req: Request, route: str, lookups: list[tuple[Account | None, str, str]], single: bool) -> Reply:
    fields = req.fields("user.fields", shapes.USER_FIELDS)
    req.fields("expansions", shapes.USER_EXPANSIONS)
    data: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for account, parameter, value in lookups:
        _user_result(req, account, parameter, value, data, errors, fields)
    body: dict[str, Any] = {}
    if data:
        body["data"] = data[0] if single else data
    if errors:
        body["errors"] = errors
    return Reply(200, body, route, "users", user_ids=[u["id"] for u in data])


def users_by_usernames(req: Request) -> Reply:
    check_params(req.params, ("usernames", *USER_PARAMS))
    names = _list_param(req, "usernames", USERNAME_RE)
    lookups = [(req.world.by_username.get(n.lower()), "usernames", n) for n in names]
    return _users_reply(req, "GET /2/users/by", lookups, single=False)


def users_by_ids(req: Request) -> Reply:
    check_params(req.params, ("ids", *USER_PARAMS))
    ids = _list_param(req, "ids", ID_RE)
    lookups = [(req.world.accounts.get(int(i)), "ids", i) for i in ids]
    return _users_reply(req, "GET /2/users", lookups, single=False)


def user_by_id(req: Request, user_id: str) -> Reply:
    check_params(req.params, USER_PARAMS)
    if not ID_RE.match(user_id):
        raise InvalidRequestError(
            "id", user_id, f"The `id` query parameter value [{user_id}] does not match {ID_RE.pattern}"
        )
    account = req.world.accounts.get(int(user_id))
    return _users_reply(req, "GET /2/users/:id", [(account, "id", user_id)], single=True)


def user_by_username(req: Request, username: str) -> Reply:
    check_params(req.params, USER_PARAMS)
    if not USERNAME_RE.match(username):
        raise InvalidRequestError(
            "username",
            username,
            f"The `username` query parameter value [{username}] does not match {USERNAME_RE.pattern}",
        )
    account = req.world.by_username.get(username.lower())
    return _users_reply(req, "GET /2/users/by/username/:username", [(account, "username", username)], single=True)


# -- tweets --------------------------------------------------------------------------
def _render_tweets(req: Request, tweets: list[Tweet], reply: Reply) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Render data tweets and build includes and partial errors for the expansions asked."""
    world = req.world
    fields = req.fields("tweet.fields", shapes.TWEET_FIELDS)
    user_fields = req.fields("user.fields", shapes.USER_FIELDS)
    expansions = req.fields("expansions", shapes.TWEET_EXPANSIONS)
    errors: list[dict[str, Any]] = []
    private = req.private_fields()
    if private:  # posts the caller may not see these fields of are left out, each with an error
        field = sorted(private)[0]
        withheld = [t for t in tweets if not req.may_see_private(t)]
        errors.extend(shapes.field_unauthorized(field, str(t.id), "data") for t in withheld)
        tweets = [t for t in tweets if req.may_see_private(t)]
    data = [shapes.render_tweet(world, t, fields) for t in tweets]
    world.note_served(data)
    extra: dict[str, Any] = {}
    included: list[Tweet] = []
    if "referenced_tweets.id" in expansions or "referenced_tweets.id.author_id" in expansions:
        seen: set[int] = set()
        for tweet in tweets:
            for _, ref_id in tweet.refs:
                if ref_id in seen:
                    continue
                seen.add(ref_id)
                ref = world.get_tweet(ref_id)
                author = world.accounts.get(ref.author_id) if ref else None
                if ref is None or author is None or author.state == SUSPENDED:
                    errors.append(shapes.not_found("tweet", "referenced_tweets.id", str(ref_id)))
                elif not req.can_read_timeline(author):
                    errors.append(
                        shapes.not_authorized("tweet", "referenced_tweets.id", str(ref_id), section="includes")
                    )
                elif private and not req.may_see_private(ref):
                    errors.append(shapes.field_unauthorized(sorted(private)[0], str(ref_id), "includes"))
                else:
                    included.append(ref)
    users: dict[int, Account] = {}
    if "author_id" in expansions:
        for tweet in tweets:
            users.setdefault(tweet.author_id, world.accounts[tweet.author_id])
    if "referenced_tweets.id.author_id" in expansions:
        for tweet in included:
            users.setdefault(tweet.author_id, world.accounts[tweet.author_id])
    includes: dict[str, Any] = {}
    if users:
        includes["users"] = [shapes.render_user(world, a, user_fields) for a in users.values()]
    if included:
        includes["tweets"] = [shapes.render_tweet(world, t, fields) for t in included]
    if includes:
        extra["includes"] = includes
    if errors:
        extra["errors"] = errors
    reply.tweet_ids = [d["id"] for d in data] + [d["id"] for d in includes.get("tweets", [])]
    reply.user_ids = [u["id"] for u in includes.get("users", [])]
    return data, extra


def _parse_time(name: str, value: str) -> int:
    match = TIME_RE.match(value)
    message = f"Invalid '{name}':'{value}'. '{name}' must be on or after {EARLIEST:%Y-%m-%dT%H:%MZ}"
    if not match:
        raise InvalidRequestError(name, value, f"Invalid '{name}':'{value}'. Expected format YYYY-MM-DDTHH:mm:ssZ")
    offset = "+00:00" if match.group(3) == "Z" else match.group(3)
    moment = dt.datetime.fromisoformat(match.group(1) + offset).astimezone(dt.UTC)
    if moment < EARLIEST:
        raise InvalidRequestError(name, value, message)
    return int(moment.timestamp()) * 1000  # second granularity


def _token(direction: str, tweet_id: int) -> str:
    return base64.b32encode(f"{direction}{tweet_id}".encode()).decode().rstrip("=").lower()


def _untoken(token: str) -> tuple[str, int]:
    padded = token.upper() + "=" * (-len(token) % 8)
    try:
        raw = base64.b32decode(padded).decode()
        direction, tweet_id = raw[0], int(raw[1:])
    except (binascii.Error, UnicodeDecodeError, ValueError, IndexError):
        raise InvalidRequestError(
            "pagination_token", token, f"The `pagination_token` query parameter value [{token}] is not valid"
        ) from None
    if direction not in "np":
        raise InvalidRequestError(
            "pagination_token", token, f"The `pagination_token` query parameter value [{token}] is not valid"
        )
    return direction, tweet_id


@dataclass
class PageQuery:
    """The paging and time parameters of a timeline-like request, validated as X validates them."""

    max_results: int
    since_id: int | None
    until_id: int | None
    start_ms: int | None
    end_ms: int | None
    token: tuple[str, int] | None


def _page_query(req: Request, lowest: int = 5, default: str = "10") -> PageQuery:
    raw_max = req.params.get("max_results", default)
    if not raw_max.isdigit() or not lowest <= int(raw_max) <= 100:
        raise InvalidRequestError(
            "max_results",
            raw_max,
            f"The `max_results` query parameter value [{raw_max}] is not between {lowest} and 100",
        )
    bounds = {}
    for name in ("since_id", "until_id"):
        if name in req.params:
            value = req.params[name]
            if not ID_RE.match(value):
                raise InvalidRequestError(
                    name, value, f"The `{name}` query parameter value [{value}] does not match {ID_RE.pattern}"
                )
            bounds[name] = int(value)
    start_ms = _parse_time("start_time", req.params["start_time"]) if "start_time" in req.params else None
    end_ms = _parse_time("end_time", req.params["end_time"]) if "end_time" in req.params else None
    if start_ms is not None and end_ms is not None and start_ms >= end_ms:
        raise InvalidRequestError(
            "start_time",
            req.params["start_time"],
            f"The `start_time` query parameter value [{req.params['start_time']}] must be before the "
            f"`end_time` query parameter value [{req.params['end_time']}]",
        )
    token_param = "next_token" if "next_token" in req.params else "pagination_token"
    token = _untoken(req.params[token_param]) if token_param in req.params else None
    return PageQuery(int(raw_max), bounds.get("since_id"), bounds.get("until_id"), start_ms, end_ms, token)


def _serve_page(req: Request, reply: Reply, reachable: list[Tweet], q: PageQuery, previous: bool = True) -> Reply:
    """One page of reachable posts (newest first) within the query's bounds, as X pages them."""
    # since_id/until_id override start_time/end_time; all bounds as the API defines them
    lower, upper, start_ms, end_ms = q.since_id, q.until_id, q.start_ms, q.end_ms
    selected = [
        t
        for t in reachable
        if (t.id > lower if lower is not None else start_ms is None or t.created_ms >= start_ms)
        and (t.id < upper if upper is not None else end_ms is None or t.created_ms <= end_ms + 999)
    ]
    token = q.token
    if token is None:
        page, older = selected[: q.max_results], selected[q.max_results :]
    elif token[0] == "n":
        older_all = [t for t in selected if t.id < token[1]]
        page, older = older_all[: q.max_results], older_all[q.max_results :]
    else:
        newer_all = [t for t in selected if t.id > token[1]]
        page = newer_all[-q.max_results :]
        older = [t for t in selected if page and t.id < page[-1].id]
    if not page:
        reply.body = {"meta": {"result_count": 0}}
        return reply
    data, extra = _render_tweets(req, page, reply)
    meta: dict[str, Any] = {
        "result_count": len(page),
        "newest_id": str(page[0].id),
        "oldest_id": str(page[-1].id),
    }
    if older:
        meta["next_token"] = _token("n", page[-1].id)
    if token is not None and previous:
        meta["previous_token"] = _token("p", page[0].id)
    reply.body = {**({"data": data} if data else {}), **extra, "meta": meta}
    return reply


def _account_or_error(req: Request, reply: Reply, user_id: str, timeline: bool) -> Account | None:
    """The path's account, or None with X's error body set on the reply."""
    if not ID_RE.match(user_id):
        raise InvalidRequestError(
            "id", user_id, f"The `id` query parameter value [{user_id}] does not match {ID_RE.pattern}"
        )
    account = req.world.accounts.get(int(user_id))
    if account is None:
        reply.body = {"errors": [shapes.not_found("user", "id", user_id)]}
        return None
    if account.state == SUSPENDED:
        reply.body = {"errors": [shapes.suspended("id", user_id)]}
        return None
    if timeline and not req.can_read_timeline(account):
        reply.body = {"errors": [shapes.not_authorized("user", "id", user_id)]}
        return None
    return account


def user_timeline(req: Request, user_id: str) -> Reply:
    check_params(req.params, TIMELINE_PARAMS)
    reply = Reply(200, {}, "GET /2/users/:id/tweets", "timeline")
    q = _page_query(req)
    excludes = set(req.values("exclude"))
    unknown = sorted(excludes - {"retweets", "replies"})
    if unknown:
        raise InvalidRequestError(
            "exclude",
            unknown[0],
            f"The `exclude` query parameter value [{unknown[0]}] is not one of [replies,retweets]",
        )
    private = req.private_fields()  # validate before reading anything
    account = _account_or_error(req, reply, user_id, timeline=True)
    if account is None:
        return reply
    reachable = req.world.visible_tweets(account)[:TIMELINE_CAP]
    if private:  # author-only fields restrict a timeline to its last 30 days
        since_ms = req.world.now_ms() - shapes.PRIVATE_METRICS_DAYS * 86_400_000
        reachable = [t for t in reachable if t.created_ms >= since_ms]
    if "retweets" in excludes:
        reachable = [t for t in reachable if t.retweeted_id is None]
    if "replies" in excludes:
        reachable = [t for t in reachable if t.in_reply_to_user_id is None][:800]
    return _serve_page(req, reply, reachable, q)


def user_mentions(req: Request, user_id: str) -> Reply:
    """Posts that @mention the account: only its 800 most recent are reachable, then "a successful
    response with no data" (X's docs); a protected account's mentions are others' public posts."""
    check_params(req.params, MENTIONS_PARAMS)
    reply = Reply(200, {}, "GET /2/users/:id/mentions", "mentions")
    q = _page_query(req)
    req.private_fields()  # others' posts: refused under app-only auth, withheld under user context
    account = _account_or_error(req, reply, user_id, timeline=False)
    if account is None:
        return reply
    visible = [t for t in req.world.mentions_of(account) if req.can_read_timeline(req.world.accounts[t.author_id])]
    reachable = visible[:MENTIONS_CAP]
    return _serve_page(req, reply, reachable, q)


SEARCH_PARAMS = (
    "query",
    "max_results",
    "next_token",
    "pagination_token",
    "start_time",
    "end_time",
    "since_id",
    "until_id",
    "sort_order",
    *FIELD_PARAMS,
)
RECENT_DAYS = 7


def search_recent(req: Request) -> Reply:
    """Recent search: public posts of the last 7 days matching X's query language, newest first."""
    check_params(req.params, SEARCH_PARAMS)
    reply = Reply(200, {}, "GET /2/tweets/search/recent", "search")
    query = req.params.get("query", "")
    if not query:
        raise InvalidRequestError("query", "", "The `query` query parameter can not be empty")
    try:
        node = parse_query(query)
    except QueryError as exc:
        raise InvalidRequestError("query", query, str(exc)) from None
    q = _page_query(req, lowest=10)
    now = req.world.now_ms()
    earliest = now - RECENT_DAYS * 86_400_000
    if q.start_ms is not None and q.start_ms < earliest - 60_000:  # a minute's grace for the client's clock
        moment = dt.datetime.fromtimestamp(earliest / 1000, tz=dt.UTC)
        raise InvalidRequestError(
            "start_time",
            req.params["start_time"],
            f"Invalid 'start_time':'{req.params['start_time']}'. 'start_time' must be on or after "
            f"{moment:%Y-%m-%dT%H:%MZ}",
        )
    if q.end_ms is not None and q.end_ms > now - 10_000:
        raise InvalidRequestError(
            "end_time",
            req.params["end_time"],
            f"Invalid 'end_time':'{req.params['end_time']}'. 'end_time' must be a minimum of 10 seconds prior "
            "to the request time.",
        )
    order = req.params.get("sort_order", "recency")
    if order not in ("recency", "relevancy"):
        raise InvalidRequestError(
            "sort_order", order, f"The `sort_order` query parameter value [{order}] is not one of [recency,relevancy]"
        )
    req.private_fields()  # others' posts: refused under app-only auth
    world = req.world
    found = [
        t
        for t in world.tweets.values()
        if earliest <= t.created_ms <= now
        and world.accounts[t.author_id].state != SUSPENDED
        and not world.accounts[t.author_id].is_protected
        and matches(world, node, t)
    ]
    found.sort(key=lambda t: t.id, reverse=True)
    return _serve_page(req, reply, found, q, previous=False)


def _tweet_lookup(req: Request, ids: list[str], parameter: str, route: str, group: str, single: bool) -> Reply:
    reply = Reply(200, {}, route, group)
    req.private_fields()  # refused before reading anything
    found: list[Tweet] = []
    errors: list[dict[str, Any]] = []
    for raw in ids:
        tweet = req.world.get_tweet(int(raw))
        author = req.world.accounts.get(tweet.author_id) if tweet else None
        if tweet is None or author is None or author.state == SUSPENDED:
            errors.append(shapes.not_found("tweet", parameter, raw))
        elif not req.can_read_timeline(author):
            errors.append(shapes.not_authorized("tweet", parameter, raw))
        else:
            found.append(tweet)
    data, extra = _render_tweets(req, found, reply)
    errors.extend(extra.pop("errors", []))
    body: dict[str, Any] = {}
    if data:
        body["data"] = data[0] if single else data
    body.update(extra)
    if errors:
        body["errors"] = errors
    reply.body = body
    return reply


def tweets_by_ids(req: Request) -> Reply:
    check_params(req.params, ("ids", *FIELD_PARAMS))
    ids = _list_param(req, "ids", ID_RE)
    return _tweet_lookup(req, ids, "ids", "GET /2/tweets", "tweets", single=False)


def tweet_by_id(req: Request, tweet_id: str) -> Reply:
    check_params(req.params, FIELD_PARAMS)
    if not ID_RE.match(tweet_id):
        raise InvalidRequestError(
            "id", tweet_id, f"The `id` query parameter value [{tweet_id}] does not match {ID_RE.pattern}"
        )
    return _tweet_lookup(req, [tweet_id], "id", "GET /2/tweets/:id", "tweet", single=True)


USAGE_FIELDS = frozenset(
    ("cap_reset_day", "daily_client_app_usage", "daily_project_usage", "project_cap", "project_id", "project_usage")
)
PROJECT_CAP = 3_000_000  # pay-per-use: post reads per monthly billing cycle


def usage_tweets(req: Request) -> Reply:
    """Post reads billed per UTC day (deduplicated, as billed) for the project and its app; app-only.

    The numbers are strings, as X sends them (its spec says integers), and the billing cycle is
    modelled as the calendar month. Without usage.fields only project_id is sent (modelled)."""
    check_params(req.params, ("days", "usage.fields"))
    reply = Reply(200, {}, "GET /2/usage/tweets", "usage")
    if req.credential.kind != "bearer":
        raise AppOnlyEndpointError()
    raw = req.params.get("days", "7")
    if not raw.isdigit() or not 1 <= int(raw) <= 90:
        raise InvalidRequestError("days", raw, f"The `days` query parameter value [{raw}] is not between 1 and 90")
    fields = req.fields("usage.fields", USAGE_FIELDS)
    today = dt.datetime.fromtimestamp(req.world.now_ms() / 1000, tz=dt.UTC).date()
    reads = req.post_reads_by_day()
    days = [today - dt.timedelta(days=n) for n in range(int(raw) - 1, -1, -1)]
    daily = [{"date": f"{day.isoformat()}T00:00:00.000Z", "usage": str(reads.get(day.isoformat(), 0))} for day in days]
    next_cycle = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    cycle = sum(n for day, n in reads.items() if day >= today.replace(day=1).isoformat())
    everything: dict[str, Any] = {
        "project_id": meter.PROJECT_ID,
        "project_cap": str(PROJECT_CAP),
        "project_usage": str(cycle),
        "cap_reset_day": (next_cycle - today).days,
        "daily_project_usage": {"project_id": meter.PROJECT_ID, "usage": daily},
        "daily_client_app_usage": [
            {"client_app_id": meter.CLIENT_APP_ID, "usage": daily, "usage_result_count": len(daily)}
        ],
    }
    reply.body = {"data": {k: v for k, v in everything.items() if k in fields or k == "project_id"}}
    return reply


ROUTES: list[tuple[re.Pattern[str], Any]] = [
    (re.compile(r"^/2/users/by$"), users_by_usernames),
    (re.compile(r"^/2/users/by/username/([^/]+)$"), user_by_username),
    (re.compile(r"^/2/users$"), users_by_ids),
    (re.compile(r"^/2/users/([^/]+)/tweets$"), user_timeline),
    (re.compile(r"^/2/users/([^/]+)/mentions$"), user_mentions),
    (re.compile(r"^/2/users/([^/]+)$"), user_by_id),
    (re.compile(r"^/2/tweets/search/recent$"), search_recent),
    (re.compile(r"^/2/tweets$"), tweets_by_ids),
    (re.compile(r"^/2/tweets/([^/]+)$"), tweet_by_id),
    (re.compile(r"^/2/usage/tweets$"), usage_tweets),
]

ROUTE_GROUPS = {
    users_by_usernames: ("GET /2/users/by", "users"),
    user_by_username: ("GET /2/users/by/username/:username", "users"),
    users_by_ids: ("GET /2/users", "users"),
    user_timeline: ("GET /2/users/:id/tweets", "timeline"),
    user_mentions: ("GET /2/users/:id/mentions", "mentions"),
    user_by_id: ("GET /2/users/:id", "users"),
    tweets_by_ids: ("GET /2/tweets", "tweets"),
    search_recent: ("GET /2/tweets/search/recent", "search"),
    tweet_by_id: ("GET /2/tweets/:id", "tweet"),
    usage_tweets: ("GET /2/usage/tweets", "usage"),
}


def resolve(path: str) -> tuple[Any, tuple[str, ...]] | None:
    for pattern, handler in ROUTES:
        match = pattern.match(path)
        if match:
            return handler, match.groups()
    return None
