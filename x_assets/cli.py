"""`x-assets`: what users do outside the Dagster UI (validate, accounts, demo, summary)."""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import io
import os
import sys
import warnings
from typing import Any

from .constants import DEFAULT_DUCKDB_PATH, DEFAULT_SOURCE_FILE, ENV_DUCKDB_PATH, ENV_SOURCE_FILE, SCHEMA
from .ingest.source import SourceConfigError, load_source, refuse_twins
from .warehouse.tables import BUILTIN_COLUMNS


def main(argv: list[str] | None = None) -> int:
    # A crash in native code (DuckDB, Arrow) would otherwise end the process with a bare signal;
    # this prints where every thread was, so the report can say what crashed.
    with contextlib.suppress(AttributeError, ValueError, io.UnsupportedOperation):  # stderr without a file
        faulthandler.enable()
    try:
        return _main(argv)
    except BrokenPipeError:
        # `x-assets validate | head`: the reader left; say nothing more (Python's documented recipe)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", message=".*is currently in beta")  # Dagster's notes are for the UI, not here
    parser = argparse.ArgumentParser(prog="x-assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="live a few simulated weeks on the bundled emulator, loaded into DuckDB")
    demo.add_argument(
        "--season-days", type=int, default=14, help="simulated days before today, snapshot daily (1 to 90)"
    )
    validate = sub.add_parser("validate", help="check the source file without calling X")
    validate.add_argument("path", nargs="?", default=os.environ.get(ENV_SOURCE_FILE, DEFAULT_SOURCE_FILE))
    sub.add_parser("accounts", help="look the configured accounts up on X: ids, current handles, states")
    release = sub.add_parser(
        "release-dead-runs",
        help="mark runs of this machine whose process is gone (killed) as failed and free their x_api pool slots",
    )
    release.add_argument(
        "--run-id", action="append", default=[], help="release this run whatever its host (its machine is gone)"
    )
    summary = sub.add_parser("summary", help="print what the tables hold")
    summary.add_argument("--database", default=os.environ.get(ENV_DUCKDB_PATH, DEFAULT_DUCKDB_PATH))
    summary.add_argument(
        "--source", action="append", default=[], help="a source's technical name (default: x, the default source)"
    )
    usage = sub.add_parser(
        "usage",
        help="X's count of billed post reads per UTC day (GET /2/usage/tweets, one request) against the read ledger",
    )
    usage.add_argument("--days", type=int, default=7, help="UTC days back from today, 1 to 90 (default 7)")
    usage.add_argument("--database", default=os.environ.get(ENV_DUCKDB_PATH, DEFAULT_DUCKDB_PATH))
    usage.add_argument(
        "--source",
        action="append",
        default=[],
        help="a source (schema) whose ledger counts; default: every source in the warehouse (X bills the project)",
    )
    rebuild = sub.add_parser(
        "rebuild",
        help="rebuild a table's days from the raw archive of X's answers, without a single request to X",
    )
    rebuild.add_argument("table", help="tweet_insights, account_insights or tweet_metrics_history")
    rebuild.add_argument("--from", dest="first", required=True, help="first day, YYYY-MM-DD (UTC)")
    rebuild.add_argument("--to", dest="last", help="last day, YYYY-MM-DD (default: the first)")
    rebuild.add_argument(
        "--source",
        default=SCHEMA,
        help="the source's technical name, its schema (default: x); with --source-file for a named source",
    )
    rebuild.add_argument(
        "--source-file",
        default=os.environ.get(ENV_SOURCE_FILE, DEFAULT_SOURCE_FILE),
        help="the source file (account names, default-schema columns)",
    )
    args = parser.parse_args(argv)

    if args.command == "validate":
        try:
            source = load_source(args.path, reserved_columns=BUILTIN_COLUMNS)
            refuse_twins(source, _stored_ids(os.environ.get(ENV_DUCKDB_PATH, DEFAULT_DUCKDB_PATH)))
        except SourceConfigError as exc:
            print(f"x-assets: {exc}", file=sys.stderr)
            return 2
        print(f"{args.path}: {len(source.accounts)} account(s), endpoints {', '.join(source.endpoints)}")
        for account in source.accounts:
            own = " (own credentials)" if account.credentials else ""
            print(f"  {account.label}{own}")
        for query in source.queries:
            print(f"  query {query.name}: {query.query}")
        return 0
    if args.command == "accounts":
        return _accounts()
    if args.command == "rebuild":
        return _rebuild(args.table, args.first, args.last or args.first, args.source, args.source_file)
    if args.command == "usage":
        return _usage(args.days, args.database, args.source)
    if args.command == "release-dead-runs":
        return _release_dead_runs(args.run_id)
    if args.command == "summary":
        from .demo import print_summary
        from .warehouse.read import SourceReadError

        try:
            print_summary(args.database, sources=tuple(args.source) or (SCHEMA,))
        except SourceReadError as exc:
            print(f"x-assets: {exc}", file=sys.stderr)
            return 2
        return 0
    from .demo import run_demo

    return run_demo(season_days=args.season_days)


def _release_dead_runs(run_ids: list[str]) -> int:
    import logging

    import dagster as dg

    from .orchestration.dead_runs import release_dead_runs

    if not os.environ.get("DAGSTER_HOME"):
        print("x-assets: set DAGSTER_HOME to the instance folder (e.g. .dagster_home)", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="x-assets: %(message)s")
    with dg.DagsterInstance.get() as instance:
        released = release_dead_runs(instance, logging.getLogger("x_assets"), run_ids or None)
    print(f"{len(released)} run(s) released" + (f": {', '.join(released)}" if released else ""))
    return 0


def _stored_ids(database: str) -> dict[str, str]:
    """The handles earlier runs resolved, so a handle listed again by its id is caught without a request."""
    import duckdb

    from .warehouse.read import open_warehouse
    from .warehouse.store import WarehouseError, read_registry

    try:
        with open_warehouse(database) as conn:
            return read_registry(conn)
    except (duckdb.Error, WarehouseError):  # locked by a run, not a DuckDB file...: the run itself checks again
        return {}


def _usage(days: int, database: str, sources: list[str]) -> int:
    """X's usage endpoint with the default credentials (a bearer token), beside the ledgers."""
    import logging

    import dagster as dg
    import duckdb

    from .definitions import build_resources
    from .ingest.billing import ledger_post_reads, reconcile
    from .ingest.loads import new_caller
    from .ingest.session import DEFAULT_SCOPE
    from .warehouse.read import open_warehouse
    from .warehouse.store import WarehouseError
    from .x_api.calls import XFatalError, XTransientError
    from .x_api.usage import MAX_DAYS, fetch_usage

    if not 1 <= days <= MAX_DAYS:
        print(f"x-assets: --days must be 1 to {MAX_DAYS}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="x-assets: %(message)s")
    try:
        with open_warehouse(database) as conn:
            schemas = sources or _ledger_schemas(conn)
            ledger = ledger_post_reads(conn, schemas)
    except duckdb.Error as exc:
        print(
            f"x-assets: cannot read {database} ({str(exc).splitlines()[0]}); try again when the run ends",
            file=sys.stderr,
        )
        return 1
    except WarehouseError as exc:
        print(f"x-assets: {exc}", file=sys.stderr)
        return 1
    try:
        with dg.build_resources(build_resources()) as built:
            x = built.x
            session = x.open()
            if DEFAULT_SCOPE not in session.clients:
                raise SourceConfigError("the usage endpoint is read with the default credentials, and none are set")
            usage = fetch_usage(
                new_caller(x.settings(), logging.getLogger("x_assets")), session.clients[DEFAULT_SCOPE], days
            )
    except (SourceConfigError, XFatalError, XTransientError) as exc:
        print(f"x-assets: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, SourceConfigError) else 1
    table = reconcile(ledger, usage)
    print(f"{'UTC day':<12} {'X billed':>10} {'ledger':>10} {'difference':>11}")
    for day, billed, recorded, difference in table.iter_rows():
        print(f"{day!s:<12} {billed:>10,} {recorded:>10,} {difference:>+11,}")
    if usage.project_usage is not None:
        cap = f" of {usage.project_cap:,}" if usage.project_cap else ""
        resets = f", resetting in {usage.cap_reset_day} day(s)" if usage.cap_reset_day is not None else ""
        print(f"billing cycle so far: {usage.project_usage:,}{cap} post reads{resets}")
    print(f"ledgers counted: {', '.join(schemas) or 'none'} in {database}")
    if table.get_column("difference").abs().sum():
        print(
            "a difference is X counting reads the ledgers do not hold: other apps or tools of the same project, "
            "sources not counted here, or a run stopped between its reads and its record of them"
        )
    return 0


def _ledger_schemas(conn: Any) -> list[str]:
    """Every schema of the warehouse holding a read ledger."""
    from .constants import READ_LEDGER
    from .warehouse.store import ICEBERG_VIEW

    rows = conn.execute(
        "SELECT schema_name FROM duckdb_tables() WHERE table_name = ? UNION SELECT schema_name FROM duckdb_views() "
        "WHERE view_name = ? AND comment = ? ORDER BY 1",
        [READ_LEDGER, READ_LEDGER, ICEBERG_VIEW],
    ).fetchall()
    return [schema for (schema,) in rows]


def _rebuild(table: str, first: str, last: str, schema: str, source_file: str) -> int:
    """A table's days from the archive: the source file for names and constant columns, no credentials."""
    import dataclasses
    import datetime as dt
    import logging

    from .definitions import build_resources
    from .ingest.rebuild import RebuildError, rebuild
    from .orchestration.names import SourceNameError, check_source_name
    from .warehouse.store import WarehouseError

    logging.basicConfig(level=logging.INFO, format="x-assets: %(message)s")
    try:
        days = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    except ValueError:
        print(f"x-assets: --from and --to are days as YYYY-MM-DD, got {first!r} and {last!r}", file=sys.stderr)
        return 2
    try:
        if schema != SCHEMA:  # a named source's schema, checked as its name is (it becomes SQL)
            check_source_name(schema, "--source")
        source = load_source(source_file, reserved_columns=BUILTIN_COLUMNS)
        warehouse = build_resources()["warehouse"]
        store = warehouse.store()  # type: ignore[attr-defined]
        store = dataclasses.replace(store, schema_name=schema)
        result = rebuild(store, source, table, *days, logging.getLogger("x_assets"))
    except (SourceConfigError, RebuildError, SourceNameError) as exc:
        print(f"x-assets: {exc}", file=sys.stderr)
        return 2
    except WarehouseError as exc:
        print(f"x-assets: {exc}", file=sys.stderr)
        return 1
    print(
        f"{table} {days[0]}..{days[1]}: {result.rows} row(s) from {result.answers} archived answer(s) "
        f"in {result.files} file(s); no request sent"
    )
    return 0


def _accounts() -> int:
    """One users lookup per 100 accounts (billed as user reads), with the credentials a run would use."""
    import logging

    import dagster as dg

    from .definitions import build_resources
    from .ingest.loads import look_up_accounts
    from .x_api.calls import XFatalError

    logging.basicConfig(level=logging.WARNING, format="x-assets: %(message)s")
    try:
        # build_resources resolves the EnvVar credentials, as a run does
        with dg.build_resources(build_resources()) as built:
            x, warehouse = built.x, built.warehouse
            states = look_up_accounts(x.open(), x.settings(), warehouse.store(), logging.getLogger("x_assets"))
    except (SourceConfigError, XFatalError) as exc:
        print(f"x-assets: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, SourceConfigError) else 1
    print(f"{'configured':<32} {'account_id':<20} {'handle now':<18} {'status':<20} detail")
    for state in states:
        handle = f"@{state.username}" if state.username else "-"
        own = " (own credentials)" if state.spec.credentials else ""
        print(
            f"{state.spec.label + own:<32} {state.account_id or '-':<20} {handle:<18} {state.status:<20} {state.detail}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
