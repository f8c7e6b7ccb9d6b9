"""The source file: every bad input is named, with file, key and account, before any API call."""

from __future__ import annotations

from pathlib import Path

import pytest

from x_assets.cli import main as cli_main
from x_assets.ingest.source import SourceConfigError, load_source
from x_assets.warehouse.tables import BUILTIN_COLUMNS

from .conftest import TODAY, Project

GOOD = "accounts:\n  - username: AcmeNews\n"


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "x_source.yaml"
    path.write_text(text)
    return load_source(path, reserved_columns=BUILTIN_COLUMNS)


BAD_CASES = [
    ("accounts: [username: AcmeNews\n", "not valid YAML at line"),
    ("acounts:\n  - username: AcmeNews\n", "unknown key 'acounts'"),
    (GOOD + "endpoints: [account_insights, follower_list]\n", "unknown endpoint 'follower_list'"),
    ("accounts:\n  - username: bad handle!\n", "accounts[0] (bad handle!): username 'bad handle!' is not a valid"),
    ("accounts:\n  - username: ThisHandleIsTooLong\n", "is not a valid X handle"),
    ("accounts:\n  - id: '12ab'\n", "accounts[0] (12ab): id '12ab' is not a numeric X account id"),
    (
        "accounts:\n  - username: AcmeNews\n  - username: acmenews\n",
        "accounts[1] (acmenews): duplicate of accounts[0]",
    ),
    ("accounts: []\n", "'accounts' must be a non-empty list"),
    ("default_schema:\n  client: acme\n", "'accounts' is missing"),
    (
        GOOD + "default_schema:\n  followers_count: 3\n",
        "default_schema.followers_count: collides with the built-in",
    ),
    (GOOD + "default_schema:\n  Bad-Name: 3\n", "'Bad-Name' is not a valid column name"),
    (
        "accounts:\n  - username: AcmeNews\n    credentials:\n      bearer_token: X_TEST_UNSET_TOKEN_VAR\n",
        "accounts[0] (AcmeNews): credentials name environment variable X_TEST_UNSET_TOKEN_VAR, which is not set",
    ),
    (
        "accounts:\n  - username: AcmeNews\n    credentials:\n      consumer_key: A\n",
        "credentials need bearer_token, or all four OAuth 1.0a keys (missing: consumer_secret",
    ),
    ("accounts:\n  - username: AcmeNews\n    handle: x\n", "accounts[0] (AcmeNews): unknown key 'handle'"),
    ("- just a list\n", "the top level must be a mapping"),
]


@pytest.mark.parametrize(("text", "message"), BAD_CASES)
def test_bad_source_files_are_named_precisely(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SourceConfigError) as info:
        load(tmp_path, text)
    assert message in str(info.value)
    assert str(tmp_path / "x_source.yaml") in str(info.value)


@pytest.mark.parametrize(("text", "message"), BAD_CASES)
def test_bad_source_files_stop_runs_and_the_cli_before_any_request_or_write(
    project: Project, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    path = project.tmp / "x_source.yaml"
    path.write_text(text)
    assert cli_main(["validate", str(path)]) == 2
    assert message in capsys.readouterr().err
    for asset in ("account_insights", "tweet_insights"):
        result = project.materialize([asset], partition=str(TODAY))
        assert not result.success
        failure = result.get_step_failure_events()[0].step_failure_data
        assert message in failure.error.message and failure.user_failure_data is not None
    assert project.stats()["requests_total"] == 0
    assert not Path(project.database).exists()


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(SourceConfigError) as info:
        load(tmp_path, "acounts: 1\naccounts:\n  - username: bad handle!\n  - id: x\nendpoints: [nope]\n")
    assert "4 problem(s)" in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceConfigError, match="source file not found"):
        load_source(tmp_path / "absent.yaml")


def test_valid_file_with_ids_overrides_and_constants(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_TOKEN", "t")
    source = load(
        tmp_path,
        "accounts:\n  - id: 2244994945\n    name: X Devs\n  - username: Acme_1\n    credentials:\n"
        "      bearer_token: ACME_TOKEN\ndefault_schema:\n  client: acme\n  weight: 1.5\n"
        "endpoints: [tweet_insights]\n",
    )
    assert [a.key for a in source.accounts] == ["id:2244994945", "username:acme_1"]  # type: ignore[attr-defined]
    assert source.default_schema == {"client": "acme", "weight": 1.5}  # type: ignore[attr-defined]
    assert source.endpoints == ("tweet_insights",)  # type: ignore[attr-defined]


def test_cli_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "bad.yaml").write_text("acounts: []\n")
    assert cli_main(["validate", str(tmp_path / "good.yaml")]) == 0
    assert "1 account(s)" in capsys.readouterr().out
    assert cli_main(["validate", str(tmp_path / "bad.yaml")]) == 2
    assert "unknown key 'acounts'" in capsys.readouterr().err


def test_a_bad_source_fails_the_run_before_any_request_or_write(project: Project) -> None:
    (project.tmp / "x_source.yaml").write_text("accounts:\n  - username: bad handle!\n")
    result = project.materialize(["tweet_insights"], partition=str(TODAY))
    assert not result.success
    error = result.get_step_failure_events()[0].step_failure_data
    assert "username 'bad handle!' is not a valid X handle" in error.error.message
    assert error.user_failure_data is not None  # a dg.Failure with the message, not a bare traceback
    assert project.stats()["requests_total"] == 0
    assert not Path(project.database).exists()


def test_missing_default_credentials_are_named(project: Project) -> None:
    project.monkeypatch.delenv("X_BEARER_TOKEN")
    project.monkeypatch.setenv("X_CONSUMER_KEY", "k")
    result = project.materialize(["account_insights"], partition=str(TODAY))
    assert not result.success
    message = result.get_step_failure_events()[0].step_failure_data.error.message
    assert "no default X credentials" in message and "X_CONSUMER_SECRET" in message
    assert project.stats()["requests_total"] == 0
