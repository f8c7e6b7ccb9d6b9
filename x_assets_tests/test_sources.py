"""Named sources as a Dagster component: isolated, each with its own credentials, schema and names.

Every run here goes through the real tweepy client over HTTP to the emulator; the emulator's
statistics say which credential read what.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl
import pytest
import yaml
from dagster.components.testing import create_defs_folder_sandbox

from x_assets import SourceReadError, XSourceComponent, open_source
from x_assets.definitions import build_defs, build_resources
from x_assets.emulator import DEMO_BEARER_TOKEN
from x_assets.orchestration.names import DEFAULT_SOURCE, SourceNames

from .conftest import TODAY, Project, account_by_name, control, expected_tweet_rows
from .test_oauth import DEMO_OAUTH, use_default_oauth

ROOT = Path(__file__).resolve().parents[1]
YESTERDAY = TODAY - dt.timedelta(days=1)
COMPETITORS_TOKEN = "competitors-app-token-81f3"


def competitors_source(tmp: Path, **extra: Any) -> Path:
    path = tmp / "competitors.yaml"
    source = {
        "accounts": [{"username": "InitechHQ"}, {"username": "GlobexDev"}],
        "credentials": {"bearer_token": "COMPETITORS_BEARER_TOKEN"},
        "default_schema": {"client": "watch"},
        **extra,
    }
    path.write_text(yaml.safe_dump(source))
    return path


@contextmanager
def with_sources(project: Project, *components: dict[str, Any]) -> Iterator[dg.Definitions]:
    """The project's Definitions (its default source) with these defs.yaml documents beside it."""
    with create_defs_folder_sandbox() as sandbox:
        for component in components:
            sandbox.scaffold_component(
                component_cls=XSourceComponent,
                defs_path=component.pop("folder"),
                defs_yaml_contents={"type": "x_assets.XSourceComponent", "attributes": component},
            )
        with sandbox.build_all_defs() as sources:
            yield dg.Definitions.merge(build_defs(defs_folder=None), sources)


def run_job(project: Project, defs: dg.Definitions, job: str, partition: str) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def(job).execute_in_process(
        instance=project.instance, partition_key=partition, raise_on_error=False
    )


@dataclass
class DayRuns:
    """A day as the schedules load it: the account snapshot job, then the posts job."""

    results: list[dg.ExecuteInProcessResult]

    @property
    def success(self) -> bool:
        return all(r.success for r in self.results)

    def get_step_failure_events(self) -> list[dg.DagsterEvent]:
        return [e for r in self.results for e in r.get_step_failure_events()]


def run_day(project: Project, defs: dg.Definitions, source: str, partition: str) -> DayRuns:
    names = DEFAULT_SOURCE if source == "x" else SourceNames(source)
    jobs = ("account_insights_job", "tweet_insights_job")
    return DayRuns([run_job(project, defs, names.named(job), partition) for job in jobs])


def brand_and_competitors(project: Project) -> None:
    """The brand reads with the default OAuth 1.0a values; the competitor watch list has its own app."""
    control(project.server, "POST", "/credentials", {"label": "competitors-app", "bearer_token": COMPETITORS_TOKEN})
    use_default_oauth(project, DEMO_OAUTH)
    project.monkeypatch.setenv("COMPETITORS_BEARER_TOKEN", COMPETITORS_TOKEN)
    project.write_source({"accounts": [{"username": "AcmeNews"}], "default_schema": {"client": "acme"}})


