"""Hostile or careless input: the same account twice, ids YAML would change, aliases, type changes.

Each case is refused with a sentence, before any request where that is possible, and never
leaves a table changed or a duplicate committed.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import pytest

from x_assets.cli import main as cli_main
from x_assets.warehouse.store import DuplicateKeyError, ensure_table, transaction, write_rows
from x_assets.warehouse.tables import ACCOUNT_INSIGHTS_TABLE

from .conftest import TODAY, Project, account_by_name

YESTERDAY = TODAY - dt.timedelta(days=1)


def failure(result: object) -> str:
    return str(result.get_step_failure_events()[0].step_failure_data.error.message)  # type: ignore[attr-defined]


def test_a_handle_and_its_id_are_refused_before_any_timeline_read_or_write(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    acme = account_by_name(project.server, "AcmeNews")
    twins = {"accounts": [{"username": "AcmeNews"}, {"username": "GlobexDev"}, {"id": str(acme.id)}]}
    project.write_source(twins)
    for asset in ("account_insights", "tweet_insights"):
        result = project.materialize([asset], partition=str(YESTERDAY))
        assert not result.success
        message = failure(result)
        assert "accounts[0] (@AcmeNews) and accounts[2] (id " in message and "are the same X account" in message
    stats = project.stats()
    assert set(stats["requests"]) == {"GET /2/users/by", "GET /2/users"}  # lookups only: nothing read, nothing paid
    for table in ("account_insights", "tweet_insights"):
        assert project.query(f"SELECT count(*) FROM information_schema.tables WHERE table_name = '{table}'") == [
            (0,)
        ] or project.query(f"SELECT count(*) FROM x.{table}") == [(0,)]
    # once a run has resolved the handle, validation catches the twin without any request
    project.write_source({"accounts": [{"username": "AcmeNews"}]})
    assert project.materialize(["account_insights"], partition=str(YESTERDAY)).success
    project.write_source(twins)
    before = project.stats()["requests_total"]
    assert cli_main(["validate", str(project.tmp / "x_source.yaml")]) == 2
    assert "are the same X account" in capsys.readouterr().err
    result = project.materialize(["tweet_insights"], partition=str(YESTERDAY))
    assert not result.success and "are the same X account" in failure(result)
    assert project.stats()["requests_total"] == before


def test_a_write_that_would_duplicate_a_key_is_rolled_back(tmp_path: Path) -> None:
    row = {"date": TODAY, "account_id": "1", "username": "a", "followers_count": 1}
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        ensure_table(conn, ACCOUNT_INSIGHTS_TABLE, {})
        good = pl.DataFrame([row], schema_overrides={"date": pl.Date})
        with transaction(conn):
            write_rows(conn, ACCOUNT_INSIGHTS_TABLE, good, (TODAY, TODAY), [])
        twice = pl.DataFrame([{**row, "followers_count": 2}, {**row, "followers_count": 3}])
        with pytest.raises(DuplicateKeyError, match="would store 1 key"), transaction(conn):
            write_rows(
                conn, ACCOUNT_INSIGHTS_TABLE, twice.with_columns(pl.col("date").cast(pl.Date)), (TODAY, TODAY), []
            )
        assert conn.execute("SELECT followers_count FROM x.account_insights").fetchall() == [(1,)]


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("0777", "starts with 0"),
        ("0x10", "is not a numeric X account id"),
        ("1_000", "is not a numeric X account id"),
        ("1:30", "is not a numeric X account id"),
        ("12345678901234567890", "more digits than X's 64-bit ids"),
        ('"0123"', "starts with 0"),
    ],
)
def test_ids_are_exactly_the_digits_written(project: Project, written: str, message: str) -> None:
    (project.tmp / "x_source.yaml").write_text(f"accounts:\n  - id: {written}\n")
    result = project.materialize(["account_insights"], partition=str(TODAY))
    assert not result.success and message in failure(result)
    assert project.stats()["requests_total"] == 0


def test_an_unquoted_id_is_read_as_written(project: Project) -> None:
    acme = account_by_name(project.server, "AcmeNews")
    (project.tmp / "x_source.yaml").write_text(f"accounts:\n  - id: {acme.id}\n")
    assert project.materialize(["account_insights"], partition=str(TODAY)).success
    assert project.query("SELECT account_id, username FROM x.account_insights") == [(str(acme.id), "AcmeNews")]


def test_an_alias_bomb_is_refused_with_a_short_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    levels = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i, name in enumerate("bcdefgh"):
        previous = "abcdefgh"[i]
        levels.append(f"{name}: &{name} [{', '.join(['*' + previous] * 10)}]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(levels) + "\naccounts: *h\n")
    assert len(path.read_bytes()) < 600
    assert cli_main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "aliases" in err and "not allowed" in err and len(err) < 400


def test_long_entries_are_quoted_as_short_excerpts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "long.yaml"
    path.write_text(f"accounts:\n  - username: {'x' * 100_000}\n  - id: '{'9' * 50_000}'\n")
    assert cli_main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "is not a valid X handle" in err and "more digits" in err and len(err) < 800


@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        ("5", "text", "stores it as BIGINT, and the source file now gives the VARCHAR value 'text'"),
        ("5", "2026-02-03", "stores it as BIGINT, and the source file now gives the DATE value"),
        ("5", "99999999999999999999", "does not fit a 64-bit integer column"),
        ("2026-02-03", "2026-02-30", "'2026-02-30' is not a valid date"),
    ],
)
def test_default_schema_type_changes_are_refused_before_any_request(
    project: Project, before: str, after: str, message: str
) -> None:
    source = "accounts:\n  - username: AcmeNews\ndefault_schema:\n  weight: {}\n"
    (project.tmp / "x_source.yaml").write_text(source.format(before))
    assert project.materialize(["account_insights"], partition=str(TODAY)).success
    stored = project.query("SELECT * FROM x.account_insights")
    requests_before = project.stats()["requests_total"]
    (project.tmp / "x_source.yaml").write_text(source.format(after))
    result = project.materialize(["account_insights"], partition=str(TODAY))
    assert not result.success
    assert message in failure(result) and "Current transaction is aborted" not in failure(result)
    assert project.stats()["requests_total"] == requests_before
    assert project.query("SELECT * FROM x.account_insights") == stored


def test_an_integer_column_receiving_a_decimal_becomes_double(project: Project) -> None:
    source = "accounts:\n  - username: AcmeNews\ndefault_schema:\n  weight: {}\n"
    (project.tmp / "x_source.yaml").write_text(source.format("5"))
    assert project.materialize(["account_insights", "account_daily_growth"], partition=str(TODAY)).success
    (project.tmp / "x_source.yaml").write_text(source.format("5.7"))
    assert project.materialize(["account_insights", "account_daily_growth"], partition=str(TODAY)).success
    assert project.query("SELECT weight FROM x.account_insights") == [(5.7,)]
    assert project.query("SELECT weight FROM x.account_daily_growth") == [(5.7,)]
    types = dict(
        project.query("SELECT table_name, data_type FROM information_schema.columns WHERE column_name = 'weight'")
    )
    assert {"account_insights", "account_daily_growth", "account_status"} <= set(types)
    assert set(types.values()) == {"DOUBLE"}  # every table that holds the column
