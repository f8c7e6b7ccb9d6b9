"""Bearer and OAuth 1.0a authentication, checked the way the real API checks them.

An OAuth 1.0a signature is verified over the URL the request was received at (scheme,
Host header, path and query), as a real server does: a client that signs for one
host and sends to another is refused with 401.
"""

from __future__ import annotations

import hmac
import re
import time
from dataclasses import dataclass

from oauthlib.oauth1.rfc5849 import signature, utils

MAX_CLOCK_SKEW_S = 900

# Documented demo defaults: the shipped demo source file and .env.example use these.
DEMO_BEARER_TOKEN = "demo-bearer-token"
DEMO_CONSUMER_KEY = "demo-consumer-key"
DEMO_CONSUMER_SECRET = "demo-consumer-secret"
DEMO_ACCESS_TOKEN = "demo-access-token"
DEMO_ACCESS_TOKEN_SECRET = "demo-access-token-secret"
DEMO_OWNER_BEARER_TOKEN = "demo-privatelabs-bearer-token"
# An account's own user-context token, as X shapes them ("<user id>-<random>"): the demo app's
# consumer key with the access token "<id>-owner" and this secret authenticates as account <id>.
OWNER_TOKEN_SECRET = "demo-owner-token-secret"
OWNER_TOKEN = re.compile(r"^([0-9]{1,19})-owner$")


def owner_token(account_id: int | str) -> str:
    return f"{account_id}-owner"


@dataclass(frozen=True)
class Credential:
    label: str  # what stats report; never the secret itself
    kind: str  # "bearer" or "oauth1"
    bearer_token: str | None = None
    consumer_key: str | None = None
    consumer_secret: str | None = None
    access_token: str | None = None
    access_token_secret: str | None = None
    user_id: int | None = None  # the authenticated user of a user-context credential, when known


class CredentialStore:
    def __init__(self) -> None:
        self._bearer: dict[str, Credential] = {}
        self._oauth: dict[tuple[str, str], Credential] = {}

    def add(self, credential: Credential) -> None:
        if credential.kind == "bearer":
            assert credential.bearer_token
            self._bearer[credential.bearer_token] = credential
        else:
            assert credential.consumer_key and credential.access_token
            self._oauth[(credential.consumer_key, credential.access_token)] = credential

    def authenticate(self, method: str, path: str, query: str, header: str, own_url: str) -> Credential | None:
        """The credential behind an Authorization header, or None for a 401."""
        if header.startswith("Bearer "):
            return self._bearer.get(header[len("Bearer ") :].strip())
        if header.startswith("OAuth "):
            return self._oauth1(method, path, query, header, own_url)
        return None

    def _oauth1(self, method: str, path: str, query: str, header: str, own_url: str) -> Credential | None:
        try:
            oauth = {k: utils.unescape(v) for k, v in utils.parse_authorization_header(header)}
        except (ValueError, IndexError):
            return None
        credential = self._oauth.get((oauth.get("oauth_consumer_key", ""), oauth.get("oauth_token", "")))
        if credential is None:
            credential = self._owner(oauth.get("oauth_consumer_key", ""), oauth.get("oauth_token", ""))
        if credential is None or oauth.get("oauth_signature_method") != "HMAC-SHA1":
            return None
        try:
            stamp = int(oauth.get("oauth_timestamp", "0"))
        except ValueError:
            return None
        if abs(time.time() - stamp) > MAX_CLOCK_SKEW_S:
            return None
        params = signature.collect_parameters(
            uri_query=query, headers={"Authorization": header}, exclude_oauth_signature=True
        )
        normalized = signature.normalize_parameters(params)
        base_string = signature.signature_base_string(
            method.upper(), signature.base_string_uri(own_url + path), normalized
        )
        expected = signature.sign_hmac_sha1(
            base_string, credential.consumer_secret or "", credential.access_token_secret or ""
        )
        return credential if hmac.compare_digest(expected, oauth.get("oauth_signature", "")) else None

    def _owner(self, consumer_key: str, token: str) -> Credential | None:
        """An account's own token for a registered app (see OWNER_TOKEN)."""
        match = OWNER_TOKEN.match(token)
        app = next((c for (key, _), c in self._oauth.items() if key == consumer_key), None)
        if match is None or app is None:
            return None
        user_id = int(match.group(1))
        return Credential(
            label=f"owner-{user_id}",
            kind="oauth1",
            consumer_key=consumer_key,
            consumer_secret=app.consumer_secret,
            access_token=token,
            access_token_secret=OWNER_TOKEN_SECRET,
            user_id=user_id,
        )


def demo_credentials() -> list[Credential]:
    return [
        Credential(label="default-bearer", kind="bearer", bearer_token=DEMO_BEARER_TOKEN),
        Credential(
            label="default-oauth1",
            kind="oauth1",
            consumer_key=DEMO_CONSUMER_KEY,
            consumer_secret=DEMO_CONSUMER_SECRET,
            access_token=DEMO_ACCESS_TOKEN,
            access_token_secret=DEMO_ACCESS_TOKEN_SECRET,
        ),
        Credential(label="privatelabs-owner", kind="bearer", bearer_token=DEMO_OWNER_BEARER_TOKEN),
    ]
