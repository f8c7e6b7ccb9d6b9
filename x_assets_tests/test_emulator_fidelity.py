"""The emulator's answers have the shapes of real recorded X API bodies, and its CLI behaves."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from typing import Any

import requests

from x_assets.emulator import EmulatorServer
from x_assets.x_api.client import XClient

from .conftest import account_by_name
from .test_openapi import sample


def shape(value: Any) -> Any:
    """Keys and kinds of values, not the values: what a parser depends on."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, str):
        if re.fullmatch(r"\d{1,19}", value):
            return "id-string"
        if re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", value):
            return "timestamp"
        return "str"
    return type(value).__name__


def recorded(name: str) -> Any:
    return json.loads(sample(name).read_text(encoding="utf-8"))


def test_user_lookups_match_recorded_shapes(server: EmulatorServer, client: XClient) -> None:
    ours = client.tweepy_client.get_users(usernames=["AcmeNews", "GlobexDev"])
    assert shape(ours) == shape(recorded("get_users__usernames_Twitter_TwitterDev.json"))
    ours = client.tweepy_client.get_user(username="AcmeNews")
    assert shape(ours) == shape(recorded("get_user__username_Twitter.json"))


def test_timeline_matches_recorded_shape(server: EmulatorServer, client: XClient) -> None:
    acme = account_by_name(server, "AcmeNews")
    ours = client.tweepy_client.get_users_tweets(acme.id, max_results=5)
    theirs = recorded("get_users_tweets__id_783214.json")
    assert shape(ours) == shape(theirs)
    assert re.fullmatch(r"[a-z0-9]+", ours["meta"]["next_token"])  # opaque, like the recorded token


def test_tweet_lookups_match_recorded_shapes(server: EmulatorServer, client: XClient) -> None:
    acme = account_by_name(server, "AcmeNews")
    ids = [str(t.id) for t in server.world.visible_tweets(acme)[:2]]
    assert shape(client.tweepy_client.get_tweets(ids)) == shape(
        recorded("get_tweets__ids_1293593516040269825_1293595870563381249.json")
    )
    assert shape(client.tweepy_client.get_tweet(ids[0])) == shape(recorded("get_tweet__id_1293593516040269825.json"))


def test_cli_prints_base_url_first_and_stops_on_sigterm() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "x_assets.emulator",
            "--port",
            "0",
            "--accounts",
            "2",
            "--days",
            "3",
            "--fault",
            "server_error:every=1,times=1,status=502",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base_url)
        headers = {"Authorization": "Bearer demo-bearer-token"}
        first = requests.get(f"{base_url}/2/users/by?usernames=AcmeNews", headers=headers, timeout=5)
        second = requests.get(f"{base_url}/2/users/by?usernames=AcmeNews", headers=headers, timeout=5)
        assert (first.status_code, second.status_code) == (502, 200)
        accounts = requests.get(f"{base_url}/_emulator/accounts", timeout=5).json()["accounts"]
        assert {a["username"] for a in accounts} >= {"AcmeNews", "GlobexDev", "BannedBrand"}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_cli_rejects_a_bad_fault_option() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "x_assets.emulator", "--fault", "meteor:every=2"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "unknown fault kind 'meteor'" in result.stderr
