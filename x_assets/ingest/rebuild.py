"""Tables rebuilt from the raw archive (warehouse/archive.py), without a single request to X.

A rebuild replays what the runs wrote, in the order they wrote it, column-wise:
- tweet_insights: a run that read an account's timeline over its window replaced that account's
  posts of those days. So for each account and day, the last such run decides which posts exist,
  and a later read of a post by id (the 'ages' policy) or by since_id updates its numbers. Of each
  post the last run's answer is kept, the run's first answer within it (as the run itself did).
- account_insights: of each day and account, the snapshot taken closest to the end of the day (a
  tie going to the later one), as the asset keeps it.
- tweet_metrics_history (written by the tweet_insights runs): of each post and UTC day, the day's
  last read.

Only what the archive holds is replaced: an account's day no archived run read keeps its stored
rows. Reads cut short (the 3,200-post horizon, a read budget) count as whole windows here.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from ..log import Log
from ..warehouse.archive import archive_files, archive_root, lines_of, split_line
from ..warehouse.store import Scope, Slice, Store, ensure_table, record_observations, write_rows
from ..warehouse.tables import (
    ACCOUNT_INSIGHTS,
    ACCOUNT_INSIGHTS_TABLE,
    PRIVATE_METRIC_COLUMNS,
    TWEET_INSIGHTS,
    TWEET_INSIGHTS_TABLE,
    TWEET_METRICS_HISTORY,
    TWEET_METRICS_HISTORY_TABLE,
    UTC_TS,
    with_default_schema,
)
from ..x_api.payloads import INCLUDED_SCHEMA, TWEET_SCHEMA
from .source import SourceConfig
from .transform import tweet_rows

REBUILDABLE = (TWEET_INSIGHTS, ACCOUNT_INSIGHTS, TWEET_METRICS_HISTORY)
_HEAD: dict[str, pl.DataType] = {
    k: pl.String() for k in ("kind", "path", "query", "fetched_at", "run", "first", "last")
}
_POSTS_BODY = pl.Struct(
    {
        "data": pl.List(pl.Struct({**TWEET_SCHEMA.to_schema(), "author_id": pl.String})),
        "includes": pl.Struct({"tweets": pl.List(INCLUDED_SCHEMA)}),
    }
)
_USER_METRICS = ("followers_count", "following_count", "tweet_count", "listed_count", "like_count")
_USERS_BODY = pl.Struct(
    {
        "data": pl.List(
            pl.Struct(
                {
                    "id": pl.String,
                    "username": pl.String,
                    "public_metrics": pl.Struct({m: pl.Int64 for m in _USER_METRICS}),
                }
            )
        )
    }
)
_GROUPS = sorted({group for group, _ in PRIVATE_METRIC_COLUMNS.values()})
_PRIVATE_BODY = pl.Struct(
    {
        "data": pl.List(
            pl.Struct(
                {
                    "id": pl.String,
                    **{
                        g: pl.Struct({k: pl.Int64 for grp, k in PRIVATE_METRIC_COLUMNS.values() if grp == g})
                        for g in _GROUPS
                    },
                }
            )
        )
    }
)


class RebuildError(ValueError):
    """A rebuild that cannot be done as asked (a table without an archive, days in the wrong order)."""


@dataclass
class RebuildResult:
    table: str
    days: tuple[dt.date, dt.date]
    rows: int
    answers: int  # archived answers read
    posts_read: int = 0  # post objects parsed (tweet_insights)
    files: int = 0
    rows_per_day: dict[dt.date, int] = field(default_factory=dict)


def rebuild(store: Store, source: SourceConfig, table: str, first: dt.date, last: dt.date, log: Log) -> RebuildResult:
    """Rebuild a table's days first..last from the source's archive, in one write; no request is sent."""
    if table not in REBUILDABLE:
        raise RebuildError(f"{table} cannot be rebuilt from the archive; these can: {', '.join(REBUILDABLE)}")
    if first > last:
        raise RebuildError(f"the first day {first} is after the last {last}")
    root = archive_root(store.folder, store.schema_name)
    if table == TWEET_METRICS_HISTORY:
        return _rebuild_history(store, source, root, first, last, log)
    if table == TWEET_INSIGHTS:
        # a post created on `first` is read on that day or later: older fetch days cannot hold it
        files = archive_files(root, TWEET_INSIGHTS, since=first)
        rows, slices, answers, posts = _tweet_insights(files, source, first, last)
        key: str | None = "tweet_id"
        target = store.table(TWEET_INSIGHTS_TABLE)
    else:
        files = archive_files(root, ACCOUNT_INSIGHTS, since=first)
        rows, slices, answers = _account_insights(files, source, first, last)
        posts, key = 0, None
        target = store.table(ACCOUNT_INSIGHTS_TABLE)
    if not files:
        log.warning(f"no archived answers of {table} under {root} from {first} on: nothing to rebuild")
    result = RebuildResult(table, (first, last), 0, answers, posts, len(files))
    extra = source.default_schema
    rows = with_default_schema(rows, extra)

    def body(conn: duckdb.DuckDBPyConnection) -> int:
        ensure_table(conn, target, extra)
        return write_rows(conn, target, rows, (first, last), slices, key, (), result.rows_per_day)

    result.rows = store.write(log, [Scope(target, Scope.days_from(first, last))], body)
    log.info(
        f"{table} {first}..{last} rebuilt from {answers} archived answer(s) in {len(files)} file(s): "
        f"{result.rows} row(s), no request sent"
    )
    return result


def _rebuild_history(
    store: Store, source: SourceConfig, root: Path, first: dt.date, last: dt.date, log: Log
) -> RebuildResult:
    """tweet_metrics_history of the posts created first..last: each UTC day's last archived read of a
    post replaces that day's observation, as a run records it; observations the archive holds no
    read for are kept."""
    files = archive_files(root, TWEET_INSIGHTS, since=first)  # tweet_insights runs write the history
    rows, answers, posts = _metrics_history(files, source, first, last)
    rows = with_default_schema(rows, source.default_schema)
    target = store.table(TWEET_METRICS_HISTORY_TABLE)
    observed = sorted(set(rows.get_column("fetched_at").dt.date().to_list()))  # fetched_at is UTC

    def body(conn: duckdb.DuckDBPyConnection) -> int:
        ensure_table(conn, target, source.default_schema)
        return record_observations(conn, target, rows, list(source.default_schema))

    written = store.write(log, [Scope(target, observed)], body)
    log.info(
        f"{TWEET_METRICS_HISTORY} of posts created {first}..{last} rebuilt from {answers} archived answer(s) "
        f"in {len(files)} file(s): {written} observation(s) on {len(observed)} day(s), no request sent"
    )
    return RebuildResult(TWEET_METRICS_HISTORY, (first, last), written, answers, posts, len(files))


# Answers are parsed one by one with polars' read_json, on a few threads: on 2 cores that is about
# twice the speed of one read_ndjson over the whole file (benchmarks/archive.py).
PARSE_THREADS = 3


def _records(lines: list[bytes], body: pl.Struct) -> pl.DataFrame:
    """Archived answers of one kind, the body parsed with the shape asked; in archive order (seq)."""
    schema: dict[str, pl.DataType] = {**_HEAD, "body": body}
    if not lines:
        frame = pl.DataFrame(schema=schema)
    else:
        split = [split_line(line) for line in lines]
        heads = pl.DataFrame([json.loads(h) for h, _ in split], schema=_HEAD)
        fields = body.to_schema()

        def parse(raw: bytes) -> pl.DataFrame:
            return pl.read_json(raw, schema=fields)

        with ThreadPoolExecutor(max_workers=PARSE_THREADS) as pool:
            bodies = pl.concat(list(pool.map(parse, (b for _, b in split), chunksize=16)))
        frame = heads.with_columns(bodies.select(pl.struct(pl.all()).alias("body")).to_series())
    return frame.with_row_index("seq").with_columns(
        pl.col("fetched_at").str.to_datetime(time_zone="UTC", time_unit="us").cast(UTC_TS)
    )


def _names(source: SourceConfig) -> tuple[dict[str, str], dict[str, str]]:
    """The source file's account names, by id and by lowercased handle (as the runs matched them)."""
    by_id = {a.account_id: a.name for a in source.accounts if a.account_id and a.name}
    by_handle = {a.username.lower(): a.name for a in source.accounts if a.username and a.name}
    return by_id, by_handle


