"""What X bills: each post or user once per UTC day, however many runs read it that day.

Every run records its reads in the source's read ledger (x.read_ledger) before it writes its rows,
since X bills a read whatever becomes of the write. What the ledger did not hold yet for the day is
the run's increment of the day's bill, and that is the cost its metadata reports.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

import duckdb
import polars as pl

from ..log import Log
from ..warehouse.store import Scope, Store, record_reads, table_exists
from ..warehouse.tables import READ_LEDGER_TABLE
from ..x_api.payloads import created_days
from ..x_api.usage import Usage
from .harvest import AccountState

POST, OWNED, USER = "post", "owned", "user"


def _ids(values: Collection[str] = ()) -> pl.Series:
    return pl.Series("id", list(values), dtype=pl.String)


@dataclass(frozen=True)
class Reads:
    """What one run read on its UTC day, by the rate X bills it at."""

    day: dt.date
    posts: pl.Series = field(default_factory=_ids)  # post ids at the post rate
    owned: pl.Series = field(default_factory=_ids)  # an account's own posts read as itself: the owned rate
    users: Collection[str] = ()  # user ids: the accounts looked up, the authors in includes

    def frame(self, endpoint: str) -> pl.DataFrame:
        # owned first: a post read both ways in one run is billed once, and at the owned rate
        parts = [(self.owned, POST, OWNED), (self.posts, POST, POST), (_ids(self.users), USER, USER)]
        return pl.concat(
            pl.DataFrame({"resource_id": ids.unique(maintain_order=True)}).with_columns(
                read_date=pl.lit(self.day),
                resource=pl.lit(resource),
                rate=pl.lit(rate),
                endpoint=pl.lit(endpoint),
            )
            for ids, resource, rate in parts
        ).select("read_date", "resource", "resource_id", "rate", "endpoint")


@dataclass(frozen=True)
class Billed:
    """What one run added to X's bill of its day: the reads the ledger did not hold yet."""

    day: dt.date
    posts: pl.Series = field(default_factory=_ids)
    owned: pl.Series = field(default_factory=_ids)
    users: int = 0


def per_creation_day(ids: pl.Series, first: dt.date, last: dt.date) -> dict[dt.date, int]:
    """Post ids counted by their UTC creation day, the partition a read belongs to; a post older than
    the window (read on the page that crossed its start) counts on its first day."""
    return dict(created_days(ids).clip(first, last).value_counts().iter_rows())


def record_bill(store: Store, log: Log, reads: Reads, endpoint: str) -> Billed:
    """The reads into the source's ledger, in a write of their own (X bills a read whatever
    becomes of the write that follows), and what of them X bills anew."""
    ledger = store.table(READ_LEDGER_TABLE)
    new = store.write(log, [Scope(ledger, [reads.day])], lambda conn: record_reads(conn, ledger, reads.frame(endpoint)))
    rate = new.get_column("rate")
    ids = new.get_column("resource_id")
    return Billed(
        reads.day,
        posts=ids.filter(rate == POST),
        owned=ids.filter(rate == OWNED),
        users=int((rate == USER).sum()),
    )


def looked_up(states: Iterable[AccountState]) -> list[str]:
    """The accounts a run's lookups returned: X bills each as a user read."""
    return [s.account_id or "" for s in states if s.user is not None]


def ledger_post_reads(conn: duckdb.DuckDBPyConnection, schemas: Collection[str]) -> dict[dt.date, int]:
    """Post reads per UTC day in the read ledgers of these sources' schemas, a post counted once a
    day however many sources read it (X bills the project once)."""
    ledgers = [READ_LEDGER_TABLE.in_schema(s) for s in schemas]
    ledgers = [t for t in ledgers if table_exists(conn, t)]
    if not ledgers:
        return {}
    union = " UNION ".join(
        f"SELECT read_date, resource_id FROM {t.qualified} WHERE resource = '{POST}'" for t in ledgers
    )
    rows = conn.execute(f"SELECT read_date, count(*) FROM ({union}) GROUP BY 1").fetchall()
    return dict(rows)


def reconcile(ledger: dict[dt.date, int], usage: Usage) -> pl.DataFrame:
    """Per UTC day X reported: its count of billed post reads against the ledger's."""
    days = sorted(usage.daily)
    return pl.DataFrame(
        {
            "day": days,
            "x_post_reads": [usage.daily[d] for d in days],
            "ledger_post_reads": [ledger.get(d, 0) for d in days],
        },
        schema={"day": pl.Date, "x_post_reads": pl.Int64, "ledger_post_reads": pl.Int64},
    ).with_columns(difference=pl.col("x_post_reads") - pl.col("ledger_post_reads"))
