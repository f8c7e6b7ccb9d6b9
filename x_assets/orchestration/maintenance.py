"""Iceberg upkeep for a source written to Iceberg: old snapshots expired, small files compacted,
weekly. (A DuckDB warehouse needs neither.)

No `from __future__ import annotations` here: Dagster reads the op's config class from its annotation.
"""

import datetime as dt
import functools

import dagster as dg
from pydantic import Field

from ..clock import utc_now
from ..warehouse.iceberg import IcebergStore, compact, expire_snapshots
from .names import SourceNames
from .resources import Warehouse


class MaintenanceConfig(dg.Config):
    keep_days: int = Field(default=7, ge=1, le=3650, description="Snapshots younger than this stay (time travel).")
    min_files: int = Field(default=4, ge=2, le=10_000, description="A day with this many data files is rewritten.")


@functools.cache  # one set of objects per source, however often the definitions are assembled
def build_maintenance(names: SourceNames) -> tuple[dg.JobDefinition, dg.ScheduleDefinition]:
    """The source's iceberg_maintenance_job and its weekly schedule (Sundays, 03:00 UTC)."""

    @dg.op(name=names.named("iceberg_maintenance"), required_resource_keys={names.warehouse_resource})
    def maintain(context: dg.OpExecutionContext, config: MaintenanceConfig) -> dg.Output[None]:
        """Expire snapshots older than keep_days, then rewrite the days split in min_files files or more."""
        warehouse: Warehouse = getattr(context.resources, names.warehouse_resource)
        store = warehouse.store()
        if not isinstance(store, IcebergStore):
            raise dg.Failure(f"source {names.name} writes DuckDB, which needs no Iceberg maintenance")
        expired = expire_snapshots(store, utc_now() - dt.timedelta(days=config.keep_days), context.log)
        rewritten = compact(store, context.log, config.min_files)
        return dg.Output(
            None,
            metadata={
                "snapshots_expired": sum(expired.values()),
                "days_compacted": sum(rewritten.values()),
                "tables": ", ".join(sorted(expired)),
            },
        )

    @dg.job(
        name=names.named("iceberg_maintenance_job"),
        description="Expire old Iceberg snapshots and compact small files of this source's tables.",
    )
    def job() -> None:
        maintain()

    schedule = dg.ScheduleDefinition(
        name=names.named("x_iceberg_maintenance_schedule"),
        job=job,
        cron_schedule="0 3 * * 0",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Sundays at 03:00 UTC: expire snapshots older than 7 days, compact days of 4 files or more.",
    )
    return job, schedule
