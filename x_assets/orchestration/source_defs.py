"""One source's complete Definitions: its assets, checks, jobs, schedules, sensor and resources."""

from __future__ import annotations

import dagster as dg

from .assets import build_table_assets
from .catalog import build_catalog_specs
from .derived_assets import build_derived_assets
from .jobs import build_jobs
from .maintenance import build_maintenance
from .names import SourceNames
from .partitions import SourceDays
from .resources import Warehouse, XResource
from .schedules import build_schedules
from .sensors import build_new_accounts_sensor
from .shape import shape_of


def source_definitions(
    names: SourceNames, x: XResource, warehouse: Warehouse, days: SourceDays | None = None
) -> dg.Definitions:
    """Everything one source needs, under its own names: two sources never share a key, a schema,
    a job or a resource, so one source's bad file, 402 or 401 fails only its own runs.

    days: the source's first days (default: X_FIRST_DAY and X_SNAPSHOTS_FROM)."""
    if warehouse.schema_name != names.schema:
        raise ValueError(f"source {names.name}: its warehouse schema must be {names.schema}")
    shape = shape_of(names, x.source_file, days)
    jobs = build_jobs(names)
    upkeep = build_maintenance(names) if warehouse.destination == "iceberg" else None
    return dg.Definitions(
        assets=[*build_table_assets(shape), *build_derived_assets(shape), *build_catalog_specs(shape)],
        jobs=[jobs.account_insights, jobs.tweet_insights, *([upkeep[0]] if upkeep else [])],
        schedules=[*build_schedules(names), *([upkeep[1]] if upkeep else [])],
        sensors=[build_new_accounts_sensor(shape)],
        resources={names.x_resource: x, names.warehouse_resource: warehouse},
    )
