"""What a history run spends writing Dagster events, beside what it spends reading X.

    .venv/bin/python benchmarks/history_events.py [days]      # default: from 2024-01-01 to today

The new-account sensor's history run covers every daily partition from X_FIRST_DAY (about 1,070
days by default) in one ranged run, and Dagster writes one materialization per day. This runs
one such history run of the demo world's accounts on a SQLite instance (as `dagster dev` keeps
one) and splits the step's time from the run's event log: reading and writing the tables (step
start to the load's summary line) and writing events (from there to the step's end). It prints
the events' total size too. Figures come with the machine's core count, versions and commit.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
import yaml

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from x_assets import emulator
    from x_assets.constants import ENV_API_BASE_URL, ENV_BEARER_TOKEN, ENV_DUCKDB_PATH, ENV_SOURCE_FILE

    days = int(sys.argv[1]) if len(sys.argv) > 1 else None
    today = dt.datetime.now(dt.UTC).date()
    first = today - dt.timedelta(days=days - 1) if days else dt.date(2024, 1, 1)
    with tempfile.TemporaryDirectory() as tmp, emulator.EmulatorServer(emulator.Emulator()) as server:
        home = Path(tmp) / "home"
        home.mkdir()
        source = Path(tmp) / "x_source.yaml"
        handles = ["AcmeNews", "GlobexDev", "InitechHQ", "UmbrellaLab", "HooliTech", "FirehoseNews"]
        source.write_text(yaml.safe_dump({"accounts": [{"username": h} for h in handles]}))
        os.environ.update(
            {
                ENV_API_BASE_URL: server.base_url,
                ENV_BEARER_TOKEN: emulator.DEMO_BEARER_TOKEN,
                ENV_SOURCE_FILE: str(source),
                ENV_DUCKDB_PATH: str(Path(tmp) / "warehouse.duckdb"),
                "X_FIRST_DAY": str(first),
            }
        )
        from x_assets.definitions import build_resources
        from x_assets.orchestration.assets import tweet_insights

        with dg.DagsterInstance.from_config(str(home)) as instance:  # SQLite storage, as dagster dev keeps
            started = time.monotonic()
            result = dg.materialize(
                [tweet_insights],
                resources=build_resources(),
                instance=instance,
                tags={
                    "dagster/asset_partition_range_start": str(first),
                    "dagster/asset_partition_range_end": str(today),
                },
            )
            wall = time.monotonic() - started
            logs = instance.all_logs(result.run_id)
            step_start = next(
                e.timestamp for e in logs if e.dagster_event and e.dagster_event.event_type_value == "STEP_START"
            )
            loaded = next(e.timestamp for e in logs if e.user_message.startswith(f"tweet_insights {first}.."))
            step_end = next(
                e.timestamp for e in logs if e.dagster_event and e.dagster_event.event_type_value == "STEP_SUCCESS"
            )
            materializations = instance.fetch_materializations(tweet_insights.key, limit=10_000).records
            size = sum(
                len(json.dumps({k: str(v.value) for k, v in r.asset_materialization.metadata.items()}))  # type: ignore[union-attr]
                for r in materializations
            )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    print(
        json.dumps(
            {
                "days": (today - first).days + 1,
                "accounts": len(handles),
                "wall_s": round(wall, 2),
                "read_and_write_tables_s": round(loaded - step_start, 2),
                "write_events_s": round(step_end - loaded, 2),
                "materializations": len(materializations),
                "materialization_metadata_kb": round(size / 1024, 1),
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "dagster": dg.__version__,
                "commit": commit,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
