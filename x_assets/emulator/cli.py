"""`x-assets-emulator`: serve the emulator until stopped; the base URL is the first line."""

from __future__ import annotations

import argparse
import datetime as dt
import signal
import sys
from types import FrameType

from . import auth
from .auth import Credential
from .faults import KINDS, parse_fault_option
from .season import live_days
from .server import Emulator, EmulatorServer
from .world import WorldSpec


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="x-assets-emulator", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks any free port")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--accounts", type=int, default=5, help="regular active accounts (special ones come on top)")
    p.add_argument("--days", type=int, default=30, help="days of posts before today (UTC)")
    p.add_argument("--tweets-per-day", type=float, default=3.0, help="average posts per active account per day")
    p.add_argument(
        "--no-special-accounts",
        action="store_true",
        help="leave out the protected, suspended, capped and owner-only accounts",
    )
    p.add_argument(
        "--demo-season",
        metavar="YYYY-MM-DD",
        type=dt.date.fromisoformat,
        help="the world `x-assets demo` left: its season lived from this day to today (scripts/ui.sh)",
    )
    p.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every API request")
    p.add_argument("--enforce-rate-limits", action="store_true", help="answer 429 once a 15-minute window is used up")
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND[:k=v,...]",
        help=f"inject a fault; KIND is one of {', '.join(KINDS)}; options every, times, path, "
        "credential, status, reset_in, delay_ms (e.g. server_error:every=5,status=503)",
    )
    p.add_argument("--bearer-token", default=auth.DEMO_BEARER_TOKEN)
    p.add_argument("--consumer-key", default=auth.DEMO_CONSUMER_KEY)
    p.add_argument("--consumer-secret", default=auth.DEMO_CONSUMER_SECRET)
    p.add_argument("--access-token", default=auth.DEMO_ACCESS_TOKEN)
    p.add_argument("--access-token-secret", default=auth.DEMO_ACCESS_TOKEN_SECRET)
    p.add_argument(
        "--owner-bearer-token",
        default=auth.DEMO_OWNER_BEARER_TOKEN,
        help="the only token that may read the owner-only account's posts",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    credentials = [
        Credential(label="default-bearer", kind="bearer", bearer_token=args.bearer_token),
        Credential(
            label="default-oauth1",
            kind="oauth1",
            consumer_key=args.consumer_key,
            consumer_secret=args.consumer_secret,
            access_token=args.access_token,
            access_token_secret=args.access_token_secret,
        ),
        Credential(label="privatelabs-owner", kind="bearer", bearer_token=args.owner_bearer_token),
    ]
    spec = WorldSpec(
        seed=args.seed,
        accounts=args.accounts,
        days=args.days,
        tweets_per_day=args.tweets_per_day,
        special_accounts=not args.no_special_accounts,
    )
    if args.demo_season is not None:  # the demo's world: its default spec, anchored on its first day
        spec = WorldSpec(now_ms=int(dt.datetime.combine(args.demo_season, dt.time(), tzinfo=dt.UTC).timestamp() * 1000))
    emulator = Emulator(
        spec, latency_ms=args.latency_ms, enforce_rate_limits=args.enforce_rate_limits, credentials=credentials
    )
    if args.demo_season is not None:
        live_days(emulator.world, args.demo_season, dt.datetime.now(dt.UTC).date())  # ends on the wall clock
    try:
        for fault in args.fault:
            emulator.faults.add(**parse_fault_option(fault))
    except (TypeError, ValueError) as exc:
        print(f"x-assets-emulator: bad --fault: {exc}", file=sys.stderr)
        return 2
    server = EmulatorServer(emulator, host=args.host, port=args.port)
    print(server.base_url, flush=True)
    # These are the emulator's own demo credentials, not secrets: print them so a user can copy them.
    print(
        f"demo credentials: X_BEARER_TOKEN={args.bearer_token} X_CONSUMER_KEY={args.consumer_key} "
        f"X_CONSUMER_SECRET={args.consumer_secret} X_ACCESS_TOKEN={args.access_token} "
        f"X_ACCESS_TOKEN_SECRET={args.access_token_secret} owner-only token={args.owner_bearer_token}",
        flush=True,
    )
    acme = emulator.world.by_username.get("acmenews")
    if acme is not None:  # an account's own user-context token: "<its id>-owner", with the demo app's keys
        print(
            f"AcmeNews's own token: X_ACME_ACCESS_TOKEN={auth.owner_token(acme.id)} "
            f"X_ACME_ACCESS_TOKEN_SECRET={auth.OWNER_TOKEN_SECRET}",
            flush=True,
        )
    print(f"accounts: {server.base_url}/_emulator/accounts", flush=True)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
    return 0