def _account_names(source: SourceConfig) -> pl.Expr:
    """account_name as a run gives it: the source file's name for the account, else its handle."""
    by_id, by_handle = _names(source)
    handle = pl.col("username").str.to_lowercase()
    return (
        pl.col("account_id")
        .replace_strict(by_id, default=None, return_dtype=pl.String)
        .fill_null(handle.replace_strict(by_handle, default=None, return_dtype=pl.String))
        .fill_null(pl.col("username"))
        .fill_null(pl.col("account_id"))
    )


def _users(lines: list[bytes]) -> pl.DataFrame:
    """Every user an archived lookup returned: run, fetched_at, id, username, public metrics."""
    records = _records(lines, _USERS_BODY)
    return (
        records.select("run", "fetched_at", "first", "last", "seq", pl.col("body").struct.field("data").alias("u"))
        .pipe(_each_item, "u")
        .rename({"id": "account_id"})
    )


def _each_item(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """A row per item of a list-of-structs column (a body's data, includes), its fields as columns."""
    return frame.explode(column).drop_nulls(column).unnest(column)


def _run_times(*frames: pl.DataFrame) -> pl.DataFrame:
    """When each run began (its first archived answer): the order the runs wrote in."""
    runs = pl.concat([f.select("run", "fetched_at") for f in frames if f.height])
    if not runs.height:
        return pl.DataFrame(schema={"run": pl.String, "run_time": UTC_TS})
    return runs.group_by("run").agg(pl.col("fetched_at").min().alias("run_time"))


@dataclass
class _PostReads:
    """Every post the archived runs read in their windows (data, not includes), with what a row of
    it needs besides: the originals each run's answers included, the owned metrics each run read,
    the handles each run looked up, and which run last read each account's day whole."""

    posts: pl.DataFrame
    included: pl.DataFrame
    private: pl.DataFrame
    handles: pl.DataFrame
    covered: pl.DataFrame  # account_id, day, cover_time
    answers: int
    posts_read: int


def _post_reads(files: list[Path], first: dt.date, last: dt.date) -> _PostReads:
    kinds = lines_of(files, ("timeline", "by_ids", "private", "users"))
    pages = pl.concat(
        [
            _records(kinds["timeline"], _POSTS_BODY).with_columns(pl.lit(True).alias("timeline")),
            _records(kinds["by_ids"], _POSTS_BODY).with_columns(pl.lit(False).alias("timeline")),
        ]
    ).with_row_index("page")
    users = _users(kinds["users"])
    runs = _run_times(pages, users)
    owner = pl.col("path").str.extract(r"^/2/users/(\d+)/tweets$")
    pages = pages.join(runs, on="run", how="left").with_columns(
        # a timeline page's account is in its path (/2/users/<id>/tweets); a by-id page's, its posts'
        # author (the run re-reads one account's posts per request)
        owner.alias("owner"),
        pl.coalesce(owner, pl.col("body").struct.field("data").list.first().struct.field("author_id")).alias(
            "page_account"
        ),
        # a timeline read that replaced its window's posts: not one after since_id (new posts only)
        (pl.col("timeline") & ~pl.col("query").str.contains(r"(^|&)since_id=")).alias("replaces"),
    )
    posts = (
        pages.select(
            "page",
            "run",
            "run_time",
            "seq",
            "timeline",
            "owner",
            "first",
            "last",
            "fetched_at",
            pl.col("body").struct.field("data").alias("post"),
        )
        .pipe(_each_item, "post")
        .with_columns(pl.coalesce("owner", "author_id").alias("account_id"))
    )
    posts_read = posts.height
    day = pl.col("created_at").str.slice(0, 10)
    in_window = ~pl.col("timeline") | day.is_between(pl.col("first"), pl.col("last"))
    posts = posts.filter(in_window & day.is_between(pl.lit(first.isoformat()), pl.lit(last.isoformat())))
    # Which (account, day) each run's window read replaced, and the last run to do so.
    covered = (
        pages.filter("replaces")
        .select("run_time", pl.col("owner").alias("account_id"), "first", "last")
        .unique()
        .pipe(_each_day, "day", first, last)
        .group_by("account_id", "day")
        .agg(pl.col("run_time").max().alias("cover_time"))
    )
    handles = (
        users.sort("fetched_at").unique(["run", "account_id"], keep="last").select("run", "account_id", "username")
    )
    # the originals as the run's answers for the account gave them, first answer first (as the run looked them up)
    included = (
        pages.sort("timeline", "seq", descending=[True, False])
        .select(
            "run",
            pl.col("page_account").alias("account_id"),
            pl.col("body").struct.field("includes").struct.field("tweets").alias("t"),
        )
        .pipe(_each_item, "t")
    )
    private_records = _records(kinds["private"], _PRIVATE_BODY)
    private = (
        private_records.select("run", "fetched_at", pl.col("body").struct.field("data").alias("p"))
        .pipe(_each_item, "p")
        .sort("fetched_at")
        .unique(["run", "id"], keep="last")
        .select(
            "run",
            pl.col("id").alias("tweet_id"),
            *(pl.col(group).struct.field(key).alias(name) for name, (group, key) in PRIVATE_METRIC_COLUMNS.items()),
        )
    )
    answers = sum(len(lines) for lines in kinds.values())
    return _PostReads(posts, included, private, handles, covered, answers, posts_read)


def _rows(reads: _PostReads, posts: pl.DataFrame, source: SourceConfig, each: Sequence[str] = ("id",)) -> pl.DataFrame:
    """tweet_insights rows of these reads, each with its own run's handles, originals and owned metrics."""
    posts = posts.join(reads.handles, on=["run", "account_id"], how="left")
    posts = posts.with_columns(_account_names(source).alias("account_name"))
    return tweet_rows(
        posts, reads.included, reads.private, by=("account_id", "run"), private_keys=("run", "tweet_id"), each=each
    )


def _tweet_insights(
    files: list[Path], source: SourceConfig, first: dt.date, last: dt.date
) -> tuple[pl.DataFrame, list[Slice], int, int]:
    reads = _post_reads(files, first, last)
    posts = (
        reads.posts.with_columns(pl.col("created_at").str.slice(0, 10).str.to_date().alias("day"))
        .join(reads.covered, on=["account_id", "day"], how="left")
        .filter(pl.col("cover_time").is_null() | (pl.col("run_time") >= pl.col("cover_time")))
        .sort(["run_time", "seq"], descending=[True, False])
        .unique("id", keep="first", maintain_order=True)
    )
    rows = _rows(reads, posts, source)
    return rows, _ranges(reads.covered.select("account_id", "day")), reads.answers, reads.posts_read


def _metrics_history(
    files: list[Path], source: SourceConfig, first: dt.date, last: dt.date
) -> tuple[pl.DataFrame, int, int]:
    """tweet_insights rows of every post created first..last, one per UTC day it was read: that
    day's last read (record_observations makes them the history's rows)."""
    reads = _post_reads(files, first, last)
    posts = reads.posts.with_columns(pl.col("fetched_at").dt.date().alias("observed_date"))  # fetched_at is UTC
    posts = posts.sort(["fetched_at", "seq"], descending=[True, False])  # a day's last read first
    rows = _rows(reads, posts, source, each=("id", "observed_date"))
    return rows, reads.answers, reads.posts_read


def _each_day(frame: pl.DataFrame, name: str, first: dt.date, last: dt.date) -> pl.DataFrame:
    """A row per day of each row's run window (first..last columns) within the days rebuilt."""
    days = pl.date_ranges(
        pl.max_horizontal(pl.col("first").str.to_date(), pl.lit(first)),
        pl.min_horizontal(pl.col("last").str.to_date(), pl.lit(last)),
    )
    return frame.with_columns(days.alias(name)).explode(name).drop_nulls(name)


def _ranges(days: pl.DataFrame) -> list[Slice]:
    """(account_id, day) pairs as slices of consecutive days: a year of one account is one slice."""
    if not days.height:
        return []
    runs = (
        days.unique()
        .sort("account_id", "day")
        .with_columns(
            # consecutive days share day - (their rank within the account)
            (pl.col("day") - pl.duration(days=pl.col("day").rank("ordinal").over("account_id"))).alias("run")
        )
        .group_by("account_id", "run")
        .agg(pl.col("day").min().alias("first"), pl.col("day").max().alias("last"))
        .sort("account_id", "first")
    )
    return [Slice(a, f, t) for a, f, t in runs.select("account_id", "first", "last").iter_rows()]


def _account_insights(
    files: list[Path], source: SourceConfig, first: dt.date, last: dt.date
) -> tuple[pl.DataFrame, list[Slice], int]:
    lines = lines_of(files, ("users",))["users"]
    users = _users(lines)
    if not users.height:
        return ACCOUNT_INSIGHTS_TABLE.empty_frame(), [], len(lines)
    snapshots = (
        users.filter(pl.col("first").is_not_null())
        .pipe(_each_day, "date", first, last)
        .with_columns(
            # the snapshot nearest the day's end represents the day; of two as near, the later one
            (pl.col("fetched_at") - pl.col("date").cast(pl.Datetime("us", "UTC")).dt.offset_by("1d"))
            .abs()
            .alias("distance")
        )
        .sort(["distance", "fetched_at"], descending=[False, True])
        .unique(["date", "account_id"], keep="first")
        .sort(["date", "account_id"])
    )
    metric = pl.col("public_metrics").struct.field
    frame = snapshots.with_columns(
        _account_names(source).alias("account_name"), *(metric(m).alias(m) for m in _USER_METRICS)
    )
    frame = frame.select(ACCOUNT_INSIGHTS_TABLE.column_names).cast(ACCOUNT_INSIGHTS_TABLE.polars_schema())
    return frame, _ranges(frame.select("account_id", pl.col("date").alias("day"))), len(lines)
