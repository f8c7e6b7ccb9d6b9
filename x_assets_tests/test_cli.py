"""The x-assets command line: the same code paths as the assets, against the emulator."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from x_assets.cli import main as cli_main

from .conftest import TODAY, Project, account_by_name, control


def test_accounts_shows_resolved_ids_and_states_without_writing(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["accounts"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    for handle in ("AcmeNews", "GlobexDev", "InitechHQ", "LockedVault", "PrivateLabs"):
        account = account_by_name(project.server, handle)
        assert str(account.id) in lines[f"@{handle}"], lines[f"@{handle}"]
    assert "ok" in lines["@AcmeNews"] and "protected" in lines["@LockedVault"]
    assert "suspended" in lines["@BannedBrand"] and "not_found" in lines["@GoneForGood"]
    assert "own credentials" in lines["@PrivateLabs"] and "posts are not" not in lines["@PrivateLabs"]
    stats = project.stats()
    # one lookup per credential scope: the default token, and PrivateLabs' own
    assert stats["requests_total"] == 2 and set(stats["requests"]) == {"GET /2/users/by"}
    assert not Path(project.database).exists()  # a look, not a load


def test_accounts_uses_the_ids_a_run_stored(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    assert project.materialize(["account_insights"], partition=str(TODAY)).success
    acme = account_by_name(project.server, "AcmeNews")
    control(project.server, "POST", "/rename", {"account_id": acme.id, "username": "AcmeDaily"})
    control(project.server, "POST", "/stats/reset")
    assert cli_main(["accounts"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("@AcmeNews"))
    assert str(acme.id) in line and "@AcmeDaily" in line  # followed by id, through the rename
    assert "GET /2/users" in project.stats()["requests"]  # by id


def test_accounts_with_a_bad_source_file_names_the_problem(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write_source({"accounts": [{"username": "not a handle!"}]})
    assert cli_main(["accounts"]) == 2
    assert "not a handle!" in capsys.readouterr().err
    assert project.stats()["requests_total"] == 0


def test_summary_prints_the_tables(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    first = TODAY - dt.timedelta(days=2)
    assert project.materialize(["account_insights"], partition=str(TODAY)).success
    assert project.materialize(["tweet_insights"], days=(first, TODAY)).success
    assert cli_main(["summary", "--database", project.database]) == 0
    out = capsys.readouterr().out
    posts = project.query("SELECT count(*) FROM x.tweet_insights")[0][0]
    assert f"x.tweet_insights: {posts} rows" in out and posts > 0
    assert "Acme News" in out and "x.account_insights: 5 rows" in out
    # the day's bill: every post the two runs read once, the five accounts once although both looked them up
    ((billed,),) = project.query("SELECT count(*) FROM x.read_ledger WHERE resource = 'post'")
    assert billed == project.stats()["billable_post_reads"] > 0
    assert f"{TODAY}  {billed:>7,} post reads  {0:>5,} owned reads  {5:>5,} user reads" in out


def test_summary_of_a_missing_warehouse_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere" / "warehouse.duckdb"
    assert cli_main(["summary", "--database", str(missing)]) == 2
    captured = capsys.readouterr()
    assert "no warehouse at" in captured.err and str(missing) in captured.err
    assert "Traceback" not in captured.err + captured.out
    assert not missing.exists()  # a look does not create the file


def test_summary_of_a_partial_warehouse_lists_what_exists(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    # Only tweet_insights (and the status table) exist: no snapshot table yet.
    assert project.materialize(["tweet_insights"], partition=str(TODAY)).success
    assert cli_main(["summary", "--database", project.database]) == 0
    out = capsys.readouterr().out
    assert "x.account_insights: not materialized yet" in out
    assert "x.tweet_insights:" in out and "Traceback" not in out
