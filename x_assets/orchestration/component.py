"""`x_assets.XSourceComponent`: a named X source added to any Dagster project with `dg scaffold defs`."""

from __future__ import annotations

import datetime as dt
import os
from collections import OrderedDict
from pathlib import Path
from typing import Annotated

import dagster as dg
from pydantic import Field

from ..constants import DEFAULT_API_BASE_URL, DEFAULT_DUCKDB_PATH, ENV_API_BASE_URL, ENV_DUCKDB_PATH, IDENTIFIER_PATTERN
from ..ingest.settings import (
    DEFAULT_ARCHIVE_DAYS,
    DEFAULT_TOLERANCE,
    DEFAULT_WORKERS,
    MAX_AGE_DAYS,
    MAX_ARCHIVE_DAYS,
    MAX_POST_READS,
    MAX_WORKERS,
    RefreshPolicy,
)
from ..ingest.source import SourceConfigError, load_source
from ..warehouse.tables import BUILTIN_COLUMNS
from .names import SourceNameError, SourceNames, check_source_name
from .partitions import SourceDays, first_day, snapshots_from
from .resources import Destination, Warehouse, XResource, destination_from_env
from .source_defs import source_definitions

SOURCE_FILE_NAME = "source.yaml"
DAY_PATTERN = r"^\d{4}-\d{2}-\d{2}$"  # a day, YYYY-MM-DD (quoted in YAML); checked further at load

# The sources each project load has built, by name: two defs.yaml files claiming one name would
# share a schema and asset keys. Kept per load (its component tree), so separate loads (a reload,
# another project in a test) never see each other's names; only the latest few loads are kept.
_NAMES_BY_LOAD: OrderedDict[int, tuple[object, dict[str, Path]]] = OrderedDict()
_LOADS_KEPT = 8


def _claim(tree: object, name: str, where: Path) -> Path:
    """The defs.yaml that first claimed this name in this load."""
    held = _NAMES_BY_LOAD.get(id(tree))
    if held is None or held[0] is not tree:
        held = _NAMES_BY_LOAD[id(tree)] = (tree, {})
        while len(_NAMES_BY_LOAD) > _LOADS_KEPT:
            _NAMES_BY_LOAD.popitem(last=False)
    return held[1].setdefault(name, where)


STARTER_SOURCE = """\
# An X source: the accounts to read, the tables to write, constant columns for every row.
# Check it without calling X: x-assets validate {path}
#
# Credentials: without a `credentials:` block the source uses X_BEARER_TOKEN, or all four of
# X_CONSUMER_KEY, X_CONSUMER_SECRET, X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET. To give this source its
# own X app (its own rate limits and bill), name the environment variables holding its values:
# credentials:
#   bearer_token: X_{upper}_BEARER_TOKEN
accounts:
  - username: XDevelopers        # a handle (1 to 15 letters, digits, underscores), or
  # - id: "2244994945"           # a numeric id, quoted: it survives renames
  #   name: X Developers         # how the account is named in the tables
  #   credentials:               # this account's own credentials (e.g. your own account's app)
  #     bearer_token: X_OWN_BEARER_TOKEN
# endpoints: [account_insights, tweet_insights, tweet_metrics_history]  # the default; also
#   mentions_insights (posts that @mention the accounts) and search_insights (the queries below)
# queries:                       # for search_insights: X search queries, checked before any request
#   - name: launches
#     query: "#launch -is:retweet lang:en"
# default_schema:                # constant columns added to every row of every table
#   client: {name}
"""


class XSourceError(ValueError):
    """A source's defs.yaml cannot be loaded; the message names the file and the attribute."""


class XSourceScaffolder(dg.Scaffolder):
    """`dg scaffold defs x_assets.XSourceComponent <name>`: a defs.yaml and a starter source file."""

    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        from dagster.components.component_scaffolding import scaffold_component

        folder = request.target_path
        name = folder.name
        # Snapshots are taken from today on: older days could never be filled, so none is offered.
        today = dt.datetime.now(dt.UTC).date().isoformat()
        scaffold_component(request, {"source_file": SOURCE_FILE_NAME, "snapshots_from": today})
        starter = folder / SOURCE_FILE_NAME
        if not starter.exists():  # never overwrite a source file someone already wrote
            starter.write_text(STARTER_SOURCE.format(path=starter, name=name, upper=name.upper()), encoding="utf-8")


