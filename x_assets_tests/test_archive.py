"""The raw archive: every answer X gives a run is kept (compressed, no credential), and
`x-assets rebuild` rebuilds the tables from it, after weeks of daily runs, without one request."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from x_assets.cli import main as cli
from x_assets.emulator import DEMO_BEARER_TOKEN, Emulator, WorldSpec
from x_assets.emulator.auth import OWNER_TOKEN_SECRET
from x_assets.emulator.server import EmulatorServer
from x_assets.warehouse.archive import PARTIAL, SUFFIX, archive_files, archive_root, iter_records, read_lines

from .conftest import NOW, Project, account_by_name, control, simulated_days
from .test_owned_metrics import own_credentials

DAYS = 12
START = NOW - dt.timedelta(days=DAYS - 1)
ACCOUNTS = ("AcmeNews", "GlobexDev", "InitechHQ", "BannedBrand")


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    world = WorldSpec(seed=5, accounts=4, days=30, tweets_per_day=4, now_ms=int(START.timestamp() * 1000))
    with EmulatorServer(Emulator(world)) as srv:
        yield srv


def archive_of(project: Project) -> Path:
    return archive_root(Path(project.database).parent, "x")


def tables(project: Project) -> dict[str, pl.DataFrame]:
    return {
        name: project.frame(f"SELECT * FROM x.{name} ORDER BY ALL") for name in ("tweet_insights", "account_insights")
    }


def live(project: Project, policy: str) -> tuple[dt.date, dt.date, str]:
    """DAYS days of the daily schedule's work, with re-runs, a deletion and an owned account."""
    server = project.server
    acme = account_by_name(server, "AcmeNews")
    accounts: list[dict[str, Any]] = [{"username": u} for u in ACCOUNTS[1:]]
    accounts.insert(
        0, {"username": "AcmeNews", "name": "Acme", "credentials": own_credentials(project, "ACME", acme.id)}
    )
    project.write_source({"accounts": accounts, "default_schema": {"client": "acme", "tier": 2}})
    deleted = None
    for i, today in enumerate(simulated_days(project, START, DAYS)):
        week = (today - dt.timedelta(days=7), today - dt.timedelta(days=1))
        yesterday = str(today - dt.timedelta(days=1))
        runs = [project.materialize(["tweet_insights"], days=week, refresh_policy=policy)]
        if i % 4 == 1:  # a re-run the same day replaces, never adds
            runs.append(project.materialize(["tweet_insights"], days=week, refresh_policy=policy))
        runs.append(project.materialize(["account_insights"], partition=yesterday))
        if i == 6:  # a snapshot re-run later the same day replaces the earlier one
            runs.append(project.materialize(["account_insights"], partition=yesterday))
        assert all(r.success for r in runs), [r.all_node_events[-1].message for r in runs if not r.success]
        if i == 5:  # a post the table holds is deleted on X: the next runs find it gone
            stored = project.query(
                "SELECT tweet_id FROM x.tweet_insights WHERE username = 'GlobexDev' ORDER BY created_at DESC LIMIT 1"
            )
            deleted = stored[0][0]
            assert control(server, "DELETE", f"/tweets/{deleted}")["deleted"]
    assert deleted is not None
    stored_ids = {t for (t,) in project.query("SELECT tweet_id FROM x.tweet_insights")}
    assert deleted not in stored_ids
    return START.date() - dt.timedelta(days=7), NOW.date(), deleted


