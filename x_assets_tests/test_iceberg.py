"""The Iceberg destination: the same runs over simulated days give the same tables as DuckDB, each
run commits once per table it changes, and a killed or conflicting writer loses nothing."""

from __future__ import annotations

import datetime as dt
import signal as signal_module
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pytest

from x_assets.clock import use_clock
from x_assets.emulator import Emulator, WorldSpec
from x_assets.emulator.server import EmulatorServer
from x_assets.log import NullLog
from x_assets.warehouse.iceberg import SNAPSHOT_COMMIT, SNAPSHOT_RUN, IcebergStore, iceberg_store, snapshots_of
from x_assets.warehouse.read import open_source
from x_assets.warehouse.store import Scope, Slice, ensure_table, write_rows
from x_assets.warehouse.tables import ACCOUNT_INSIGHTS_TABLE, TWEET_INSIGHTS_TABLE

from .conftest import NOW, Project, control, simulated_days

DAYS = 3
START = NOW - dt.timedelta(days=DAYS - 1)
TABLES = (
    "account_insights",
    "tweet_insights",
    "tweet_metrics_history",
    "mentions_insights",
    "account_status",
    "account_registry",
    "read_ledger",
    "account_daily_growth",
    "tweet_engagement",
    "engagement_by_age",
)
ASSETS = ["account_daily_growth", "tweet_engagement", "engagement_by_age"]


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    world = WorldSpec(seed=11, accounts=4, days=30, tweets_per_day=3, now_ms=int(START.timestamp() * 1000))
    with EmulatorServer(Emulator(world)) as srv:
        yield srv


def run_days(project: Project) -> list[str]:
    """DAYS simulated days of a daily schedule's work, a re-run among them; the ids of the runs."""
    project.write_source(
        {
            "accounts": [{"username": u} for u in ("AcmeNews", "GlobexDev", "InitechHQ", "BannedBrand")],
            "endpoints": ["account_insights", "tweet_insights", "tweet_metrics_history", "mentions_insights"],
            "default_schema": {"client": "acme"},
        }
    )
    run_ids = []
    for today in simulated_days(project, START, DAYS):
        week = (today - dt.timedelta(days=7), today - dt.timedelta(days=1))
        yesterday = str(today - dt.timedelta(days=1))
        runs = [
            project.materialize(["tweet_insights", "mentions_insights", *ASSETS[1:]], days=week),
            project.materialize(["tweet_insights"], days=week),  # a re-run replaces, never adds
            project.materialize(["account_insights", *ASSETS[:1]], partition=yesterday),
        ]
        assert all(r.success for r in runs), [r.all_node_events[-1].message for r in runs if not r.success]
        run_ids += [r.run_id for r in runs]
    return run_ids


def tables_of(source: object) -> dict[str, pl.DataFrame]:
    tables = {}
    for name in TABLES:
        frame = source.table(name)  # type: ignore[attr-defined]
        # recorded_at / resolved_at: when a run wrote; the same frozen clock in both, but sorted apart
        tables[name] = frame.sort(frame.columns, nulls_last=True)
    return tables


