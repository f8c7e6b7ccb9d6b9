"""The Dagster resources: XResource (X access for one source) and Warehouse (its DuckDB tables).

Both only configure and hand plain objects to the ingest and warehouse code: an XSession with
RunSettings, and a Store.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import Field, PrivateAttr

from ..constants import (
    DEFAULT_API_BASE_URL,
    DEFAULT_FOLLOWER_DROP_WARN,
    DEFAULT_SOURCE_FILE,
    ENV_ACCESS_TOKEN,
    ENV_ACCESS_TOKEN_SECRET,
    ENV_BEARER_TOKEN,
    ENV_CONSUMER_KEY,
    ENV_CONSUMER_SECRET,
    ENV_DESTINATION,
    ENV_ICEBERG_CATALOG_URI,
    ENV_ICEBERG_WAREHOUSE,
    IDENTIFIER_PATTERN,
    SCHEMA,
)
from ..ingest.session import XSession, open_session
from ..ingest.settings import (
    DEFAULT_ARCHIVE_DAYS,
    DEFAULT_TOLERANCE,
    DEFAULT_WORKERS,
    MAX_AGE_DAYS,
    MAX_ARCHIVE_DAYS,
    MAX_POST_READS,
    MAX_WORKERS,
    RefreshPolicy,
    RunSettings,
    default_ages,
)
from ..ingest.source import SourceConfigError
from ..warehouse.store import Store
from ..x_api.calls import CallPolicy
from .dead_runs import on_run_start


class XResource(dg.ConfigurableResource):
    """X API v2 access: default credentials, per-account overrides from the source file, retries."""

    bearer_token: str | None = Field(default=None, description="App-only bearer token (X_BEARER_TOKEN).")
    consumer_key: str | None = Field(default=None, description="OAuth 1.0a consumer key (X_CONSUMER_KEY).")
    consumer_secret: str | None = Field(default=None, description="OAuth 1.0a consumer secret.")
    access_token: str | None = Field(default=None, description="OAuth 1.0a access token.")
    access_token_secret: str | None = Field(default=None, description="OAuth 1.0a access token secret.")
    base_url: str = Field(default=DEFAULT_API_BASE_URL, description="Where X API requests go (X_API_BASE_URL).")
    source_file: str = Field(default=DEFAULT_SOURCE_FILE, description="The source file (X_SOURCE_FILE).")
    timeout_seconds: float = Field(default=30.0, description="Per-request timeout.")
    max_attempts: int = Field(default=5, description="Attempts per request on transient faults (5xx, timeouts).")
    backoff_seconds: float = Field(default=1.0, description="First retry delay; doubles per attempt, jittered.")
    max_rate_limit_wait_seconds: float = Field(default=900.0, description="Longest wait for a rate-limit reset.")
    max_workers: int = Field(
        default=DEFAULT_WORKERS,
        ge=1,
        le=MAX_WORKERS,
        description=f"Accounts read in parallel (paced by the rate-limit headers), 1 to {MAX_WORKERS} (X_MAX_WORKERS).",
    )
    max_post_reads: int | None = Field(
        default=None,
        ge=1,
        le=MAX_POST_READS,
        description="Per-run cap on billable post reads; the run stops before it (X_MAX_POST_READS).",
    )
    post_read_usd: float = Field(default=0.005, description="Price of one post read, for the cost estimate.")
    user_read_usd: float = Field(default=0.010, description="Price of one user read, for the cost estimate.")
    owned_read_usd: float = Field(
        default=0.001,
        description="Price of one owned read (a post of an account's own timeline, read with its own "
        "credentials), for the cost estimate.",
    )
    refresh_policy: RefreshPolicy = Field(
        default="window",
        description="'window': every run re-reads its whole window; 'ages': new posts by since_id, and "
        "stored posts re-read by id only when they are refresh_ages days old; 'adaptive': as 'ages', but a "
        "post is re-read only while its engagement is predicted to move (X_REFRESH_POLICY).",
    )
    refresh_ages: list[Annotated[int, Field(ge=1, le=MAX_AGE_DAYS)]] | None = Field(
        default=None,
        min_length=1,
        description="Ages in days (1 to 365) at which 'ages' re-reads a post, and 'adaptive' may. "
        "Default: [1, 3, 7] for 'ages', [4, 7] for 'adaptive'.",
    )
    refresh_tolerance: float = Field(
        default=DEFAULT_TOLERANCE,
        gt=0,
        lt=1,
        description="'adaptive' re-reads a post only when its engagement is predicted to have moved by more "
        "than this share since its last read (X_REFRESH_TOLERANCE).",
    )
    archive_days: int = Field(
        default=DEFAULT_ARCHIVE_DAYS,
        ge=0,
        le=MAX_ARCHIVE_DAYS,
        description="Days each raw X answer is kept (zstd) under archive/ beside the warehouse, so x-assets "
        "rebuild can rebuild tables without paying again; 0 keeps none (X_ARCHIVE_DAYS).",
    )
    follower_drop_warn: float = Field(
        default=DEFAULT_FOLLOWER_DROP_WARN,
        gt=0,
        lt=1,
        description="Share of followers lost in a day that makes follower_drop warn (X_FOLLOWER_DROP_WARN).",
    )

    _session: XSession | None = PrivateAttr(default=None)
    _error: SourceConfigError | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Configuration problems surface from open() as a clear step failure, not a resource traceback.
        try:
            self._session = self._build()
        except SourceConfigError as exc:
            self._error = exc

    def open(self) -> XSession:
        """The validated source and clients; raises SourceConfigError naming every problem."""
        if self._session is None and self._error is None:
            try:
                self._session = self._build()
            except SourceConfigError as exc:
                self._error = exc
        if self._error is not None:
            raise self._error
        assert self._session is not None
        return self._session

    def call_policy(self) -> CallPolicy:
        return CallPolicy(
            max_attempts=self.max_attempts,
            backoff_seconds=self.backoff_seconds,
            max_rate_limit_wait_seconds=self.max_rate_limit_wait_seconds,
        )

    def _build(self) -> XSession:
        given = {
            ENV_BEARER_TOKEN: self.bearer_token,
            ENV_CONSUMER_KEY: self.consumer_key,
            ENV_CONSUMER_SECRET: self.consumer_secret,
            ENV_ACCESS_TOKEN: self.access_token,
            ENV_ACCESS_TOKEN_SECRET: self.access_token_secret,
        }
        return open_session(self.source_file, self.base_url, self.timeout_seconds, given)

    def settings(self) -> RunSettings:
        """The plain settings a run takes (the ingest code imports no Dagster)."""
        return RunSettings(
            call_policy=self.call_policy(),
            max_workers=self.max_workers,
            max_post_reads=self.max_post_reads,
            refresh_policy=self.refresh_policy,
            refresh_ages=list(self.refresh_ages or default_ages(self.refresh_policy)),
            refresh_tolerance=self.refresh_tolerance,
            post_read_usd=self.post_read_usd,
            user_read_usd=self.user_read_usd,
            owned_read_usd=self.owned_read_usd,
            archive_days=self.archive_days,
        )


Destination = Literal["duckdb", "iceberg"]


class Warehouse(DuckDBResource):
    """Where a source's tables live: a DuckDB file (its own schema), or an Iceberg catalog (its own namespace)."""

    lock_timeout_seconds: float = Field(default=600.0, description="How long to wait for another process's lock.")
    schema_name: str = Field(
        default=SCHEMA,
        pattern=IDENTIFIER_PATTERN,
        description="The source's DuckDB schema, which holds its tables (x for the project's default source).",
    )

    destination: Destination = Field(
        default="duckdb",
        description="duckdb (the DuckDB file, the default) or iceberg (the Iceberg catalog below; no DuckDB "
        "file is written, the file's folder only holds staged pages and charts). X_DESTINATION.",
    )
    iceberg_catalog_uri: str | None = Field(
        default=None,
        description="SQLAlchemy URI of pyiceberg's SQL catalog: sqlite:///… for one machine, "
        "postgresql+psycopg2://… for several. Default: a SQLite file beside the DuckDB path. "
        "X_ICEBERG_CATALOG_URI (kept as an environment variable: it may hold a password).",
    )
    iceberg_warehouse: str | None = Field(
        default=None,
        description="Where the Iceberg tables' files go: a file:// folder or an s3:// location (endpoint and keys "
        "from the AWS_* variables). Default: a folder beside the DuckDB path. X_ICEBERG_WAREHOUSE.",
    )
    _run_id: str = PrivateAttr(default="")

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Every asset of the project uses the warehouse, and resources start before steps claim slots.
        on_run_start(context)
        self._run_id = context.run_id or ""

    def store(self) -> Store:
        if self.destination == "iceberg":
            from ..warehouse.iceberg import iceberg_store  # pyiceberg is imported only by who uses it

            return iceberg_store(
                self.database, self.schema_name, self.iceberg_catalog_uri, self.iceberg_warehouse, self._run_id
            )
        return Store(
            database=self.database,
            schema_name=self.schema_name,
            lock_timeout_seconds=self.lock_timeout_seconds,
            connection_config=dict(self.connection_config),
        )


def destination_from_env() -> dict[str, Any]:
    """The Warehouse's destination settings from X_DESTINATION and the X_ICEBERG_* variables; the
    catalog URI stays an EnvVar, so the UI never shows a password in it."""
    destination = os.environ.get(ENV_DESTINATION, "").strip() or "duckdb"
    if destination not in ("duckdb", "iceberg"):
        raise ValueError(f"{ENV_DESTINATION} must be duckdb or iceberg, got {destination[:40]!r}")
    return {
        "destination": destination,
        "iceberg_catalog_uri": env_or_none(ENV_ICEBERG_CATALOG_URI),
        "iceberg_warehouse": os.environ.get(ENV_ICEBERG_WAREHOUSE) or None,
    }


def env_or_none(name: str) -> dg.EnvVar | None:
    """An EnvVar only when set, so an unused credential does not fail config resolution."""
    return dg.EnvVar(name) if os.environ.get(name) else None