@pytest.mark.parametrize("policy", ["window", "ages"])
def test_rebuild_after_weeks_of_runs_gives_the_same_tables_without_a_request(project: Project, policy: str) -> None:
    first, last, _ = live(project, policy)
    before = tables(project)
    assert before["tweet_insights"].height > 50 and before["account_insights"].height > 20
    assert before["tweet_insights"].get_column("owned_impression_count").drop_nulls().len() > 0

    root = archive_of(project)
    files = archive_files(root, "tweet_insights") + archive_files(root, "account_insights")
    assert files and not list(root.rglob(f"*{PARTIAL}"))
    records = list(iter_records(files))
    kinds = {r["kind"] for r in records}
    assert {"timeline", "users", "private"} <= kinds
    if policy == "ages":
        assert "by_ids" in kinds
    # nothing secret: no token, no OAuth parameter, only path and query of each request
    raw = b"".join(read_lines(p) for p in files)
    for secret in (DEMO_BEARER_TOKEN, OWNER_TOKEN_SECRET, "oauth_signature", "Authorization", "Bearer"):
        assert secret.encode() not in raw, secret

    history = project.frame("SELECT * FROM x.tweet_metrics_history ORDER BY ALL")
    assert history.height > before["tweet_insights"].height  # posts read on several days

    # the tables emptied (as if lost), then rebuilt from the archive alone
    with duckdb.connect(project.database) as conn:
        conn.execute("DELETE FROM x.tweet_insights")
        conn.execute("UPDATE x.account_insights SET followers_count = -1")  # wrong numbers are replaced too
        conn.execute("DELETE FROM x.tweet_metrics_history WHERE age_days > 1")
    requests = control(project.server, "GET", "/stats")["requests"]
    assert cli(["rebuild", "tweet_insights", "--from", str(first), "--to", str(last)]) == 0
    assert cli(["rebuild", "account_insights", "--from", str(first), "--to", str(last)]) == 0
    assert cli(["rebuild", "tweet_metrics_history", "--from", str(first), "--to", str(last)]) == 0
    assert control(project.server, "GET", "/stats")["requests"] == requests  # not one request
    after = tables(project)
    for name in before:
        assert after[name].columns == before[name].columns, name
        assert after[name].equals(before[name]), name
    assert project.frame("SELECT * FROM x.tweet_metrics_history ORDER BY ALL").equals(history)

    # rebuilding again changes nothing (a rebuild replaces its days, never adds)
    assert cli(["rebuild", "tweet_insights", "--from", str(first), "--to", str(last)]) == 0
    assert tables(project)["tweet_insights"].equals(before["tweet_insights"])

    # the same from Dagster: a run of the assets with from_archive in its run config
    with duckdb.connect(project.database) as conn:
        conn.execute("DELETE FROM x.tweet_insights")
        conn.execute("UPDATE x.account_insights SET followers_count = -1")
    for name in before:
        config = {"ops": {name: {"config": {"from_archive": True}}}}
        result = project.materialize([name], days=(first, last), run_config=config)
        assert result.success
        day = result.asset_materializations_for_node(name)[-1]
        assert day.metadata["post_reads"].value == 0 and day.metadata["run_requests"].value == 0
        assert (
            day.metadata["dagster/row_count"].value
            == before[name].filter(pl.col("created_date" if name == "tweet_insights" else "date") == last).height
        )  # the day's own rows
        checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
        assert all(c.passed for c in checks.values())
        assert "skipped" in checks["accounts_accounted_for"].metadata  # not judged, and it says so
    assert control(project.server, "GET", "/stats")["requests"] == requests
    after = tables(project)
    assert all(after[name].equals(before[name]) for name in before)


def test_a_deleted_post_is_purged_from_the_archive(project: Project) -> None:
    _, _, deleted = live(project, "window")  # found gone from a window read whole
    # X's terms: kept nowhere, its past observations included
    assert not project.query("SELECT 1 FROM x.tweet_metrics_history WHERE tweet_id = ?", [deleted])
    files = list(archive_of(project).rglob(f"*{SUFFIX}"))
    posts = [
        post
        for record in iter_records(files)
        for post in [*(record["body"].get("data") or []), *((record["body"].get("includes") or {}).get("tweets") or [])]
    ]
    assert len(posts) > 100  # the other posts are all still there
    assert deleted not in {p.get("id") for p in posts}  # in no answer, as a post or as a referenced one


def test_retention_drops_old_days_and_zero_keeps_nothing(project: Project) -> None:
    project.write_source({"accounts": [{"username": "AcmeNews"}]})
    root = archive_of(project)
    for today in simulated_days(project, START, 4):
        week = (today - dt.timedelta(days=7), today - dt.timedelta(days=1))
        assert project.materialize(["tweet_insights"], days=week, archive_days=2).success
    fetch_days = sorted(p.name for p in (root / "tweet_insights").iterdir())
    assert fetch_days == [str(START.date() + dt.timedelta(days=d)) for d in (2, 3)]  # today and yesterday
    assert project.materialize(["tweet_insights"], days=(NOW.date(), NOW.date()), archive_days=0).success
    assert not (root / "tweet_insights").exists() or not any((root / "tweet_insights").iterdir())


def test_rebuild_refuses_what_it_cannot_do(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["rebuild", "search_insights", "--from", "2026-11-01"]) == 2
    assert "cannot be rebuilt" in capsys.readouterr().err
    assert cli(["rebuild", "tweet_insights", "--from", "2026-11-05", "--to", "2026-11-01"]) == 2
    assert "after the last" in capsys.readouterr().err
    assert cli(["rebuild", "tweet_insights", "--from", "yesterday"]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
    assert cli(["rebuild", "tweet_insights", "--from", "2026-11-01", "--source", "x; DROP TABLE y"]) == 2
    assert "source name" in capsys.readouterr().err


def test_an_archive_that_cannot_be_written_never_fails_the_run(project: Project) -> None:
    project.write_source({"accounts": [{"username": "AcmeNews"}]})
    blocked = Path(project.database).parent / "archive"
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_text("a file where the archive's folder goes")  # every write into it fails
    week = (START.date() - dt.timedelta(days=7), START.date() - dt.timedelta(days=1))  # the world's last week
    result = project.materialize(["tweet_insights"], days=week)
    assert result.success
    assert project.query("SELECT count(*) FROM x.tweet_insights")[0][0] > 0
    said = [r.user_message for r in project.instance.all_logs(result.run_id) if "raw archive" in r.user_message]
    assert said and "stopped keeping answers" in said[0]
