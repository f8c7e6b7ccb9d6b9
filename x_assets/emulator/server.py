"""The emulator's HTTP server: auth, faults, rate limits and stats around the API.

Runs in a background thread (tests, the demo) or in the foreground (the CLI).
Control endpoints live under /_emulator and need no credentials.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from . import api, shapes
from .auth import Credential, CredentialStore, demo_credentials
from .faults import FaultPlan
from .meter import RateLimiter, Stats
from .world import ACTIVE, World, WorldSpec, iso_ms


class Emulator:
    """World, credentials, faults and meters; independent of the HTTP transport."""

    def __init__(
        self,
        spec: WorldSpec | None = None,
        latency_ms: float = 0.0,
        enforce_rate_limits: bool = False,
        credentials: list[Credential] | None = None,
    ) -> None:
        self.world = World(spec)
        self.latency_ms = latency_ms
        self.credentials = CredentialStore()
        for credential in credentials if credentials is not None else demo_credentials():
            self.credentials.add(credential)
        self.faults = FaultPlan()
        self.limiter = RateLimiter(enforce=enforce_rate_limits)
        self.stats = Stats()


class EmulatorServer:
    """An Emulator served over HTTP on host:port (port 0 picks a free one)."""

    def __init__(self, emulator: Emulator | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = emulator or Emulator()
        handler = type("BoundHandler", (_Handler,), {"emulator": self.emulator})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{port}"

    @property
    def world(self) -> World:
        return self.emulator.world

    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="x-emulator", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    emulator: Emulator
    protocol_version = "HTTP/1.1"  # keep-alive, as clients pool connections
    disable_nagle_algorithm = True  # headers and body go out in two writes; Nagle would stall each by 40 ms
    server_version = "x-assets-emulator"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: stats carry what a test needs."""

    # -- plumbing ----------------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = shapes.encode(body)  # as X encodes its bodies
        self._send(status, payload, "application/json; charset=utf-8", headers)

    def _read_json(self) -> Any:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else {}

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        if url.path.startswith("/_emulator"):
            try:
                self._control(method, url.path, dict(parse_qsl(url.query)))
            except (KeyError, ValueError, TypeError) as exc:
                self._json(400, {"error": str(exc)})
            return
        if method != "GET":
            self._json(404, shapes.PAGE_NOT_FOUND)
            return
        self._api(url.path, url.query)

    # -- the API -----------------------------------------------------------------
    def _api(self, path: str, query: str) -> None:
        emu = self.emulator
        if emu.latency_ms:
            # Re-read the latency while waiting, so a test can hold requests in flight ("a gate")
            # and release them by lowering it, instead of guessing how long a slow machine needs.
            started = time.monotonic()
            while (left := emu.latency_ms / 1000 - (time.monotonic() - started)) > 0:
                time.sleep(min(left, 0.05))
        resolved = api.resolve(path)
        if resolved is None:
            emu.stats.record_request("unknown", path, None, 404)
            self._json(404, shapes.PAGE_NOT_FOUND)
            return
        handler, args = resolved
        route, group = api.ROUTE_GROUPS[handler]
        own_url = f"http://{self.headers.get('host', '')}"
        credential = emu.credentials.authenticate("GET", path, query, self.headers.get("authorization", ""), own_url)
        label = credential.label if credential else None
        allowed, headers = True, dict[str, str]()
        if credential is not None:
            allowed, headers = emu.limiter.take(group, credential.label, credential.kind == "oauth1")

        fault = emu.faults.pick(path, label)
        if fault is not None and fault.kind != "slow":
            emu.stats.record_fault(fault.kind)
            emu.stats.record_request(route, path, label, _fault_status(fault.kind, fault.status))
            self._serve_fault(fault.kind, fault.status, fault.reset_in, headers, handler, args, query, credential)
            return
        if fault is not None:
            emu.stats.record_fault("slow")
            time.sleep(fault.delay_ms / 1000)

        if credential is None:
            emu.stats.record_request(route, path, None, 401)
            self._json(401, shapes.UNAUTHORIZED)
            return
        if not allowed:
            emu.stats.record_request(route, path, label, 429)
            self._json(429, shapes.TOO_MANY_REQUESTS, headers)
            return
        reply = self._call(handler, args, query, credential)
        emu.stats.record_request(route, path, label, reply.status)
        if reply.status == 200:
            emu.stats.record_reads(reply.tweet_ids, reply.user_ids, emu.world.now_ms())
        self._json(reply.status, reply.body, headers)

    def _call(self, handler: Any, args: tuple[str, ...], query: str, credential: Credential) -> api.Reply:
        params = dict(parse_qsl(query, keep_blank_values=True))
        request = api.Request(self.emulator.world, params, credential, self.emulator.stats.post_reads_by_day)
        route, group = api.ROUTE_GROUPS[handler]
        try:
            with self.emulator.world.lock:
                return handler(request, *args)  # type: ignore[no-any-return]
        except api.InvalidRequestError as exc:
            return api.Reply(400, exc.body, route, group)
        except api.UnsupportedAuthenticationError as exc:
            return api.Reply(403, exc.body, route, group)

    def _serve_fault(
        self,
        kind: str,
        status: int,
        reset_in: float | None,
        headers: dict[str, str],
        handler: Any,
        args: tuple[str, ...],
        query: str,
        credential: Credential | None,
    ) -> None:
        headers = dict(headers)
        if kind == "rate_limit":
            if reset_in is None:
                headers.pop("x-rate-limit-reset", None)
            else:
                headers["x-rate-limit-reset"] = str(int(time.time() + reset_in))
            headers["x-rate-limit-remaining"] = "0"
            self._json(429, shapes.TOO_MANY_REQUESTS, headers)
        elif kind == "usage_capped":
            self._json(429, shapes.USAGE_CAPPED, headers)
        elif kind == "credits_depleted":
            self._json(402, shapes.CREDITS_DEPLETED, headers)
        elif kind == "client_not_enrolled":
            self._json(403, shapes.CLIENT_NOT_ENROLLED, headers)
        elif kind == "unauthorized":
            self._json(401, shapes.UNAUTHORIZED)
        elif kind == "server_error":
            self._send(status, shapes.SERVER_ERROR_HTML.encode(), "text/html; charset=utf-8", headers)
        elif kind == "truncated":
            if credential is None:
                body = json.dumps(shapes.UNAUTHORIZED).encode()
            else:
                reply = self._call(handler, args, query, credential)
                body = shapes.encode(reply.body)
            self._send(200, body[: max(1, len(body) // 2)], "application/json; charset=utf-8", headers)
        elif kind == "reset":
            self.close_connection = True
            self.connection.close()

    # -- control -----------------------------------------------------------------
    def _control(self, method: str, path: str, params: dict[str, str]) -> None:
        emu = self.emulator
        world = emu.world
        route = (method, path.removeprefix("/_emulator").rstrip("/") or "/")
        body = self._read_json() if method == "POST" else {}
        with world.lock:
            if route == ("GET", "/accounts"):
                self._json(200, {"accounts": world.listing(), "now": iso_ms(world.now_ms())})
            elif route == ("GET", "/post-counts"):
                since = dt.date.fromisoformat(params["since"])
                self._json(200, world.reachable_counts_since(since))
            elif route == ("GET", "/stats"):
                self._json(200, emu.stats.snapshot())
            elif route == ("POST", "/stats/reset"):
                emu.stats.reset()
                self._json(200, {"ok": True})
            elif route == ("GET", "/faults"):
                self._json(200, {"faults": emu.faults.describe()})
            elif route == ("POST", "/faults"):
                specs = body.get("rules", [body])
                rules = [emu.faults.add(**spec).describe() for spec in specs]
                self._json(200, {"faults": rules})
            elif route == ("DELETE", "/faults"):
                emu.faults.clear()
                self._json(200, {"ok": True})
            elif route == ("POST", "/rate-limits"):
                emu.limiter.configure(body.get("enforce"), body.get("limits"), body.get("window_seconds"))
                self._json(200, emu.limiter.describe())
            elif route == ("GET", "/rate-limits"):
                self._json(200, emu.limiter.describe())
            elif route == ("POST", "/latency"):
                emu.latency_ms = float(body["latency_ms"])
                self._json(200, {"latency_ms": emu.latency_ms})
            elif route == ("POST", "/advance"):
                world.advance(int(body.get("steps", 1)))
                self._json(200, {"advance_steps": world.advance_steps})
            elif route == ("POST", "/rename"):
                account = world.rename(int(body["account_id"]), str(body["username"]))
                self._json(200, {"id": str(account.id), "username": account.username})
            elif route == ("POST", "/users"):
                account = world.create_account(str(body["username"]), body.get("name"), body.get("state", ACTIVE))
                self._json(200, {"id": str(account.id), "username": account.username})
            elif route == ("POST", "/metrics"):
                world.set_metrics(int(body["account_id"]), dict(body["metrics"]))
                self._json(200, {"ok": True})
            elif route == ("POST", "/state"):
                world.set_state(int(body["account_id"]), str(body["state"]))
                self._json(200, {"ok": True})
            elif route == ("POST", "/tweets"):
                created = body.get("created_at")
                created_ms = None
                if created:
                    created_ms = int(dt.datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()) * 1000
                retweet_of = int(body["retweet_of"]) if body.get("retweet_of") else None
                count = int(body.get("count", 1))  # count > 1: that many posts, one second apart
                for n in range(count):
                    tweet = world.add_tweet(
                        int(body["author_id"]),
                        str(body.get("text", "Hello from the emulator")),
                        None if created_ms is None else created_ms + n * 1000,
                        str(body.get("lang", "en")),
                        retweet_of,
                    )
                self._json(200, {"id": str(tweet.id), "created_at": iso_ms(tweet.created_ms)})
            elif method == "DELETE" and path.startswith("/_emulator/tweets/"):
                deleted = world.delete_tweet(int(path.rsplit("/", 1)[1]))
                self._json(200 if deleted else 404, {"deleted": deleted})
            elif route == ("POST", "/credentials"):
                credential = Credential(
                    label=str(body["label"]),
                    kind=body.get("kind", "bearer"),
                    **{k: body.get(k) for k in _CREDENTIAL_FIELDS},
                )
                emu.credentials.add(credential)
                if body.get("owner_of"):
                    world.accounts[int(body["owner_of"])].owner_label = credential.label
                self._json(200, {"label": credential.label})
            elif route == ("POST", "/clock"):
                world.set_now_ms(body.get("now_ms"))
                self._json(200, {"now": iso_ms(world.now_ms())})
            else:
                self._json(404, {"error": f"no control route {method} {path}"})


_CREDENTIAL_FIELDS = ("bearer_token", "consumer_key", "consumer_secret", "access_token", "access_token_secret")


def _fault_status(kind: str, status: int) -> int:
    return {
        "rate_limit": 429,
        "usage_capped": 429,
        "credits_depleted": 402,
        "client_not_enrolled": 403,
        "unauthorized": 401,
        "server_error": status,
        "truncated": 200,
        "reset": 0,
    }.get(kind, 200)
