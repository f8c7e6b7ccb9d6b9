"""Beyond one machine: three sources' steps on two dagster-celery workers (Redis broker), the
instance on PostgreSQL (deploy/dagster.yaml as shipped), the tables in one Iceberg catalog on
PostgreSQL. Every server is started here on 127.0.0.1 and stopped at the end."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml

from x_assets.clock import ENV_NOW
from x_assets.emulator import DEMO_BEARER_TOKEN
from x_assets.emulator.server import EmulatorServer
from x_assets.log import NullLog
from x_assets.warehouse.iceberg import SNAPSHOT_COMMIT, SNAPSHOT_RUN, IcebergStore, snapshots_of
from x_assets.warehouse.tables import ACCOUNT_INSIGHTS_TABLE, TWEET_INSIGHTS_TABLE

from .conftest import NOW, TODAY, account_by_name, expected_tweet_rows
from .services import postgres, redis

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SOURCES = {
    "alpha": ["AcmeNews", "GlobexDev"],
    "beta": ["InitechHQ"],
    "gamma": ["AcmeNews", "InitechHQ"],  # two sources may watch one account: each keeps its own rows
}
DAYS = [TODAY - dt.timedelta(days=2), TODAY - dt.timedelta(days=1)]
CATALOG_PASSWORD = "catalog-pw-5e1d93"  # trust on loopback accepts it; it must show nowhere

DEFS = """
import os
import time
from pathlib import Path

import dagster as dg

from x_assets.definitions import executor_from_env
from x_assets.orchestration.names import SourceNames
from x_assets.orchestration.resources import Warehouse, XResource, destination_from_env
from x_assets.orchestration.source_defs import source_definitions

HERE = Path(__file__).parent
defs = dg.Definitions.merge(
    *(
        source_definitions(
            SourceNames(name),
            XResource(source_file=str(HERE / f"{name}.yaml"), base_url=os.environ["X_API_BASE_URL"]),
            Warehouse(database=str(HERE / "data" / "warehouse.duckdb"), schema_name=name, **destination_from_env()),
        )
        for name in NAMES
    ),
    dg.Definitions(executor=executor_from_env()),
)

# For the kill test only: the first tweet_insights commit anywhere stops once its data files are
# written, before the catalog is told, and says which process it is in.
PAUSE = os.environ.get("X_TEST_PAUSE_IN_COMMIT")
if PAUSE:
    from pyiceberg.table import CreateTableTransaction, Transaction

    def _pausing(commit):
        def paused(self):
            if self._table.name()[-1] == "tweet_insights" and not Path(PAUSE).exists():
                Path(PAUSE).write_text(f"{os.getpid()} {self._table.name()[0]}")
                time.sleep(600)
            return commit(self)

        return paused

    for kind in (Transaction, CreateTableTransaction):  # a first commit creates the table
        kind.commit_transaction = _pausing(kind.commit_transaction)