@dg.scaffold_with(XSourceScaffolder)
class XSourceComponent(dg.Component, dg.Model, dg.Resolvable):
    """An X source: its accounts' daily insights as DuckDB tables, with checks, jobs, schedules and a sensor.

    Each source is isolated: asset keys prefixed with its name, its own DuckDB schema, jobs named
    after it, its own credentials, read budget and cost; a 402, 401 or bad source file fails only
    its own runs.
    """

    # Each attribute's description goes through dg.Resolver.default, which is what the defs.yaml JSON
    # schema (dg utils inspect-component, editors, the UI's component docs) shows; pydantic's Field
    # keeps the bounds, checked when the component loads.
    source_file: Annotated[
        str,
        dg.Resolver.default(
            description="The source file (accounts, endpoints, default_schema, credentials) in x_assets' YAML "
            "format: a path relative to this defs.yaml's folder, or absolute. Default: source.yaml."
        ),
    ] = SOURCE_FILE_NAME
    name: Annotated[
        str | None,
        Field(pattern=IDENTIFIER_PATTERN),
        dg.Resolver.default(
            description="The source's technical name: its DuckDB schema, asset-key prefix and job-name stem "
            "(lower-case letters, digits, underscores; at most 40). Default: the folder's name. Never change "
            "it once data is loaded: the tables and run history are keyed by it."
        ),
    ] = None
    database: Annotated[
        str | None,
        dg.Resolver.default(
            description="The DuckDB file, shared by every source (one schema each); relative to the project "
            "root. Default: X_DUCKDB_PATH, else data/warehouse.duckdb."
        ),
    ] = None
    destination: Annotated[
        Destination | None,
        dg.Resolver.default(
            description="duckdb (the DuckDB file) or iceberg (the Iceberg catalog of X_ICEBERG_CATALOG_URI and "
            "X_ICEBERG_WAREHOUSE, this source's tables in a namespace named as the source). Default: "
            "X_DESTINATION, else duckdb."
        ),
    ] = None
    iceberg_catalog_uri_env: Annotated[
        str | None,
        Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"),
        dg.Resolver.default(
            description="With destination iceberg: the environment variable holding this source's catalog URI "
            "(a SQLAlchemy URI; named, not given, since it may hold a password). Default: X_ICEBERG_CATALOG_URI, "
            "else a SQLite catalog beside the DuckDB path."
        ),
    ] = None
    iceberg_warehouse: Annotated[
        str | None,
        dg.Resolver.default(
            description="With destination iceberg: where this source's table files go (file:// or s3://). "
            "Default: X_ICEBERG_WAREHOUSE, else a folder beside the DuckDB path."
        ),
    ] = None
    api_base_url: Annotated[
        str | None,
        dg.Resolver.default(description="Where X API requests go. Default: X_API_BASE_URL, else https://api.x.com."),
    ] = None
    refresh_policy: Annotated[
        RefreshPolicy,
        dg.Resolver.default(
            description="'window' (every run re-reads its whole window), 'ages' (new posts by since_id; stored "
            "posts re-read by id only at the ages in refresh_ages) or 'adaptive' (as 'ages', but only a post "
            "whose engagement is predicted to move). Default: window."
        ),
    ] = "window"
    refresh_ages: Annotated[
        list[Annotated[int, Field(ge=1, le=MAX_AGE_DAYS)]] | None,
        Field(min_length=1),
        dg.Resolver.default(
            description="Ages in days (1 to 365) at which 'ages' re-reads a post, and 'adaptive' may. "
            "Default: [1, 3, 7] for 'ages', [4, 7] for 'adaptive'."
        ),
    ] = None
    refresh_tolerance: Annotated[
        float,
        Field(gt=0, lt=1),
        dg.Resolver.default(
            description="'adaptive' re-reads a post only when its engagement is predicted to have moved by more "
            f"than this share since its last read. Default: {DEFAULT_TOLERANCE}."
        ),
    ] = DEFAULT_TOLERANCE
    max_post_reads: Annotated[
        int | None,
        Field(ge=1, le=MAX_POST_READS),
        dg.Resolver.default(
            description="This source's per-run cap on billable post reads; a run stops before it and flags "
            "the days it left. Default: none."
        ),
    ] = None
    max_workers: Annotated[
        int,
        Field(ge=1, le=MAX_WORKERS),
        dg.Resolver.default(
            description=f"Accounts read in parallel, 1 to {MAX_WORKERS}, paced by X's rate-limit headers. "
            f"Default: {DEFAULT_WORKERS}."
        ),
    ] = DEFAULT_WORKERS
    archive_days: Annotated[
        int,
        Field(ge=0, le=MAX_ARCHIVE_DAYS),
        dg.Resolver.default(
            description="Days each raw answer of X is kept (zstd) under archive/<name>/ beside the warehouse, for "
            "x-assets rebuild; 0 keeps none. Default: 90."
        ),
    ] = DEFAULT_ARCHIVE_DAYS
    follower_drop_warn: Annotated[
        float,
        Field(gt=0, lt=1),
        dg.Resolver.default(
            description="Share of followers lost in a day (0 to 1) above which the follower_drop check warns. "
            "Default: 0.05."
        ),
    ] = 0.05
    first_day: Annotated[
        str | None,
        Field(pattern=DAY_PATTERN),
        dg.Resolver.default(
            description="The first daily partition of the post tables (YYYY-MM-DD), and where the new-account "
            "sensor's history load starts. Default: X_FIRST_DAY, else 2024-01-01."
        ),
    ] = None
    snapshots_from: Annotated[
        str | None,
        Field(pattern=DAY_PATTERN),
        dg.Resolver.default(
            description="The first daily partition of the account snapshots (YYYY-MM-DD): the day this source "
            "began, since X keeps no history of followers and older days could never be filled. "
            "`dg scaffold defs` writes the day it ran. Default: X_SNAPSHOTS_FROM, else yesterday."
        ),
    ] = None

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        where = context.path / "defs.yaml"
        try:
            names = SourceNames(check_source_name(self.name or context.path.name, str(where)))
        except SourceNameError as exc:
            hint = "" if self.name else " (the folder's name; set `name:` in its attributes to choose another)"
            raise XSourceError(f"{exc}{hint}") from None
        other = _claim(context.component_tree, names.name, where)
        if other != where:
            raise XSourceError(
                f"two sources are named {names.name!r}: {other} and {where}. A source's name is its DuckDB schema, "
                "asset-key prefix and job names, so each needs its own: set `name:` in one of them"
            )
        source_file = Path(self.source_file)
        if not source_file.is_absolute():
            source_file = context.path / source_file
        check_source_file(source_file, where)
        database = self.database or os.environ.get(ENV_DUCKDB_PATH) or DEFAULT_DUCKDB_PATH
        if self.database and not Path(database).is_absolute():
            database = str(context.project_root / database)
        x = XResource(
            source_file=str(source_file),
            base_url=self.api_base_url or os.environ.get(ENV_API_BASE_URL) or DEFAULT_API_BASE_URL,
            refresh_policy=self.refresh_policy,
            refresh_ages=sorted(set(self.refresh_ages)) if self.refresh_ages else None,
            refresh_tolerance=self.refresh_tolerance,
            max_post_reads=self.max_post_reads,
            max_workers=self.max_workers,
            follower_drop_warn=self.follower_drop_warn,
            archive_days=self.archive_days,
        )
        try:
            days = SourceDays(
                first_day(self.first_day, f"{where}: first_day"),
                snapshots_from(self.snapshots_from, f"{where}: snapshots_from"),
            )
        except ValueError as exc:
            raise XSourceError(str(exc)) from None
        try:
            where_to = {**destination_from_env(), **({"destination": self.destination} if self.destination else {})}
            if self.iceberg_catalog_uri_env:
                where_to["iceberg_catalog_uri"] = dg.EnvVar(self.iceberg_catalog_uri_env)
            if self.iceberg_warehouse:
                where_to["iceberg_warehouse"] = self.iceberg_warehouse
        except ValueError as exc:
            raise XSourceError(f"{where}: {exc}") from None
        warehouse = Warehouse(database=database, schema_name=names.schema, **where_to)
        return source_definitions(names, x, warehouse, days)


def check_source_file(path: Path, where: Path) -> None:
    """At load, so `dg check defs` reports it: the file exists, and the credential variables its
    `credentials:` blocks name are set. Other problems of the file fail only this source's runs
    (with every problem listed), so a typo in one source never stops the others from loading."""
    if not path.is_file():
        raise XSourceError(f"{where}: source_file {path} not found (a path relative to the defs.yaml's folder)")
    try:
        load_source(path, reserved_columns=BUILTIN_COLUMNS, check_env=False)
    except SourceConfigError:
        return  # the runs (and x-assets validate) say what is wrong
    try:
        load_source(path, reserved_columns=BUILTIN_COLUMNS)
    except SourceConfigError as exc:
        raise XSourceError(f"{where}: {exc}") from None
