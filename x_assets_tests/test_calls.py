"""The call discipline itself, with an injected clock: long waits are logged with their end time."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from x_assets.emulator import DEMO_BEARER_TOKEN, EmulatorServer
from x_assets.x_api.calls import Caller, CallPolicy, CallStats, XTransientError
from x_assets.x_api.client import ScopeCredentials, XClient, make_client

from .conftest import control


class FakeClock:
    """Sleeping moves this clock forward at once."""

    def __init__(self) -> None:
        self.now = time.time()
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def policy(self, **kwargs: float) -> CallPolicy:
        return CallPolicy(sleep=self.sleep, clock=lambda: self.now, **kwargs)  # type: ignore[arg-type]


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str) -> None:
        self.lines.append(msg)

    def warning(self, msg: str) -> None:
        self.lines.append(msg)


def test_long_rate_limit_waits_are_logged_with_their_end(server: EmulatorServer, client: XClient) -> None:
    control(server, "POST", "/faults", {"kind": "rate_limit", "reset_in": 120, "times": 1})
    clock = FakeClock()
    log = Log()
    caller = Caller(clock.policy(), CallStats(), log)
    body = caller.call(
        client, "GET /2/users/by", "lookup", lambda: client.tweepy_client.get_users(usernames=["AcmeNews"])
    )
    assert body["data"]
    assert len(clock.slept) == 1 and 115 < clock.slept[0] < 125
    assert any("waiting 12" in line and "until 20" in line and "UTC" in line for line in log.lines)


def test_no_reset_header_backs_off_exponentially_never_at_once(server: EmulatorServer, client: XClient) -> None:
    control(server, "POST", "/faults", {"kind": "rate_limit", "reset_in": None, "times": 4})
    clock = FakeClock()
    slept = clock.slept
    caller = Caller(clock.policy(backoff_seconds=1.0), CallStats(), Log())
    caller.call(client, "GET /2/users/by", "lookup", lambda: client.tweepy_client.get_users(usernames=["AcmeNews"]))
    assert len(slept) == 4 and all(s > 0 for s in slept)
    assert slept[3] > slept[0] and slept[3] >= 4.0  # 1, 2, 4, 8 with jitter in the upper half


def test_server_errors_are_bounded(server: EmulatorServer, client: XClient) -> None:
    control(server, "POST", "/faults", {"kind": "server_error"})
    clock = FakeClock()
    slept = clock.slept
    stats = CallStats()
    caller = Caller(clock.policy(max_attempts=4), stats, Log())
    started = time.monotonic()
    with pytest.raises(XTransientError, match="gave up after 4 attempts"):
        caller.call(client, "GET /2/users/by", "lookup", lambda: client.tweepy_client.get_users(usernames=["A"]))
    assert stats.requests["GET /2/users/by"] == 4 and len(slept) == 3
    assert time.monotonic() - started < 5


def test_a_burst_of_429s_says_it_kept_refusing_not_that_the_reset_was_far(
    server: EmulatorServer, client: XClient
) -> None:
    control(server, "POST", "/faults", {"kind": "rate_limit", "reset_in": 2})  # every request, a near reset
    clock = FakeClock()
    caller = Caller(clock.policy(max_attempts=2), CallStats(), Log())
    with pytest.raises(XTransientError) as info:
        caller.call(client, "GET /2/users/by", "lookup", lambda: client.tweepy_client.get_users(usernames=["A"]))
    message = str(info.value)
    assert "still rate limited (429) after 8 attempts" in message and "beyond the" not in message
    assert len(clock.slept) == 7 and all(s < 5 for s in clock.slept)  # each wait was the near reset


def test_stop_ends_a_long_wait_at_once(server: EmulatorServer, client: XClient) -> None:
    import threading

    control(server, "POST", "/faults", {"kind": "rate_limit", "reset_in": 600, "times": 1})
    caller = Caller(CallPolicy(), CallStats(), Log())  # the real, interruptible wait
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            caller.call(client, "GET /2/users/by", "lookup", lambda: client.tweepy_client.get_users(usernames=["A"]))
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=call)
    started = time.monotonic()
    worker.start()
    deadline = time.monotonic() + 10
    while not caller.stats.rate_limit_waits and time.monotonic() < deadline:
        time.sleep(0.02)
    caller.stop()
    worker.join(timeout=10)
    assert not worker.is_alive() and time.monotonic() - started < 10
    assert type(outcome[0]).__name__ == "RunStoppedError"


def test_429s_without_a_reset_back_off_to_a_60_second_cap_then_give_up(server: EmulatorServer, client: XClient) -> None:
    control(server, "POST", "/faults", {"kind": "rate_limit", "reset_in": None})  # every request, no header
    clock = FakeClock()
    caller = Caller(clock.policy(max_attempts=5, backoff_seconds=1.0), CallStats(), Log())
    with pytest.raises(XTransientError, match="still rate limited"):
        caller.call(client, "GET /2/users/by", "lookup", lambda: client.tweepy_client.get_users(usernames=["A"]))
    assert len(clock.slept) == 10  # max_attempts + 5 waits, then the 11th 429 ends it
    assert max(clock.slept) <= 60 and clock.slept[-1] >= 30  # doubled up to the cap, jitter in the upper half
    assert control(server, "GET", "/stats")["faults"] == {"rate_limit": 11}


def test_a_netrc_entry_for_the_host_does_not_replace_the_bearer_token(
    server: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests, trusting the environment, would sign with ~/.netrc's login for the host instead
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    client = make_client(ScopeCredentials("default", bearer_token=DEMO_BEARER_TOKEN), server.base_url, 10, dict)
    body = client.tweepy_client.get_users(usernames=["AcmeNews"])
    assert body["data"][0]["username"] == "AcmeNews"