"""


@pytest.fixture
def deployment(server: EmulatorServer, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """PostgreSQL (instance + catalog), Redis, and two Celery workers of one worker process each."""
    with postgres(("x_assets", "dagster")) as catalog, redis() as broker:
        port = catalog.rsplit(":", 1)[1].split("/")[0]
        home = tmp_path / "home"
        home.mkdir()
        shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")  # the file as shipped
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "DAGSTER_PG_USERNAME": "postgres",
            "DAGSTER_PG_PASSWORD": "trust-on-loopback",
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": port,
            "DAGSTER_PG_DB": "dagster",
            "X_API_BASE_URL": server.base_url,
            "X_BEARER_TOKEN": DEMO_BEARER_TOKEN,
            "X_DESTINATION": "iceberg",
            "X_ICEBERG_CATALOG_URI": catalog.replace("postgres@", f"postgres:{CATALOG_PASSWORD}@"),
            "X_ICEBERG_WAREHOUSE": (tmp_path / "lake").as_uri(),
            "X_EXECUTOR": "celery",
            "X_CELERY_BROKER": broker,
            ENV_NOW: NOW.isoformat(),
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # the celery command of this venv
            "NO_PROXY": "127.0.0.1,localhost",
        }
        project = tmp_path / "project"
        project.mkdir()
        for name, accounts in SOURCES.items():
            source = {
                "accounts": [{"username": a} for a in accounts],
                "credentials": {"bearer_token": "X_BEARER_TOKEN"},
            }
            (project / f"{name}.yaml").write_text(yaml.safe_dump(source))
        (project / "deploy_defs.py").write_text(f"NAMES = {list(SOURCES)!r}\n" + DEFS)
        if getattr(request, "param", {}).get("pause_in_commit"):
            env["X_TEST_PAUSE_IN_COMMIT"] = str(tmp_path / "paused")
        # On an empty database every Dagster process creates the instance's tables at start-up,
        # and two doing it at once collide in PostgreSQL's catalog (seen in CI: `type "job_ticks"
        # already exists`). A deployment creates them once, before it starts anything; so does this.
        migrated = subprocess.run(
            [str(BIN / "dagster"), "instance", "migrate"], env=env, capture_output=True, text=True, timeout=120
        )
        assert migrated.returncode == 0, migrated.stderr[-3000:]
        workers = []
        for i in (1, 2):
            log = open(tmp_path / f"worker{i}.log", "w")  # noqa: SIM115 (closed below)
            command = [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app"]
            command += ["-y", str(ROOT / "deploy" / "celery.yaml"), "-n", f"w{i}@x_assets", "--", "--concurrency=1"]
            workers.append(
                (
                    subprocess.Popen(command, env=env, cwd=project, stdout=log, stderr=log, start_new_session=True),
                    log,
                )
            )
        try:
            yield {
                **env,
                "PROJECT": str(project),
                "LOGS": str(tmp_path),
                "WORKER_PIDS": ",".join(str(w.pid) for w, _ in workers),
            }
        finally:
            for worker, log in workers:
                if worker.poll() is None:
                    os.killpg(worker.pid, signal.SIGTERM)
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(worker.pid, signal.SIGKILL)
                    worker.wait(timeout=30)
                log.close()


def source_store(deployment: dict[str, str], name: str) -> IcebergStore:
    """A source's tables as the deployment wrote them: its namespace of the shared catalog."""
    uri, lake = deployment["X_ICEBERG_CATALOG_URI"], deployment["X_ICEBERG_WAREHOUSE"]
    return IcebergStore(database="", schema_name=name, catalog_uri=uri, warehouse=lake)


def read(store: IcebergStore, table: str) -> pl.DataFrame:
    with store.connect(NullLog()) as conn:
        return conn.sql(f"SELECT * FROM {store.schema_name}.{table}").pl()


def materialize_command(asset: str, partition: dt.date) -> list[str]:
    keys = ",".join(f"{name}/{asset}" for name in SOURCES)
    command = [str(BIN / "dagster"), "asset", "materialize", "-f", "deploy_defs.py", "--select", keys]
    return [*command, "--partition", str(partition)]


