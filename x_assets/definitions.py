"""The Definitions: assets, jobs, schedules, sensors and resources, configured from the environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg

from .constants import (
    DEFAULT_API_BASE_URL,
    DEFAULT_DUCKDB_PATH,
    DEFAULT_SOURCE_FILE,
    ENV_ACCESS_TOKEN,
    ENV_ACCESS_TOKEN_SECRET,
    ENV_API_BASE_URL,
    ENV_ARCHIVE_DAYS,
    ENV_BEARER_TOKEN,
    ENV_CELERY_BACKEND,
    ENV_CELERY_BROKER,
    ENV_CONSUMER_KEY,
    ENV_CONSUMER_SECRET,
    ENV_DUCKDB_PATH,
    ENV_EXECUTOR,
    ENV_FOLLOWER_DROP_WARN,
    ENV_LOOKBACK_DAYS,
    ENV_MAX_POST_READS,
    ENV_MAX_WORKERS,
    ENV_REFRESH_POLICY,
    ENV_REFRESH_TOLERANCE,
    ENV_SOURCE_FILE,
)
from .ingest.settings import INCREMENTAL_POLICIES, default_ages
from .orchestration.names import DEFAULT_SOURCE
from .orchestration.resources import (
    MAX_AGE_DAYS,
    MAX_ARCHIVE_DAYS,
    MAX_POST_READS,
    MAX_WORKERS,
    Warehouse,
    XResource,
    destination_from_env,
    env_or_none,
)
from .orchestration.schedules import lookback_days
from .orchestration.sensors import x_dead_runs_sensor
from .orchestration.source_defs import source_definitions

# Sources added with `dg scaffold defs x_assets.XSourceComponent <name>` land here.
DEFS_FOLDER = Path(__file__).parent / "defs"


class SettingsError(ValueError):
    """An environment setting is unusable; the message names the variable and what it accepts."""


def _whole(env: str, raw: str, low: int, high: int, what: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw[:12]) <= high:
        raise SettingsError(f"{env} must be {what} from {low:,} to {high:,}, got {raw[:40]!r}")
    return int(raw)


def _share(env: str, raw: str) -> float:
    try:
        share = float(raw)
    except ValueError:
        share = -1.0
    if not 0 < share < 1:
        raise SettingsError(f"{env} must be a share between 0 and 1 (0.05 = 5%), got {raw[:40]!r}")
    return share


def settings_from_env() -> dict[str, Any]:
    """Optional tuning from the environment, checked when the definitions load; a bad value is
    refused with a sentence naming the variable (dagster definitions validate reports it)."""
    settings: dict[str, Any] = {}
    policy = os.environ.get(ENV_REFRESH_POLICY, "").strip()
    if policy:
        name, _, ages = policy.partition(":")
        if name not in ("window", "ages", "adaptive") or (ages and name == "window"):
            raise SettingsError(
                f"{ENV_REFRESH_POLICY} must be 'window', 'ages', 'ages:1,3,7', 'adaptive' or 'adaptive:2,7', "
                f"got {policy[:40]!r}"
            )
        settings["refresh_policy"] = name
        if ages:
            settings["refresh_ages"] = sorted(
                {
                    _whole(ENV_REFRESH_POLICY, a.strip(), 1, MAX_AGE_DAYS, "a list of ages in days")
                    for a in ages.split(",")
                }
            )
    for env, key in ((ENV_FOLLOWER_DROP_WARN, "follower_drop_warn"), (ENV_REFRESH_TOLERANCE, "refresh_tolerance")):
        raw = os.environ.get(env, "").strip()
        if raw:
            settings[key] = _share(env, raw)
    reads = os.environ.get(ENV_MAX_POST_READS, "").strip()
    if reads:
        settings["max_post_reads"] = _whole(ENV_MAX_POST_READS, reads, 1, MAX_POST_READS, "a whole number of reads")
    archive = os.environ.get(ENV_ARCHIVE_DAYS, "").strip()
    if archive:
        settings["archive_days"] = _whole(ENV_ARCHIVE_DAYS, archive, 0, MAX_ARCHIVE_DAYS, "a whole number of days")
    workers = os.environ.get(ENV_MAX_WORKERS, "").strip()
    if workers:
        settings["max_workers"] = _whole(ENV_MAX_WORKERS, workers, 1, MAX_WORKERS, "a whole number of workers")
    lookback = lookback_days()  # read at each tick, checked now: a bad value fails the load, not the 01:00 tick
    oldest = max(settings.get("refresh_ages") or default_ages(settings.get("refresh_policy", "window")))
    if settings.get("refresh_policy") in INCREMENTAL_POLICIES and oldest > lookback:
        # a post is re-read by a run whose window holds its day: the lookback run's reaches `lookback` days
        raise SettingsError(
            f"{ENV_REFRESH_POLICY} re-reads posts when they are {oldest} days old, but the lookback run reads "
            f"only the last {lookback} days: set {ENV_LOOKBACK_DAYS} to {oldest} or more"
        )
    executor_from_env()
    return settings


DEFAULT_BROKER = "redis://127.0.0.1:6379/0"


def executor_from_env() -> dg.ExecutorDefinition:
    """X_EXECUTOR: in_process (the default: one process per run; the steps take turns in the x_api
    pool anyway, and a step subprocess only adds start-up time) or celery (each step goes to
    whichever dagster-celery worker is free, so several sources' steps run on several machines;
    broker X_CELERY_BROKER, results X_CELERY_BACKEND, by default the broker)."""
    name = os.environ.get(ENV_EXECUTOR, "").strip() or "in_process"
    if name == "in_process":
        return dg.in_process_executor
    if name != "celery":
        raise SettingsError(f"{ENV_EXECUTOR} must be in_process or celery, got {name[:40]!r}")
    try:
        from dagster_celery import celery_executor
    except ImportError:
        raise SettingsError(f"{ENV_EXECUTOR}=celery needs dagster-celery: pip install 'x_assets[celery]'") from None
    # as EnvVars when set: a broker URL may hold a password, and the UI shows config values
    broker: Any = {"env": ENV_CELERY_BROKER} if os.environ.get(ENV_CELERY_BROKER, "").strip() else DEFAULT_BROKER
    backend = {"env": ENV_CELERY_BACKEND} if os.environ.get(ENV_CELERY_BACKEND, "").strip() else broker
    return celery_executor.configured({"broker": broker, "backend": backend})


def build_resources(**x_settings: Any) -> dict[str, dg.ConfigurableResource]:
    """Secrets as EnvVars (the UI shows names, not values); plain settings as values.

    x_settings override XResource fields such as max_attempts or backoff_seconds.
    """
    return {
        "x": XResource(
            bearer_token=env_or_none(ENV_BEARER_TOKEN),
            consumer_key=env_or_none(ENV_CONSUMER_KEY),
            consumer_secret=env_or_none(ENV_CONSUMER_SECRET),
            access_token=env_or_none(ENV_ACCESS_TOKEN),
            access_token_secret=env_or_none(ENV_ACCESS_TOKEN_SECRET),
            base_url=os.environ.get(ENV_API_BASE_URL) or DEFAULT_API_BASE_URL,
            source_file=os.environ.get(ENV_SOURCE_FILE) or DEFAULT_SOURCE_FILE,
            **{**settings_from_env(), **x_settings},
        ),
        "warehouse": Warehouse(
            database=os.environ.get(ENV_DUCKDB_PATH) or DEFAULT_DUCKDB_PATH, **destination_from_env()
        ),
    }


def build_defs(
    resources: dict[str, dg.ConfigurableResource] | None = None, defs_folder: Path | None = DEFS_FOLDER
) -> dg.Definitions:
    """The project's Definitions: the default source (configured from the environment, under the
    names it has always had), every source added under defs/ (dg scaffold defs), and the
    instance-wide dead-run sensor."""
    resources = resources if resources is not None else build_resources()
    default = source_definitions(DEFAULT_SOURCE, resources["x"], resources["warehouse"])  # type: ignore[arg-type]
    extra = {k: v for k, v in resources.items() if k not in ("x", "warehouse")}
    parts = [
        default,
        dg.Definitions(
            sensors=[x_dead_runs_sensor],
            resources=extra,
            # One process per run by default: a run's process id then tells whether it lives.
            executor=executor_from_env(),
        ),
    ]
    if defs_folder is not None and any(defs_folder.glob("*/defs.yaml")):
        parts.append(dg.load_from_defs_folder(path_within_project=defs_folder))
    return dg.Definitions.merge(*parts)


defs = build_defs()
