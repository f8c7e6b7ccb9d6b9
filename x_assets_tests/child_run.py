"""A materialization in its own process, for tests that kill it or run two at once.

    python -m x_assets_tests.child_run ASSET FIRST LAST [--pause-in-write SECONDS --signal-file PATH
                                                         --release-file PATH]

The environment (X_API_BASE_URL, X_DUCKDB_PATH, ...) comes from the parent. With --pause-in-write,
the run stops inside its write transaction (after the slice was deleted and re-inserted, before
the commit), touches the signal file, and sleeps (until the release file exists, if given): the
moment a parent kills it or starts a rival.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import dagster as dg

from x_assets.definitions import build_resources
from x_assets.ingest import loads
from x_assets.orchestration import assets


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("asset")
    parser.add_argument("first")
    parser.add_argument("last")
    parser.add_argument("--pause-in-write", type=float, default=0.0)
    parser.add_argument("--signal-file")
    parser.add_argument("--release-file", help="end the pause as soon as this file exists")
    args = parser.parse_args()

    if args.pause_in_write:
        real = loads.write_rows

        def paused(*a: Any, **kw: Any) -> int:
            written = real(*a, **kw)
            if args.signal_file:
                Path(args.signal_file).write_text("in transaction")
            deadline = time.monotonic() + args.pause_in_write
            while time.monotonic() < deadline and not (args.release_file and Path(args.release_file).exists()):
                time.sleep(0.05)
            return written

        loads.write_rows = paused  # type: ignore[assignment]

    result = dg.materialize(
        [getattr(assets, args.asset)],
        resources=build_resources(backoff_seconds=0.01, max_attempts=3),
        tags={"dagster/asset_partition_range_start": args.first, "dagster/asset_partition_range_end": args.last},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    print("RUN_SUCCESS" if result.success else "RUN_FAILURE", flush=True)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