def test_two_sources_read_with_their_own_credentials_into_their_own_schemas(project: Project) -> None:
    brand_and_competitors(project)
    source = competitors_source(project.tmp)
    with with_sources(project, {"folder": "competitors", "source_file": str(source)}) as defs:
        keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
        assert {"account_insights", "tweet_insights", "competitors/account_insights"} <= keys  # old keys kept
        pools = {
            defs.resolve_assets_def(dg.AssetKey.from_user_string(k)).op.pool
            for k in ("account_insights", "competitors/tweet_insights")
        }
        assert pools == {"x_api", "x_api_competitors"}  # each source one step at a time; sources side by side
        control(project.server, "POST", "/stats/reset")
        assert run_day(project, defs, "competitors", str(YESTERDAY)).success
        competitor_routes = project.stats()["requests_by_credential_and_route"]
        control(project.server, "POST", "/stats/reset")
        assert run_day(project, defs, "x", str(YESTERDAY)).success
        brand_routes = project.stats()["requests_by_credential_and_route"]
    # each source's requests carried its own credential, and only that one
    assert {r.split()[0] for r in competitor_routes} == {"competitors-app"}, competitor_routes
    assert {r.split()[0] for r in brand_routes} == {"default-oauth1"}, brand_routes
    assert competitor_routes["competitors-app GET /2/users/:id/tweets"] == 2  # one page per competitor
    ids = {h: str(account_by_name(project.server, h).id) for h in ("AcmeNews", "InitechHQ", "GlobexDev")}
    assert project.query("SELECT account_id, client FROM x.account_insights") == [(ids["AcmeNews"], "acme")]
    stored = project.query("SELECT account_id, client FROM competitors.account_insights ORDER BY 1")
    assert stored == sorted([(ids["InitechHQ"], "watch"), (ids["GlobexDev"], "watch")])
    posts = {r[0] for r in project.query("SELECT tweet_id FROM competitors.tweet_insights")}
    truth = {
        **expected_tweet_rows(project.server, "InitechHQ", YESTERDAY, YESTERDAY),
        **expected_tweet_rows(project.server, "GlobexDev", YESTERDAY, YESTERDAY),
    }
    assert posts == set(truth) and truth
    brand_posts = {r[0] for r in project.query("SELECT tweet_id FROM x.tweet_insights")}
    assert brand_posts == set(expected_tweet_rows(project.server, "AcmeNews", YESTERDAY, YESTERDAY))
    # the derived tables and the charts are the source's own too
    assert project.query("SELECT count(*) FROM competitors.tweet_engagement") == [(len(truth),)]
    assert (Path(project.database).parent / "charts" / "competitors" / "followers.png").is_file()


def test_a_sources_days_are_its_own(project: Project) -> None:
    """first_day and snapshots_from per source: its posts and snapshots offer only those days."""
    source = competitors_source(project.tmp)
    project.monkeypatch.setenv("COMPETITORS_BEARER_TOKEN", COMPETITORS_TOKEN)
    attributes = {"folder": "competitors", "source_file": str(source)}
    with with_sources(project, {**attributes, "first_day": "2026-01-05", "snapshots_from": "2026-02-01"}) as defs:
        graph = defs.resolve_asset_graph()
        starts = {
            key: graph.get(dg.AssetKey.from_user_string(key)).partitions_def.start.date()  # type: ignore[union-attr]
            for key in ("competitors/tweet_insights", "competitors/account_daily_growth", "tweet_insights")
        }
        history = defs.resolve_sensor_def("competitors_new_accounts_sensor")
        x = defs.resources["x_competitors"]  # type: ignore[index]
        (request,) = history(dg.build_sensor_context(resources={"x_competitors": x})).run_requests  # type: ignore[union-attr]
    assert starts == {
        "competitors/tweet_insights": dt.date(2026, 1, 5),
        "competitors/account_daily_growth": dt.date(2026, 2, 1),
        "tweet_insights": dt.date(2024, 1, 1),  # the default source keeps its own
    }
    assert request.tags["dagster/asset_partition_range_start"] == "2026-01-05"  # history from its first day
    # the settings it did not set take the same defaults as the default source's
    default = build_resources()["x"].settings()
    settings = x.settings()
    assert (settings.max_workers, settings.refresh_ages, settings.archive_days) == (
        default.max_workers,
        default.refresh_ages,
        default.archive_days,
    )


