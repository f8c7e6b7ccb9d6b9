"""What one source's definitions are built from, fixed when the definitions load: its names, the
days its assets offer, and the constant columns its source file adds to every table."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..constants import DEFAULT_SOURCE_FILE, ENV_SOURCE_FILE
from ..ingest.source import SourceConfigError, load_source
from ..warehouse.tables import BUILTIN_COLUMNS, sql_type_for
from .names import DEFAULT_SOURCE, SourceNames
from .partitions import SourceDays


@dataclass(frozen=True)  # hashable: the asset builders are cached per shape
class SourceShape:
    names: SourceNames
    days: SourceDays
    default_columns: tuple[tuple[str, str], ...] = ()  # (name, SQL type) of the default_schema columns


def default_columns(source_file: str | Path) -> tuple[tuple[str, str], ...]:
    """The source file's default_schema columns, for the UI's column schema. A file that cannot be
    read yet adds none: its runs say what is wrong, and the definitions still load."""
    try:
        source = load_source(source_file, reserved_columns=BUILTIN_COLUMNS, check_env=False)
    except (SourceConfigError, OSError):
        return ()
    return tuple((name, sql_type_for(value)) for name, value in source.default_schema.items())


def shape_of(names: SourceNames, source_file: str | Path, days: SourceDays | None = None) -> SourceShape:
    return SourceShape(names, days or SourceDays.from_env(), default_columns(source_file))


# The project's default source as the environment configures it when x_assets is imported: the
# same shape build_defs derives from the default resources, so both get the same (cached) assets.
DEFAULT_SHAPE = shape_of(DEFAULT_SOURCE, os.environ.get(ENV_SOURCE_FILE) or DEFAULT_SOURCE_FILE)
