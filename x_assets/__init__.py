"""x_assets: X (Twitter) account and post insights as Dagster assets in DuckDB."""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Imported on first use, so `x-assets-emulator` and `x_assets.emulator` do not load Dagster.
# dg lists XSourceComponent through dir() and getattr(), which both see these.
_LAZY = {
    "XSourceComponent": ".orchestration.component",
    "XSourceScaffolder": ".orchestration.component",
    "open_source": ".warehouse.read",
    "SourceTables": ".warehouse.read",
    "SourceReadError": ".warehouse.read",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