def test_one_sources_402_leaves_the_other_sources_run_successful(project: Project) -> None:
    brand_and_competitors(project)
    source = competitors_source(project.tmp)
    control(project.server, "POST", "/faults", {"kind": "credits_depleted", "credential": "competitors-app"})
    with with_sources(project, {"folder": "competitors", "source_file": str(source)}) as defs:
        failed = run_day(project, defs, "competitors", str(YESTERDAY))
        brand = run_day(project, defs, "x", str(YESTERDAY))
    assert not failed.success
    message = failed.get_step_failure_events()[0].step_failure_data.error.message  # type: ignore[union-attr]
    assert "402" in message or "credits" in message.lower(), message
    assert brand.success
    assert project.query("SELECT count(*) FROM x.account_insights") == [(1,)]
    assert not project.query(
        "SELECT 1 FROM duckdb_tables() WHERE schema_name = 'competitors' AND table_name = 'account_insights'"
    )  # nothing written: a 402 comes before any snapshot
    statuses = project.query("SELECT DISTINCT status FROM competitors.account_status")
    assert statuses == [("failed",)]  # the days are explained, not silently empty


def test_a_bad_source_file_fails_only_its_own_runs(project: Project) -> None:
    brand_and_competitors(project)
    source = competitors_source(project.tmp, accounts=[{"username": "not a handle!"}])
    with with_sources(project, {"folder": "competitors", "source_file": str(source)}) as defs:  # it loads
        failed = run_day(project, defs, "competitors", str(YESTERDAY))
        brand = run_day(project, defs, "x", str(YESTERDAY))
    assert not failed.success and brand.success
    message = failed.get_step_failure_events()[0].step_failure_data.error.message  # type: ignore[union-attr]
    assert str(source) in message and "not a handle!" in message


@pytest.mark.parametrize(
    ("folder", "attributes", "message"),
    [
        ("Bad-Name", {}, "source name 'Bad-Name' must start with a lower-case letter"),
        ("brand", {"name": "x"}, "source name 'x' is reserved"),
        ("brand", {"acounts": []}, "acounts"),
        ("brand", {"source_file": "missing.yaml"}, "missing.yaml not found"),
        ("brand", {"refresh_policy": "sometimes"}, "sometimes"),
        ("brand", {"max_workers": 20000}, "max_workers"),
        ("brand", {"snapshots_from": "2026-02-30"}, "snapshots_from must be a day written YYYY-MM-DD"),
        ("brand", {"first_day": "2999-01-01"}, "first_day must be a past day"),
        ("brand", {"unset_credentials": True}, "environment variable NOT_SET_ANYWHERE, which is not set"),
    ],
)
def test_bad_defs_yaml_fails_at_load_naming_the_problem_before_any_request(
    project: Project, folder: str, attributes: dict[str, Any], message: str
) -> None:
    source = project.tmp / "brand.yaml"
    credentials = {"bearer_token": "NOT_SET_ANYWHERE"} if attributes.pop("unset_credentials", False) else None
    source.write_text(yaml.safe_dump({"accounts": [{"username": "AcmeNews"}], "credentials": credentials}))
    attributes.setdefault("source_file", str(source))
    with pytest.raises(Exception) as info, with_sources(project, {"folder": folder, **attributes}):
        pass
    assert message in _all_messages(info.value), _all_messages(info.value)[-2000:]
    assert project.stats()["requests_total"] == 0
    assert not Path(project.database).exists()


def test_two_sources_with_one_name_are_refused(project: Project) -> None:
    source = competitors_source(project.tmp)
    project.monkeypatch.setenv("COMPETITORS_BEARER_TOKEN", COMPETITORS_TOKEN)
    with (
        pytest.raises(Exception) as info,
        with_sources(
            project,
            {"folder": "watch_a", "name": "competitors", "source_file": str(source)},
            {"folder": "watch_b", "name": "competitors", "source_file": str(source)},
        ),
    ):
        pass
    assert "two sources are named 'competitors'" in _all_messages(info.value)
    assert "watch_a" in _all_messages(info.value) and "watch_b" in _all_messages(info.value)


