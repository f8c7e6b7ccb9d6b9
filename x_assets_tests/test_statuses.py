"""How a run's statuses replace the stored ones: day by day, and an 'incomplete' never erases an 'ok'
recorded after its day ended (the day's rows are still those of the run that read it whole)."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

from x_assets.ingest.loads import replace_statuses
from x_assets.warehouse.store import ensure_table
from x_assets.warehouse.tables import ACCOUNT_STATUS_TABLE

DAY = dt.date(2026, 11, 10)


def rows(status: str, recorded: dt.datetime, days: list[dt.date], detail: str = "") -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "date": day,
                "account_id": "1",
                "username": "acme",
                "account_name": "acme",
                "endpoint": "mentions_insights",
                "status": status,
                "detail": detail,
                "recorded_at": recorded,
            }
            for day in days
        ],
        schema=ACCOUNT_STATUS_TABLE.polars_schema(),
    )


def stored(conn: duckdb.DuckDBPyConnection) -> dict[dt.date, str]:
    return dict(conn.execute("SELECT date, status FROM x.account_status ORDER BY 1").fetchall())


def test_an_incomplete_keeps_an_ok_recorded_after_the_day_but_not_one_recorded_during_it() -> None:
    conn = duckdb.connect()
    ensure_table(conn, ACCOUNT_STATUS_TABLE, {})
    days = [DAY, DAY + dt.timedelta(days=1)]
    # DAY read whole the next morning; DAY + 1 recorded 'ok' while it was still running
    morning = dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(12), tzinfo=dt.UTC)
    replace_statuses(conn, ACCOUNT_STATUS_TABLE, rows("ok", morning, days), (days[0], days[1]), "mentions_insights")
    later = morning + dt.timedelta(days=5)
    cut = rows("incomplete", later, days, "beyond the 800 most recent mentions")
    replace_statuses(conn, ACCOUNT_STATUS_TABLE, cut, (days[0], days[1]), "mentions_insights")
    assert stored(conn) == {DAY: "ok", DAY + dt.timedelta(days=1): "incomplete"}
    # a failure is never shielded, and an ok always replaces what was there
    replace_statuses(conn, ACCOUNT_STATUS_TABLE, rows("failed", later, days), (days[0], days[1]), "mentions_insights")
    assert stored(conn) == {DAY: "failed", DAY + dt.timedelta(days=1): "failed"}
    replace_statuses(conn, ACCOUNT_STATUS_TABLE, rows("ok", later, days), (days[0], days[1]), "mentions_insights")
    assert stored(conn) == {DAY: "ok", DAY + dt.timedelta(days=1): "ok"}
    assert conn.execute("SELECT count(*) FROM x.account_status").fetchall() == [(2,)]  # one row a day, never two