def materialize(env: dict[str, str], asset: str, partition: dt.date) -> None:
    done = subprocess.run(
        materialize_command(asset, partition),
        env=env,
        cwd=env["PROJECT"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_three_sources_on_two_celery_workers_into_one_iceberg_catalog_on_postgres(
    server: EmulatorServer, deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for day in DAYS:
        materialize(deployment, "tweet_insights", day)
    materialize(deployment, "account_insights", DAYS[-1])

    # the runs, as the instance on PostgreSQL has them: all succeeded, one step per source each
    monkeypatch.setenv("DAGSTER_HOME", deployment["DAGSTER_HOME"])
    for name in ("DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_DB"):
        monkeypatch.setenv(name, deployment[name])
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        runs = instance.get_runs()
        assert len(runs) == 3 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        run_ids = {r.run_id for r in runs}
        for run in runs:
            records = instance.get_records_for_run(run.run_id).records
            started = [r.event_log_entry for r in records if r.event_log_entry.dagster_event_type == "STEP_START"]
            assert len(started) == len(SOURCES)
        # the catalog's password (in X_ICEBERG_CATALOG_URI) is in no event: messages, metadata, config
        events = [str(r.event_log_entry) for run in runs for r in instance.get_records_for_run(run.run_id).records]
        assert events and not any(CATALOG_PASSWORD in e for e in events)
        assert not any(CATALOG_PASSWORD in str(r.run_config) for r in runs)
    # both workers took steps (each step is a Celery task), and logged no password
    logs = [(Path(deployment["LOGS"]) / f"worker{i}.log").read_text() for i in (1, 2)]
    assert all(" succeeded in " in log for log in logs), [log[-1500:] for log in logs]
    assert not any(CATALOG_PASSWORD in log for log in logs)

    # the tables equal the emulator's truth, each source in its own namespace of one catalog
    for name, accounts in SOURCES.items():
        store = source_store(deployment, name)
        posts, snapshots = (read(store, table) for table in ("tweet_insights", "account_insights"))
        expected = {}
        for account in accounts:
            expected.update(expected_tweet_rows(server, account, DAYS[0], DAYS[-1]))
        assert posts.height == len(expected) > 0
        for row in posts.iter_rows(named=True):
            want = expected[row["tweet_id"]]
            assert {k: row[k] for k in want} == want
        assert sorted(snapshots.get_column("followers_count").to_list()) == sorted(
            account_by_name(server, a).followers_count for a in accounts
        )
        assert snapshots.get_column("date").unique().to_list() == [DAYS[-1]]
        # exactly one commit per successful run that wrote the table, and none by anything else
        for table, writes in ((TWEET_INSIGHTS_TABLE, 2), (ACCOUNT_INSIGHTS_TABLE, 1)):
            commits: dict[str, set[str]] = {}
            for summary in snapshots_of(store, table):
                commits.setdefault(summary[SNAPSHOT_RUN], set()).add(summary[SNAPSHOT_COMMIT])
            assert set(commits) <= run_ids and len(commits) == writes, commits
            assert all(len(c) == 1 for c in commits.values())


def instance_env(deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DAGSTER_HOME", "DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_HOST", "DAGSTER_PG_PORT"):
        monkeypatch.setenv(name, deployment[name])
    monkeypatch.setenv("DAGSTER_PG_DB", deployment["DAGSTER_PG_DB"])


@pytest.mark.parametrize("deployment", [{"pause_in_commit": True}], indirect=True)
def test_a_celery_worker_killed_in_its_commit_loses_nothing_and_the_retried_run_commits_once(
    server: EmulatorServer, deployment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL to a worker (its whole process group) while one source's step is inside its
    tweet_insights commit; the run, stuck on the lost task, is stopped and released by hand as the
    README says; the retried run loads all three sources and no slice is torn, doubled or lost."""
    day = DAYS[-1]
    paused = Path(deployment["X_TEST_PAUSE_IN_COMMIT"])
    run = subprocess.Popen(
        materialize_command("tweet_insights", day),
        env=deployment,
        cwd=deployment["PROJECT"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not paused.exists() or len(paused.read_text().split()) < 2:
            assert run.poll() is None, "the run ended before any commit paused"
            assert time.monotonic() < deadline, "no step reached its tweet_insights commit"
            time.sleep(0.1)
        pid, killed_source = paused.read_text().split()
        victim = os.getpgid(int(pid))
        assert str(victim) in deployment["WORKER_PIDS"].split(",")  # one of the two workers
        os.killpg(victim, signal.SIGKILL)
        time.sleep(5)  # long enough to see the run does not end: it waits for the lost task forever
        assert run.poll() is None  # so it has to be stopped
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=30)

    instance_env(deployment, monkeypatch)
    with dg.DagsterInstance.get() as instance:
        (stuck,) = instance.get_runs()
        assert stuck.status == dg.DagsterRunStatus.STARTED
    released = subprocess.run(
        [str(BIN / "x-assets"), "release-dead-runs", "--run-id", stuck.run_id],
        env=deployment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert released.returncode == 0 and "1 run(s) released" in released.stdout, released.stderr[-2000:]
    materialize(deployment, "tweet_insights", day)  # the retry, on the surviving worker

    with dg.DagsterInstance.get() as instance:
        runs = {r.run_id: r.status for r in instance.get_runs()}
    assert runs[stuck.run_id] == dg.DagsterRunStatus.FAILURE
    (retry,) = [r for r in runs if r != stuck.run_id]
    assert runs[retry] == dg.DagsterRunStatus.SUCCESS
    for name, accounts in SOURCES.items():
        store = source_store(deployment, name)
        posts = read(store, "tweet_insights")
        expected = {}
        for account in accounts:
            expected.update(expected_tweet_rows(server, account, day, day))
        assert sorted(posts.get_column("tweet_id").to_list()) == sorted(expected)  # whole, once each
        commits: dict[str, set[str]] = {}
        for summary in snapshots_of(store, TWEET_INSIGHTS_TABLE):
            commits.setdefault(summary[SNAPSHOT_RUN], set()).add(summary[SNAPSHOT_COMMIT])
        # the killed commit left no snapshot; a source whose step ended before the kill committed in
        # the stuck run, and its retry found nothing to change: at most one commit per run
        assert set(commits) <= {stuck.run_id, retry} and all(len(c) == 1 for c in commits.values())
        if name == killed_source:  # the killed commit never landed: the retry made the only one
            assert set(commits) == {retry}, commits
        else:
            assert len(commits) == 1
