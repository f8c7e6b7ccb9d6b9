"""What a source is called in Dagster and DuckDB: asset keys, schema, jobs, schedules, resources."""

from __future__ import annotations

import re
from dataclasses import dataclass

import dagster as dg

from ..constants import GROUP, IDENTIFIER_PATTERN, POOL, SCHEMA

# Names a source may not take: the project's default source is "x", and "main" is DuckDB's own schema.
RESERVED_NAMES = frozenset({SCHEMA, "main", "information_schema", "pg_catalog", "temp"})


class SourceNameError(ValueError):
    """A source's technical name cannot be a schema, an asset-key part and a job-name stem."""


def check_source_name(name: str, where: str) -> str:
    if not re.fullmatch(IDENTIFIER_PATTERN, name):
        raise SourceNameError(
            f"{where}: source name {name[:60]!r} must start with a lower-case letter and hold only lower-case "
            "letters, digits and underscores (at most 40): it names the source's DuckDB schema, its asset keys "
            "and its jobs, and cannot change once created"
        )
    if name in RESERVED_NAMES:
        raise SourceNameError(f"{where}: source name {name!r} is reserved ({', '.join(sorted(RESERVED_NAMES))})")
    return name


@dataclass(frozen=True)
class SourceNames:
    """Every name one source's definitions use.

    The project's default source keeps the names it has always had (unprefixed asset keys, schema x,
    x_daily_schedule, ...), so an existing user's run history, partitions and commands stay valid; a named
    source prefixes each with its name.
    """

    name: str
    default: bool = False

    @property
    def schema(self) -> str:
        return SCHEMA if self.default else self.name

    @property
    def group(self) -> str:
        return GROUP if self.default else self.name

    def key(self, asset: str) -> dg.AssetKey:
        return dg.AssetKey([asset]) if self.default else dg.AssetKey([self.name, asset])

    def named(self, base: str) -> str:
        """A job, schedule or sensor name: x_daily_schedule for the default source, <name>_daily_schedule else."""
        if self.default:
            return base
        return f"{self.name}_{base.removeprefix('x_')}"

    @property
    def pool(self) -> str:
        """One step at a time per source calls X and writes; sources (own apps, own limits) run side by side."""
        return POOL if self.default else f"{POOL}_{self.name}"

    @property
    def x_resource(self) -> str:
        return "x" if self.default else f"x_{self.name}"

    @property
    def warehouse_resource(self) -> str:
        return "warehouse" if self.default else f"warehouse_{self.name}"


DEFAULT_SOURCE = SourceNames(name=SCHEMA, default=True)