def test_iceberg_holds_what_duckdb_holds_after_days_of_runs(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_days(project)
    with open_source("x", project.database, destination="duckdb") as source:
        expected = tables_of(source)
    requests = control(project.server, "GET", "/stats")["requests"]

    # the same world again, into Iceberg
    world = WorldSpec(seed=11, accounts=4, days=30, tweets_per_day=3, now_ms=int(START.timestamp() * 1000))
    with EmulatorServer(Emulator(world)) as other:
        monkeypatch.setenv("X_API_BASE_URL", other.base_url)
        monkeypatch.setenv("X_DESTINATION", "iceberg")
        iceberg_dir = tmp_path / "ice"
        monkeypatch.setenv("X_DUCKDB_PATH", str(iceberg_dir / "warehouse.duckdb"))
        project.server = other
        run_ids = run_days(project)
        # the same requests: what the runs look up in the stored tables (the registry of resolved
        # handles, the statuses) they find in Iceberg as in DuckDB
        assert control(other, "GET", "/stats")["requests"] == requests
    assert not (iceberg_dir / "warehouse.duckdb").exists()  # no DuckDB file with iceberg
    with open_source("x", iceberg_dir / "warehouse.duckdb", destination="iceberg") as source:
        got = tables_of(source)
    for name in TABLES:
        assert expected[name].height > 0, name
        assert got[name].columns == expected[name].columns, name
        assert got[name].equals(expected[name]), name

    # one commit per run and table at most, every one of them by a run of the job
    store = iceberg_store(str(iceberg_dir / "warehouse.duckdb"), "x")
    for table in (TWEET_INSIGHTS_TABLE, ACCOUNT_INSIGHTS_TABLE):
        summaries = snapshots_of(store, table)
        commits: dict[str, set[str]] = {}
        for summary in summaries:
            commits.setdefault(summary[SNAPSHOT_RUN], set()).add(summary[SNAPSHOT_COMMIT])
        assert set(commits) <= set(run_ids)
        assert all(len(ids) == 1 for ids in commits.values()), commits


def test_a_write_on_stale_data_starts_again_and_loses_nothing(project: Project, tmp_path: Path) -> None:
    """Two writers of overlapping days: the one that loaded first finds the table moved at its
    commit, loads again and writes on the other's rows, never over them."""
    store = iceberg_store(str(tmp_path / "w" / "warehouse.duckdb"), "x")
    table = store.table(ACCOUNT_INSIGHTS_TABLE)
    day = dt.date(2026, 1, 1)
    attempts = []

    def row(account: str) -> str:
        return (
            f"INSERT INTO {table.qualified} (date, account_id, followers_count) VALUES "
            f"(DATE '{day}', '{account}', {len(attempts)})"
        )

    def first(conn: duckdb.DuckDBPyConnection) -> None:
        ensure_table(conn, table, {})
        conn.execute(row("1"))

    store.write(NullLog(), [Scope(table, [day])], first)

    def slow(conn: duckdb.DuckDBPyConnection) -> None:
        attempts.append(1)
        conn.execute(f"DELETE FROM {table.qualified} WHERE account_id = '2'")
        conn.execute(row("2"))
        if len(attempts) == 1:  # another writer commits the same day meanwhile
            store.write(NullLog(), [Scope(table, [day])], lambda c: c.execute(row("3")))

    store.write(NullLog(), [Scope(table, [day])], slow)
    assert len(attempts) == 2
    with store.connect(NullLog()) as conn:
        rows = conn.execute(f"SELECT account_id FROM {table.qualified} ORDER BY 1").fetchall()
    assert rows == [("1",), ("2",), ("3",)]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    from .services import postgres

    with postgres() as url:
        yield url


WRITERS, ROUNDS = 3, 6


def test_writers_in_several_processes_commit_overlapping_slices_and_none_is_lost(
    postgres_url: str, tmp_path: Path
) -> None:
    """Three processes replace their own accounts on the same days, at once, round after round,
    through a PostgreSQL catalog: every write lands whole, once, or starts again."""
    warehouse = (tmp_path / "ice").as_uri()
    # the table exists before the race, as after a first run
    from .child_commit import DAYS, rows

    store = IcebergStore(database="", schema_name="race", catalog_uri=postgres_url, warehouse=warehouse)
    table = store.table(ACCOUNT_INSIGHTS_TABLE)
    store.write(NullLog(), [Scope(table, DAYS)], lambda conn: ensure_table(conn, table, {}))
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "x_assets_tests.child_commit", postgres_url, warehouse, "race", str(w), str(ROUNDS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(WRITERS)
    ]
    outputs = [child.communicate(timeout=600) for child in children]
    assert all(child.returncode == 0 for child in children), [err[-2000:] for _, err in outputs]
    attempts = sum(int(out.strip()) for out, _ in outputs)
    with store.connect(NullLog()) as conn:
        got = conn.sql(f"SELECT date, account_id, username, followers_count FROM {table.qualified}").pl()
    truth = pl.concat([rows(str(w), ROUNDS) for w in range(WRITERS)])
    assert got.sort(got.columns).equals(truth.sort(truth.columns))
    # each round of each writer is exactly one commit; the losers of a race wrote again
    commits = {s[SNAPSHOT_COMMIT] for s in snapshots_of(store, table) if s.get(SNAPSHOT_RUN, "").startswith("writer")}
    assert len(commits) == WRITERS * ROUNDS
    assert attempts > WRITERS * ROUNDS  # the race was real: some writes found the table moved


def test_a_writer_killed_in_its_commit_leaves_the_last_snapshot_and_its_retry_commits_once(
    postgres_url: str, tmp_path: Path
) -> None:
    from .child_commit import rows

    warehouse = (tmp_path / "ice").as_uri()
    command = [sys.executable, "-m", "x_assets_tests.child_commit", postgres_url, warehouse, "killed", "k"]
    subprocess.run([*command, "1"], check=True, capture_output=True, timeout=300)  # round 1 lands
    signal = tmp_path / "in-commit"
    child = subprocess.Popen([*command, "2", "2", str(signal)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not signal.exists():
            assert child.poll() is None, child.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "the writer never reached its commit"
            time.sleep(0.05)
        child.send_signal(signal_module.SIGKILL)  # files written, catalog not yet told
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()

    store = IcebergStore(database="", schema_name="killed", catalog_uri=postgres_url, warehouse=warehouse)
    table = store.table(ACCOUNT_INSIGHTS_TABLE)

    def stored() -> pl.DataFrame:
        with store.connect(NullLog()) as conn:
            got = conn.sql(f"SELECT date, account_id, username, followers_count FROM {table.qualified}").pl()
        return got.sort(got.columns)

    before = rows("k", 1)
    assert stored().equals(before.sort(before.columns))  # round 1 whole: nothing of the killed round
    subprocess.run([*command, "2", "2"], check=True, capture_output=True, timeout=300)  # the retry
    after = rows("k", 2)
    assert stored().equals(after.sort(after.columns))
    commits = [s[SNAPSHOT_COMMIT] for s in snapshots_of(store, table) if s.get(SNAPSHOT_RUN) == "writer-k"]
    assert len(set(commits)) == 2  # round 1 and the retried round 2: the killed one left no snapshot


def write_round(store: IcebergStore, writer: str, round_: int) -> None:
    """One round of child_commit's writer, in this process: its accounts' slice on its days."""
    from .child_commit import DAYS, rows

    table = store.table(ACCOUNT_INSIGHTS_TABLE)
    frame = rows(writer, round_)

    def body(conn: duckdb.DuckDBPyConnection) -> None:
        ensure_table(conn, table, {})
        slices = [Slice(a, DAYS[0], DAYS[-1]) for a in frame.get_column("account_id").unique()]
        write_rows(conn, table, frame, (DAYS[0], DAYS[-1]), slices)

    store.write(NullLog(), [Scope(table, DAYS)], body)


def test_maintenance_compacts_a_day_of_small_files_and_expires_old_snapshots(tmp_path: Path) -> None:
    from x_assets.warehouse.iceberg import compact, expire_snapshots

    from .child_commit import DAYS, rows

    store = iceberg_store(str(tmp_path / "m" / "warehouse.duckdb"), "x")
    table = store.table(ACCOUNT_INSIGHTS_TABLE)
    for round_ in (1, 2, 3):  # three runs: each commit holds one file per day it wrote
        write_round(store, "a", round_)
    iceberg = store.catalog.load_table(("x", table.name))
    for i in range(4):  # another tool appends small files to the first day
        extra = rows(f"tool{i}", 1).filter(pl.col("date") == DAYS[0]).to_dicts()
        iceberg.append(pa.Table.from_pylist(extra, schema=iceberg.schema().as_arrow()))

    def files_per_day() -> dict[object, int]:
        counts: dict[object, int] = {}
        for task in store.catalog.load_table(("x", table.name)).scan().plan_files():
            counts[task.file.partition[0]] = counts.get(task.file.partition[0], 0) + 1
        return counts

    def content() -> pl.DataFrame:
        with store.connect(NullLog()) as conn:
            got = conn.sql(f"SELECT * FROM {table.qualified}").pl()
        return got.sort(got.columns, nulls_last=True)

    before = content()
    assert sorted(files_per_day().values()) == [1, 1, 5]
    assert compact(store, NullLog(), min_files=4)[table.name] == 1
    assert sorted(files_per_day().values()) == [1, 1, 1]
    assert content().equals(before)
    assert len(store.catalog.load_table(("x", table.name)).snapshots()) > 2
    expire_snapshots(store, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1), NullLog())
    assert len(store.catalog.load_table(("x", table.name)).snapshots()) == 1  # the current one stays
    assert content().equals(before)


def test_a_new_default_schema_column_becomes_an_iceberg_column(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("X_DESTINATION", "iceberg")
    accounts = [{"username": "AcmeNews"}, {"username": "GlobexDev"}]
    day = NOW.date() - dt.timedelta(days=1)
    project.write_source({"accounts": accounts, "default_schema": {"client": "acme"}})
    assert project.materialize(["account_insights"], partition=str(day)).success
    project.write_source({"accounts": accounts, "default_schema": {"client": "acme", "region": "emea"}})
    assert project.materialize(["tweet_insights"], partition=str(day)).success
    store = iceberg_store(project.database, "x")
    posts = store.catalog.load_table(("x", "tweet_insights"))
    snapshots = store.catalog.load_table(("x", "account_insights"))
    assert "region" in posts.schema().column_names  # created with it
    assert "region" not in snapshots.schema().column_names  # not written since
    assert project.materialize(["account_insights"], partition=str(day)).success
    snapshots = store.catalog.load_table(("x", "account_insights"))
    assert "region" in snapshots.schema().column_names  # evolved in the run's own commit
    with open_source("x", project.database, destination="iceberg") as source:
        rows = source.sql("SELECT client, region FROM x.account_insights").rows()
    assert rows == [("acme", "emea"), ("acme", "emea")]

    # a whole number turning decimal: Iceberg cannot widen a long, so the run refuses before any request
    project.write_source({"accounts": accounts, "default_schema": {"client": "acme", "region": "emea", "tier": 5}})
    assert project.materialize(["account_insights"], partition=str(day)).success
    requests = project.stats()["requests_total"]
    project.write_source({"accounts": accounts, "default_schema": {"client": "acme", "region": "emea", "tier": 5.5}})
    failed = project.materialize(["account_insights"], partition=str(day))
    assert not failed.success
    assert "Iceberg cannot widen a long to a double" in str(failed.get_step_failure_events()[0].event_specific_data)
    assert project.stats()["requests_total"] == requests


def test_the_weekly_maintenance_job_runs_on_an_iceberg_source(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from x_assets.definitions import build_defs

    monkeypatch.setenv("X_DESTINATION", "iceberg")
    day = NOW.date() - dt.timedelta(days=1)
    for _ in range(2):  # two commits (the counts move between the reads): a snapshot to expire
        assert project.materialize(["tweet_insights"], days=(day - dt.timedelta(days=6), day)).success
        project.server.world.advance(1)
    store = iceberg_store(project.database, "x")
    assert len(store.catalog.load_table(("x", "tweet_insights")).snapshots()) >= 2
    defs = build_defs(defs_folder=None)
    schedule = defs.resolve_schedule_def("x_iceberg_maintenance_schedule")
    assert schedule.cron_schedule == "0 3 * * 0"
    job = defs.resolve_job_def("iceberg_maintenance_job")
    config = {"ops": {"iceberg_maintenance": {"config": {"keep_days": 1}}}}
    with use_clock(lambda: NOW + dt.timedelta(days=2)):
        result = job.execute_in_process(instance=project.instance, run_config=config)
    assert result.success
    (output,) = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]  # what the op did
    assert output.event_specific_data.metadata["snapshots_expired"].value >= 1  # type: ignore[union-attr]
    assert len(store.catalog.load_table(("x", "tweet_insights")).snapshots()) == 1

    monkeypatch.setenv("X_DESTINATION", "duckdb")  # a DuckDB source has no such job
    jobs = {job.name for job in build_defs(defs_folder=None).resolve_all_job_defs()}
    assert "tweet_insights_job" in jobs and "iceberg_maintenance_job" not in jobs


def test_tables_on_an_s3_compatible_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """X_ICEBERG_WAREHOUSE=s3://...: endpoint, region and keys from the usual AWS_* variables."""
    import boto3

    from .services import s3

    with s3() as endpoint:
        for name, value in {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "test-key",
            "AWS_SECRET_ACCESS_KEY": "test-secret",
        }.items():
            monkeypatch.setenv(name, value)
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="lake")
        store = iceberg_store(str(tmp_path / "warehouse.duckdb"), "x", None, "s3://lake/x_assets")
        table = store.table(ACCOUNT_INSIGHTS_TABLE)
        from .child_commit import rows

        for round_ in (1, 2):
            write_round(store, "s", round_)
        with store.connect(NullLog()) as conn:
            got = conn.sql(f"SELECT date, account_id, username, followers_count FROM {table.qualified}").pl()
        truth = rows("s", 2)
        assert got.sort(got.columns).equals(truth.sort(truth.columns))
        keys = [o["Key"] for o in boto3.client("s3", endpoint_url=endpoint).list_objects_v2(Bucket="lake")["Contents"]]
        assert any(k.startswith("x_assets/x/account_insights/data/date=") for k in keys)
    assert not (tmp_path / "iceberg").exists()  # nothing on the local disk


def test_a_write_that_always_loses_the_race_gives_up_with_a_sentence_and_writes_nothing(tmp_path: Path) -> None:
    from x_assets.warehouse.iceberg import IcebergStore
    from x_assets.warehouse.store import WarehouseError

    rival = iceberg_store(str(tmp_path / "w" / "warehouse.duckdb"), "x")
    store = IcebergStore(
        database=rival.database, catalog_uri=rival.catalog_uri, warehouse=rival.warehouse, commit_attempts=3
    )
    table = store.table(ACCOUNT_INSIGHTS_TABLE)
    day = dt.date(2026, 1, 1)
    insert = f"INSERT INTO {table.qualified} (date, account_id, followers_count) VALUES (DATE '{day}', ?, ?)"
    rival.write(NullLog(), [Scope(table, [day])], lambda c: (ensure_table(c, table, {}), c.execute(insert, ["r", 0])))
    attempts = []

    def losing(conn: duckdb.DuckDBPyConnection) -> None:
        attempts.append(1)
        conn.execute(insert, ["mine", 1])
        # a rival commits to the same day every time, before this write can
        rival.write(NullLog(), [Scope(table, [day])], lambda c: c.execute(insert, [f"r{len(attempts)}", 0]))

    with pytest.raises(WarehouseError, match="gave up after 3 attempts: other writers kept committing"):
        store.write(NullLog(), [Scope(table, [day])], losing)
    assert len(attempts) == 3
    with store.connect(NullLog()) as conn:
        owners = {r[0] for r in conn.execute(f"SELECT account_id FROM {table.qualified}").fetchall()}
    assert owners == {"r", "r1", "r2", "r3"}  # every rival's row, none of the loser's
