"""Credentials as careless environments hold them: CR/LF endings, stray characters; never leaked.

A .env saved with CRLF line ends leaves a carriage return at the end of a token. requests then
refuses the header with an error that quotes it whole; that text must never reach a log, the
run storage or a table, and it is not a fault that retrying can fix.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from x_assets.emulator import EmulatorServer
from x_assets.x_api.calls import Caller, CallPolicy, CallStats, XFatalError
from x_assets.x_api.client import ScopeCredentials, make_client

from .conftest import TODAY, Project, account_by_name, control
from .test_calls import Log

SECRET = "sEcReT-bearer-c4f1"
OWNER_SECRET = "sEcReT-owner-7d3a"


def all_text(project: Project, capfd: pytest.CaptureFixture[str], *runs: object) -> str:
    captured = capfd.readouterr()
    texts = [captured.out, captured.err]
    for run in runs:
        texts.extend(repr(r) for r in project.instance.all_logs(run.run_id))  # type: ignore[attr-defined]
    if Path(project.database).exists():
        for (name,) in project.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'x'"):
            texts.append(repr(project.query(f"SELECT * FROM x.{name}")))
    return "\n".join(texts)


def use_secret_tokens(project: Project, ending: str = "") -> None:
    """The emulator knows two secret tokens (the default one, PrivateLabs' own); the environment
    holds them, each followed by ending."""
    control(project.server, "POST", "/credentials", {"label": "secret-default", "bearer_token": SECRET})
    private = account_by_name(project.server, "PrivateLabs")
    control(
        project.server,
        "POST",
        "/credentials",
        {"label": "secret-owner", "bearer_token": OWNER_SECRET, "owner_of": str(private.id)},
    )
    project.monkeypatch.setenv("X_BEARER_TOKEN", SECRET + ending)
    project.monkeypatch.setenv("TEST_PRIVATELABS_TOKEN", OWNER_SECRET + ending)


def test_secrets_never_reach_logs_metadata_or_tables(project: Project, capfd: pytest.CaptureFixture[str]) -> None:
    use_secret_tokens(project)
    ok = project.materialize(["tweet_insights", "account_insights"], partition=str(TODAY))
    assert ok.success
    control(project.server, "POST", "/faults", {"kind": "unauthorized"})
    failed = project.materialize(["tweet_insights"], partition=str(TODAY))
    assert not failed.success
    blob = all_text(project, capfd, ok, failed)  # one read of stdout and stderr, then logs and tables
    assert SECRET not in blob and OWNER_SECRET not in blob
    assert "refused the credentials" in blob  # the failure itself was logged


@pytest.mark.parametrize("ending", ["\r", "\n", "\r\n", "  "])
def test_tokens_with_line_ends_work_and_never_leak(
    project: Project, capfd: pytest.CaptureFixture[str], ending: str
) -> None:
    use_secret_tokens(project, ending)
    result = project.materialize(["tweet_insights"], partition=str(TODAY))
    assert result.success
    by_credential = project.stats()["requests_by_credential"]
    assert set(by_credential) == {"secret-default", "secret-owner"}, by_credential
    blob = all_text(project, capfd, result)
    assert SECRET not in blob and OWNER_SECRET not in blob


@pytest.mark.parametrize(
    ("variable", "value"), [("X_BEARER_TOKEN", "sEcReT\rinside"), ("TEST_PRIVATELABS_TOKEN", "sEcReT\ninside")]
)
def test_a_control_character_inside_a_token_is_refused_by_name(
    project: Project, capfd: pytest.CaptureFixture[str], variable: str, value: str
) -> None:
    project.monkeypatch.setenv(variable, value)
    result = project.materialize(["tweet_insights"], partition=str(TODAY))
    assert not result.success
    message = result.get_step_failure_events()[0].step_failure_data.error.message
    assert f"{variable} holds a space, a control character" in message
    assert project.stats()["requests_total"] == 0
    blob = all_text(project, capfd, result)
    assert "sEcReT" not in blob


def test_redaction_covers_the_forms_an_error_quotes() -> None:
    scope = ScopeCredentials("default", bearer_token=SECRET + "\r\n")
    quoted = f"header value: 'Bearer {SECRET}\\r\\n' and {SECRET}"
    assert SECRET not in scope.redact(quoted) and scope.redact(quoted).count("[redacted]") == 2


def test_an_unsendable_header_is_fatal_at_once_and_redacted(server: EmulatorServer) -> None:
    scope = ScopeCredentials("default", bearer_token=SECRET + "\r")  # as if it had not been checked at load
    client = make_client(scope, server.base_url, timeout=5)
    log = Log()
    caller = Caller(CallPolicy(sleep=lambda s: None), CallStats(), log)
    with pytest.raises(XFatalError) as info:
        caller.call(client, "GET /2/users/by", "looking up", lambda: client.tweepy_client.get_users(usernames=["a"]))
    assert "InvalidHeader" in str(info.value) and SECRET not in str(info.value)
    assert caller.stats.retries == 0 and caller.stats.requests["GET /2/users/by"] == 1  # not retried
    assert not log.lines
    assert control(server, "GET", "/stats")["requests_total"] == 0  # it never left the machine
