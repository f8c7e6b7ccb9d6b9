"""`x-assets`: what users do outside the Dagster UI (validate, demo, summary)."""

from __future__ import annotations

import argparse
import os
import sys

from .constants import DEFAULT_DUCKDB_PATH, DEFAULT_SOURCE_FILE, ENV_DUCKDB_PATH, ENV_SOURCE_FILE
from .source import SourceConfigError, load_source
from .tables import BUILTIN_COLUMNS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="x-assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run both assets against the bundled emulator into DuckDB")
    demo.add_argument("--days", type=int, default=7, help="days of posts to load, today included")
    validate = sub.add_parser("validate", help="check the source file without calling X")
    validate.add_argument("path", nargs="?", default=os.environ.get(ENV_SOURCE_FILE, DEFAULT_SOURCE_FILE))
    summary = sub.add_parser("summary", help="print what the tables hold")
    summary.add_argument("--database", default=os.environ.get(ENV_DUCKDB_PATH, DEFAULT_DUCKDB_PATH))
    args = parser.parse_args(argv)

    if args.command == "validate":
        try:
            source = load_source(args.path, reserved_columns=BUILTIN_COLUMNS)
        except SourceConfigError as exc:
            print(f"x-assets: {exc}", file=sys.stderr)
            return 2
        print(f"{args.path}: {len(source.accounts)} account(s), endpoints {', '.join(source.endpoints)}")
        for account in source.accounts:
            own = " (own credentials)" if account.credentials else ""
            print(f"  {account.label}{own}")
        return 0
    if args.command == "summary":
        from .demo import print_summary

        print_summary(args.database)
        return 0
    from .demo import run_demo

    return run_demo(days=args.days)


if __name__ == "__main__":
    raise SystemExit(main())