def _all_messages(exc: BaseException) -> str:
    """An exception with its causes and contexts, as a user reading the traceback would see them."""
    parts = []
    seen: BaseException | None = exc
    while seen is not None:
        parts.append(f"{type(seen).__name__}: {seen}")
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


def test_open_source_reads_a_sources_tables_read_only(project: Project) -> None:
    brand_and_competitors(project)
    with pytest.raises(SourceReadError, match="no warehouse at"):
        open_source("competitors", project.database)
    source = competitors_source(project.tmp)
    with with_sources(project, {"folder": "competitors", "source_file": str(source)}) as defs:
        assert run_day(project, defs, "competitors", str(YESTERDAY)).success
    with open_source("competitors", project.database) as tables:
        assert {"account_insights", "tweet_insights", "account_status", "top_tweets_weekly"} <= set(tables.tables())
        snapshot = tables.table("account_insights")
        assert isinstance(snapshot, pl.DataFrame) and snapshot.height == 2
        assert tables.relation("tweet_insights").aggregate("count(*)").fetchall()[0][0] >= 0
        with pytest.raises(SourceReadError, match="has no table 'nope'"):
            tables.table("nope")
        with pytest.raises(duckdb.Error):  # read-only: a notebook cannot change what runs wrote
            tables.conn.execute("DELETE FROM competitors.account_insights")
    with pytest.raises(SourceReadError, match="source 'brand' has no tables"):
        open_source("brand", project.database)
    # while a run (here: another process) holds the file for writing, a sentence, not DuckDB's error
    hold = f"import duckdb, time; c = duckdb.connect({project.database!r}); print('held', flush=True); time.sleep(30)"
    holder = subprocess.Popen([sys.executable, "-c", hold], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(SourceReadError, match="is being written by a run"):
            open_source("competitors", project.database)
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_credentials_resolve_when_the_run_starts(project: Project) -> None:
    project.monkeypatch.delenv("X_BEARER_TOKEN")
    defs = build_defs(defs_folder=None)  # loaded (as by dagster dev) before the token is set
    project.monkeypatch.setenv("X_BEARER_TOKEN", DEMO_BEARER_TOKEN)  # set in the run's environment only
    project.write_source({"accounts": [{"username": "AcmeNews"}]})
    result = defs.resolve_job_def("account_insights_job").execute_in_process(
        instance=project.instance,
        partition_key=str(TODAY),
        asset_selection=[dg.AssetKey("account_insights")],
        raise_on_error=False,
    )
    assert result.success
    assert project.query("SELECT count(*) FROM x.account_insights") == [(1,)]


def test_dg_scaffold_defs_adds_a_source_that_loads_and_materializes(project: Project, tmp_path: Path) -> None:
    copy = tmp_path / "project"
    shutil.copytree(
        ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", "data", ".dagster_home", "*.duckdb", "test-output")
    )
    shutil.rmtree(copy / "x_assets" / "defs" / "competitors", ignore_errors=True)
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PYTHONPATH": str(copy),  # this copy's x_assets, not the installed one
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "DAGSTER_HOME": str(tmp_path / "home"),
    }
    (tmp_path / "home").mkdir()

    def run(*args: str) -> str:
        done = subprocess.run(args, cwd=copy, env=env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
        return done.stdout + done.stderr

    run(str(bin_dir / "dg"), "scaffold", "defs", "x_assets.XSourceComponent", "competitors")
    folder = copy / "x_assets" / "defs" / "competitors"
    # Snapshots from the day it was scaffolded: no older day, which could never be filled, is offered.
    assert yaml.safe_load((folder / "defs.yaml").read_text()) == {
        "type": "x_assets.XSourceComponent",
        "attributes": {"source_file": "source.yaml", "snapshots_from": str(dt.datetime.now(dt.UTC).date())},
    }
    assert "credentials" in (folder / "source.yaml").read_text()  # commented guidance
    assert "All definitions loaded successfully" in run(str(bin_dir / "dg"), "check", "defs")
    starter = yaml.safe_load((folder / "source.yaml").read_text())
    starter["accounts"] = [{"username": "AcmeNews"}, *starter["accounts"]]  # the emulator's account, and X's
    (folder / "source.yaml").write_text(yaml.safe_dump(starter))
    out = run(
        str(bin_dir / "dagster"),
        "asset",
        "materialize",
        "-m",
        "x_assets.definitions",
        "--select",
        "competitors/account_insights",
        "--partition",
        str(TODAY),
    )
    assert "RUN_SUCCESS" in out
    acme = str(account_by_name(project.server, "AcmeNews").id)
    assert project.query("SELECT account_id FROM competitors.account_insights") == [(acme,)]
    statuses = dict(project.query("SELECT username, status FROM competitors.account_status"))
    assert statuses["XDevelopers"] == "not_found" and statuses["AcmeNews"] == "ok"


def test_every_attribute_is_documented_for_the_ui_and_editors() -> None:
    """The defs.yaml JSON schema (dg utils inspect-component, the UI's component docs) describes every attribute."""
    schema = XSourceComponent.get_model_cls().model_json_schema()
    properties = schema["properties"]
    assert set(properties) >= {"source_file", "name", "database", "refresh_policy", "max_post_reads", "max_workers"}
    undocumented = [name for name, field in properties.items() if len(field.get("description") or "") < 20]
    assert not undocumented, undocumented
    assert XSourceComponent.get_description().startswith("An X source")


def test_a_named_source_chooses_iceberg_in_its_attributes_beside_a_duckdb_source(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The competitors in Iceberg (their catalog named by a variable of their own), the brand in DuckDB."""
    from x_assets.log import NullLog
    from x_assets.warehouse.iceberg import IcebergStore

    brand_and_competitors(project)
    catalog = f"sqlite:///{tmp_path / 'rivals' / 'catalog.db'}"
    monkeypatch.setenv("RIVALS_CATALOG", catalog)
    lake = (tmp_path / "rivals" / "lake").as_uri()
    component = {
        "folder": "competitors",
        "source_file": str(competitors_source(project.tmp)),
        "destination": "iceberg",
        "iceberg_catalog_uri_env": "RIVALS_CATALOG",
        "iceberg_warehouse": lake,
    }
    with with_sources(project, component) as defs:
        warehouse = defs.resources["warehouse_competitors"]  # the UI shows the variable's name, not the URI
        assert (
            isinstance(warehouse.iceberg_catalog_uri, dg.EnvVar)
            and warehouse.iceberg_catalog_uri.env_var_name == "RIVALS_CATALOG"
        )
        assert run_day(project, defs, "competitors", str(YESTERDAY)).success
        assert run_day(project, defs, "x", str(YESTERDAY)).success
    assert project.query("SELECT count(*) FROM x.account_insights") == [(1,)]  # the brand: DuckDB
    assert not project.query("SELECT * FROM duckdb_tables() WHERE schema_name = 'competitors'")
    rivals = IcebergStore(database=project.database, schema_name="competitors", catalog_uri=catalog, warehouse=lake)
    with rivals.connect(NullLog()) as conn:
        assert conn.execute("SELECT count(*) FROM competitors.account_insights").fetchall() == [(2,)]
        posts = conn.execute("SELECT count(*) FROM competitors.tweet_insights").fetchall()[0][0]
        assert conn.execute("SELECT count(*) FROM competitors.tweet_engagement").fetchall() == [(posts,)]
        assert posts > 0
