"""Recent search over the world: X's query language (x_api/query.py parses it) matched against posts."""

from __future__ import annotations

import re

from ..x_api.query import Group, Node, Term
from .world import Tweet, World

WORD = re.compile(r"[#$@]?\w+", re.UNICODE)


def matches(world: World, node: Node, tweet: Tweet) -> bool:
    if isinstance(node, Group):
        results = (matches(world, part, tweet) for part in node.parts)
        return all(results) if node.op == "and" else any(results)
    found = _term(world, node, tweet)
    return not found if node.negated else found


def _term(world: World, term: Term, tweet: Tweet) -> bool:
    text = (tweet.note_text or tweet.text).lower()
    words = set(WORD.findall(text))
    value = term.value
    if term.kind == "keyword":
        return value in words or value in {w.lstrip("#$@") for w in words}
    if term.kind == "phrase":
        return value in text
    if term.kind == "hashtag":
        return f"#{value}" in words
    if term.kind == "cashtag":
        return f"${value}" in words
    if term.kind == "mention":
        return any(world.accounts[m].username.lower() == value for m in tweet.mentions) or f"@{value}" in words
    if term.kind == "from":
        return world.accounts[tweet.author_id].username.lower() == value
    if term.kind == "to":
        replied = tweet.in_reply_to_user_id
        return replied is not None and world.accounts[replied].username.lower() == value
    if term.kind == "retweets_of":
        original = world.tweets.get(tweet.retweeted_id or -1)
        return original is not None and world.accounts[original.author_id].username.lower() == value
    if term.kind == "conversation_id":
        return str(tweet.conversation_id or tweet.id) == value
    if term.kind == "url":
        return value in text
    if term.kind == "lang":
        return tweet.lang.lower() == value
    if term.kind == "is":
        kinds = {kind for kind, _ in tweet.refs}
        return {"retweet": "retweeted", "reply": "replied_to", "quote": "quoted"}.get(value, "") in kinds
    if term.kind == "has":
        return {
            "links": "https://" in text,
            "mentions": bool(tweet.mentions) or "@" in text,
            "hashtags": "#" in text,
        }.get(value, False)
    return False
