"""JSON shapes of the X API v2: objects with requested fields, and error bodies.

Error bodies are the ones recorded from the real API (see the project's research
notes); problem types use the api.twitter.com form that real payloads carry.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .world import Account, Tweet, World, iso_ms

PROBLEMS = "https://api.twitter.com/2/problems/"

# The published v2.166 enums; a value outside them is a 400, as on the real API.
TWEET_FIELDS = frozenset(
    [
        "article",
        "attachments",
        "author_id",
        "card_uri",
        "community_id",
        "context_annotations",
        "conversation_id",
        "created_at",
        "display_text_range",
        "edit_controls",
        "edit_history_tweet_ids",
        "entities",
        "geo",
        "id",
        "in_reply_to_user_id",
        "lang",
        "matched_media_notes",
        "media_metadata",
        "non_public_metrics",
        "note_request_suggestions",
        "note_tweet",
        "organic_metrics",
        "paid_partnership",
        "possibly_sensitive",
        "promoted_metrics",
        "public_metrics",
        "referenced_tweets",
        "reply_settings",
        "scopes",
        "source",
        "suggested_source_links",
        "suggested_source_links_with_counts",
        "text",
        "withheld",
    ]
)
USER_FIELDS = frozenset(
    [
        "affiliation",
        "confirmed_email",
        "connection_status",
        "created_at",
        "description",
        "entities",
        "id",
        "is_identity_verified",
        "location",
        "most_recent_tweet_id",
        "name",
        "parody",
        "pinned_tweet_id",
        "profile_banner_url",
        "profile_image_url",
        "protected",
        "public_metrics",
        "receives_your_dm",
        "subscription",
        "subscription_type",
        "url",
        "username",
        "verified",
        "verified_followers_count",
        "verified_type",
        "withheld",
    ]
)
TWEET_EXPANSIONS = frozenset(
    [
        "attachments.media_keys",
        "attachments.poll_ids",
        "author_id",
        "edit_history_tweet_ids",
        "entities.mentions.username",
        "geo.place_id",
        "in_reply_to_user_id",
        "referenced_tweets.id",
        "referenced_tweets.id.author_id",
    ]
)
# Shown only to a post's author, with user-context auth, for posts of the last 30 days.
PRIVATE_FIELDS = frozenset(["non_public_metrics", "organic_metrics"])
PRIVATE_METRICS_DAYS = 30
USER_EXPANSIONS = frozenset(["affiliation.user_id", "most_recent_tweet_id", "pinned_tweet_id"])


def render_tweet(world: World, tweet: Tweet, fields: frozenset[str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "edit_history_tweet_ids": [str(tweet.id)],
        "id": str(tweet.id),
        "text": tweet.text,
    }
    if "author_id" in fields:
        body["author_id"] = str(tweet.author_id)
    if "created_at" in fields:
        body["created_at"] = iso_ms(tweet.created_ms)
    if "conversation_id" in fields:
        body["conversation_id"] = str(tweet.conversation_id or tweet.id)
    if "in_reply_to_user_id" in fields and tweet.in_reply_to_user_id is not None:
        body["in_reply_to_user_id"] = str(tweet.in_reply_to_user_id)
    if "lang" in fields:
        body["lang"] = tweet.lang
    if "note_tweet" in fields and tweet.note_text is not None:
        body["note_tweet"] = {"text": tweet.note_text}
    if "possibly_sensitive" in fields:
        body["possibly_sensitive"] = False
    if "public_metrics" in fields:
        body["public_metrics"] = world.public_metrics(tweet)
    if fields & PRIVATE_FIELDS:  # the caller checked they may be shown (api.Request.may_see_private)
        non_public, organic = world.private_metrics(tweet)
        if "non_public_metrics" in fields:
            body["non_public_metrics"] = non_public
        if "organic_metrics" in fields:
            body["organic_metrics"] = organic
    if "referenced_tweets" in fields and tweet.refs:
        body["referenced_tweets"] = [{"type": kind, "id": str(ref)} for kind, ref in tweet.refs]
    if "reply_settings" in fields:
        body["reply_settings"] = "everyone"
    return body


def render_user(world: World, account: Account, fields: frozenset[str]) -> dict[str, Any]:
    body: dict[str, Any] = {"id": str(account.id), "name": account.name, "username": account.username}
    if "created_at" in fields:
        body["created_at"] = iso_ms(account.created_ms)
    if "description" in fields:
        body["description"] = account.description
    if "protected" in fields:
        body["protected"] = account.is_protected
    if "verified" in fields:
        body["verified"] = False
    if "profile_image_url" in fields:
        body["profile_image_url"] = f"https://pbs.twimg.com/profile_images/{account.id}/normal.jpg"
    if "most_recent_tweet_id" in fields:
        visible = world.visible_tweets(account)
        if visible:
            body["most_recent_tweet_id"] = str(visible[0].id)
    if "public_metrics" in fields:
        body["public_metrics"] = {
            "followers_count": account.followers_count,
            "following_count": account.following_count,
            "tweet_count": world.tweet_count(account),
            "listed_count": account.listed_count,
            "like_count": account.like_count,
        }
    return body


# -- partial errors: HTTP 200, in the "errors" array --------------------------------
def not_found(resource: str, parameter: str, value: str) -> dict[str, Any]:
    # "usernames" reads "with usernames", a single path id reads "with id".
    return {
        "value": value,
        "detail": f"Could not find {resource} with {parameter}: [{value}].",
        "title": "Not Found Error",
        "resource_type": resource,
        "parameter": parameter,
        "resource_id": value,
        "type": PROBLEMS + "resource-not-found",
    }


def suspended(parameter: str, value: str) -> dict[str, Any]:
    # The real API titles this "Forbidden" but types it resource-not-found.
    return {
        "parameter": parameter,
        "resource_id": value,
        "value": value,
        "detail": f"User has been suspended: [{value}].",
        "title": "Forbidden",
        "resource_type": "user",
        "type": PROBLEMS + "resource-not-found",
    }


def not_authorized(resource: str, parameter: str, value: str, section: str = "data") -> dict[str, Any]:
    noun = "user" if resource == "user" else "Tweet"
    return {
        "value": value,
        "detail": f"Sorry, you are not authorized to see the {noun} with {parameter}: [{value}].",
        "title": "Authorization Error",
        "resource_type": resource,
        "parameter": parameter,
        "resource_id": value,
        "section": section,
        "type": PROBLEMS + "not-authorized-for-resource",
    }


def field_unauthorized(field: str, tweet_id: str, section: str) -> dict[str, Any]:
    """A post withheld because of a field the caller may not see (X's FieldUnauthorizedProblem)."""
    return {
        "value": tweet_id,
        "detail": f"Sorry, you are not authorized to access '{field}' on a Tweet.",
        "title": "Field Authorization Error",
        "resource_type": "tweet",
        "field": field,
        "parameter": "tweet.fields",
        "resource_id": tweet_id,
        "section": section,
        "type": PROBLEMS + "not-authorized-for-field",
    }


# -- whole-request errors ----------------------------------------------------------
def invalid_request(parameter: str, values: list[str], message: str) -> dict[str, Any]:
    return {
        "errors": [{"parameters": {parameter: values}, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": PROBLEMS + "invalid-request",
    }


UNSUPPORTED_AUTHENTICATION = {
    "title": "Unsupported Authentication",
    "detail": "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  Supported "
    "authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context].",
    "type": PROBLEMS + "unsupported-authentication",
    "status": 403,
}
# The same refusal for an endpoint that takes app-only auth alone (GET /2/usage/tweets).
USER_CONTEXT_FORBIDDEN = {
    **UNSUPPORTED_AUTHENTICATION,
    "detail": "Authenticating with OAuth 1.0a User Context is forbidden for this endpoint.  Supported "
    "authentication types are [OAuth 2.0 Application-Only].",
}
UNAUTHORIZED = {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
TOO_MANY_REQUESTS = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}
USAGE_CAPPED = {
    "title": "UsageCapExceeded",
    "detail": "Usage cap exceeded: Monthly product cap",
    "type": PROBLEMS + "usage-capped",
    "period": "Monthly",
    "scope": "Product",
}
CLIENT_NOT_ENROLLED = {
    "client_id": "12262375",
    "detail": (
        "When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens "
        "from a Twitter developer App that is attached to a Project. You can create a project via "
        "the developer portal."
    ),
    "registration_url": "https://developer.twitter.com/en/docs/projects/overview",
    "title": "Client Forbidden",
    "required_enrollment": "Appropriate Level of API Access",
    "reason": "client-not-enrolled",
    "type": PROBLEMS + "client-forbidden",
}
# No public record of the exact pay-per-use body exists; this follows the problem shape.
CREDITS_DEPLETED = {
    "title": "CreditsDepleted",
    "detail": "Your enrolled account does not have any credits to fulfill this request.",
    "type": PROBLEMS + "credits",
    "status": 402,
}
PAGE_NOT_FOUND = {"errors": [{"message": "Sorry, that page does not exist", "code": 34}]}
SERVER_ERROR_HTML = (
    "<!DOCTYPE html><html><head><title>Over capacity</title></head>"
    "<body><h1>Something is technically wrong.</h1></body></html>"
)


_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def encode(body: Any) -> bytes:
    """JSON bytes as X writes them (seen in the recorded bodies): compact, UTF-8, with characters
    beyond the BMP (emoji) escaped as surrogate pairs in upper-case hex, e.g. \\uD83E\\uDD41."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return _ASTRAL.sub(_surrogate_pair, text).encode()


def _surrogate_pair(match: re.Match[str]) -> str:
    code = ord(match.group()) - 0x10000
    return f"\\u{0xD800 + (code >> 10):04X}\\u{0xDC00 + (code & 0x3FF):04X}"
