"""The raw archive: every answer X gave a run, kept compressed beside the warehouse, so that a table
can be rebuilt (x-assets rebuild) without paying for a single read again.

Layout: <folder>/archive/<schema>/<asset>/<UTC day of the fetch>/<time>-<id>.ndjson.zst, one zstd
stream per run, asset and day; each line is one answer:

    {"kind":"timeline","path":"/2/users/12/tweets","query":"max_results=100&...","fetched_at":"...",
     "run":"...","first":"2026-11-25","last":"2026-12-01","body":<X's JSON as it came>}

The kinds: timeline, by_ids, private, users, mentions, search, probe (x_api/reads.py names them).
The body is embedded as it came (X's JSON is one line; a raw newline can only be whitespace between
tokens, so it is replaced by a space): no re-encoding when a page is kept, and a rebuild cuts the
body out of its line (split_line) for polars to parse. Credentials travel in headers, never in the
request line, and only the path and query are kept; a query parameter named like an OAuth one is
dropped all the same.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import re
import shutil
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
import zstandard

from ..clock import utc_now
from ..x_api.payloads import TWITTER_EPOCH_MS

ARCHIVE_FOLDER = "archive"
SUFFIX = ".ndjson.zst"
PARTIAL = ".part"  # a stream still being written, or left by a killed run: never read back
# zstd level 1, one stream per file: a run's pages share their field names, handles and links, so
# one stream keeps about 70 bytes of a post's 740 (benchmarks/archive.py) at about 300 MB/s on one
# core. Long-distance matching saves a fifth more at less than half the speed: not worth it in a run.
LEVEL = 1
QUEUED_LINES = 256  # answers waiting for the writer at most (about 20 MB); a worker waits beyond that
_SECRET_PARAM = re.compile(r"^(oauth_|access_token|bearer|consumer_)", re.IGNORECASE)


def archive_root(folder: Path, schema: str) -> Path:
    """A source's archive: under the warehouse's folder, by schema."""
    return folder / ARCHIVE_FOLDER / schema


def _compressor() -> zstandard.ZstdCompressor:
    return zstandard.ZstdCompressor(level=LEVEL)


@dataclass
class RunArchive:
    """One run's answers for one asset, appended as they come (from any worker thread)."""

    root: Path  # archive_root(...)
    asset: str
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    window: tuple[dt.date, dt.date] | None = None  # the days the run loads: a rebuild keeps only these
    _streams: dict[dt.date, tuple[Path, BinaryIO, Any]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _queue: queue.Queue[tuple[dt.date, bytes] | None] | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    keep: bool = True  # False: the retention is 0 days, nothing is kept (a deletion is still purged)
    answers: int = 0
    bytes_in: int = 0
    gone: set[str] = field(default_factory=set)  # posts X reported deleted: purged from the archive at close
    error: str | None = None  # why keeping stopped (a full disk...): the run goes on, the archive is a copy

    def forget(self, ids: Iterable[str]) -> None:
        """Posts found deleted on X: close() removes them from every archived answer."""
        self.gone.update(str(i) for i in ids)

    def record(self, kind: str, response: requests.Response, fetched_at: dt.datetime) -> None:
        if not self.keep:
            return
        url = urlsplit(response.request.url or "") if response.request is not None else urlsplit("")
        query = urlencode([(k, v) for k, v in parse_qsl(url.query) if not _SECRET_PARAM.match(k)])
        head: dict[str, Any] = {
            "kind": kind,
            "path": url.path,
            "query": query,
            "fetched_at": fetched_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
            "run": self.run,
        }
        if self.window is not None:
            head["first"], head["last"] = self.window[0].isoformat(), self.window[1].isoformat()
        body = response.content.replace(b"\r", b" ").replace(b"\n", b" ")
        line = json.dumps(head, separators=(",", ":")).encode()[:-1] + b',"body":' + body + b"}\n"
        self._lines().put((fetched_at.astimezone(dt.UTC).date(), line))

    def _lines(self) -> queue.Queue[tuple[dt.date, bytes] | None]:
        """The queue of lines for the writer thread, which the first answer starts."""
        with self._lock:
            if self._queue is None:
                self._queue = queue.Queue(maxsize=QUEUED_LINES)
                self._thread = threading.Thread(
                    target=self._write_all, args=(self._queue,), name="x-archive-writer", daemon=True
                )
                self._thread.start()
            return self._queue

    def _write_all(self, lines: queue.Queue[tuple[dt.date, bytes] | None]) -> None:
        """One thread compresses and writes every line, in the order the answers parsed. The workers
        hand it their lines and read on: when each compressed its own under a lock, 64 workers took
        turns at it (and at the interpreter) and a 500-account run lost about a second."""
        while (item := lines.get()) is not None:
            if not self.keep:  # stopped by an earlier error: the rest is dropped, the run reads on
                continue
            day, line = item
            try:
                self._writer(day).write(line)
            except OSError as exc:
                # The rows matter more than their copy: stop keeping, say why at the end, read on.
                self.keep, self.error = False, f"{type(exc).__name__}: {exc}"
                continue
            self.answers += 1
            self.bytes_in += len(line)

    def _writer(self, day: dt.date) -> Any:
        if day not in self._streams:
            folder = self.root / self.asset / day.isoformat()
            folder.mkdir(parents=True, exist_ok=True)
            stamp = utc_now().strftime("%H%M%S")  # the project's one clock, as the fetch times
            path = folder / f"{stamp}-{self.run}{SUFFIX}"
            raw = open(path.with_name(path.name + PARTIAL), "wb")  # noqa: SIM115 (closed in close())
            self._streams[day] = (path, raw, _compressor().stream_writer(raw, closefd=False))
        return self._streams[day][2]

    def close(self, keep_days: int | None = None, today: dt.date | None = None) -> list[Path]:
        """Finish every stream and give it its final name (then readers see it); then purge the posts
        found deleted, and drop what is older than keep_days. Returns the files written."""
        done = self._finish()
        purge_posts(self.root, self.gone)
        if keep_days is not None and today is not None:
            prune(self.root, keep_days, today)
        return done

    def _finish(self) -> list[Path]:
        with self._lock:
            lines, writer_thread = self._queue, self._thread
            self._queue = self._thread = None
        if lines is not None and writer_thread is not None:
            lines.put(None)  # after every line already queued
            writer_thread.join()
        with self._lock:
            done = []
            for path, raw, writer in self._streams.values():
                writer.flush(zstandard.FLUSH_FRAME)
                writer.close()
                raw.flush()
                os.fsync(raw.fileno())
                raw.close()
                os.replace(path.with_name(path.name + PARTIAL), path)
                done.append(path)
            self._streams.clear()
            return done


def archive_files(root: Path, asset: str, since: dt.date | None = None) -> list[Path]:
    """The finished files of an asset, oldest fetch day first (optionally from a day on)."""
    base = root / asset
    if not base.is_dir():
        return []
    days = sorted(d for d in base.iterdir() if d.is_dir() and _is_day(d.name))
    return [
        f for d in days if since is None or dt.date.fromisoformat(d.name) >= since for f in sorted(d.glob(f"*{SUFFIX}"))
    ]


def _is_day(name: str) -> bool:
    try:
        dt.date.fromisoformat(name)
    except ValueError:
        return False
    return True


def read_lines(path: Path) -> bytes:
    """A file's answers, decompressed: NDJSON. (decompressobj: about 1.7 times the speed of a stream
    reader; it stops at the end of a frame, and closing a stream after its last flush may add one.)"""
    data = path.read_bytes()
    out = []
    while data:
        decompressor = zstandard.ZstdDecompressor().decompressobj()
        out.append(decompressor.decompress(data))
        data = decompressor.unused_data
    return out[0] if len(out) == 1 else b"".join(out)


def lines_of(files: Iterable[Path], kinds: Iterable[str]) -> dict[str, list[bytes]]:
    """The answers of these kinds in these files, in archive order (a kind's bodies share one shape)."""
    prefixes = {kind: b'{"kind":"' + kind.encode() + b'",' for kind in kinds}
    out: dict[str, list[bytes]] = {kind: [] for kind in prefixes}
    for path in files:
        for line in read_lines(path).splitlines():
            for kind, prefix in prefixes.items():
                if line.startswith(prefix):
                    out[kind].append(line)
                    break
    return out


BODY_KEY = b',"body":'


def split_line(line: bytes) -> tuple[bytes, bytes]:
    """An archived line as its head (a small JSON object) and X's body as it came."""
    at = line.index(BODY_KEY)
    return line[:at] + b"}", line[at + len(BODY_KEY) : -1]


def prune(root: Path, keep_days: int, today: dt.date) -> list[Path]:
    """Keep the last keep_days fetch days, today included (0 keeps nothing): the archive's retention."""
    if not root.is_dir():
        return []
    cutoff = today - dt.timedelta(days=keep_days)
    gone = []
    for asset in root.iterdir():
        for day in asset.iterdir() if asset.is_dir() else ():
            if day.is_dir() and _is_day(day.name) and dt.date.fromisoformat(day.name) <= cutoff:
                shutil.rmtree(day)
                gone.append(day)
    return gone


def purge_posts(root: Path, ids: Iterable[str]) -> int:
    """Remove posts deleted on X from every archived answer (X's terms: a deleted post is not kept).
    Returns how many answers changed. A file is rewritten beside itself, then swapped in.

    Only fetch days from the oldest post's creation day on are read: no earlier answer can hold it
    (a post id is a snowflake that tells its UTC day), so a run that finds yesterday's post gone
    reads days, not the whole retention."""
    wanted = {str(i) for i in ids}
    if not wanted or not root.is_dir():
        return 0
    needles = [i.encode() for i in wanted]
    since = _created_day(wanted)
    files = [f for asset in sorted(root.iterdir()) for f in archive_files(root, asset.name, since)]
    changed = 0
    for path in files:
        data = read_lines(path)
        if not any(n in data for n in needles):
            continue
        lines, rewritten = [], False
        for line in data.splitlines():
            if any(n in line for n in needles):
                record = json.loads(line)
                if _drop_posts(record.get("body"), wanted):
                    changed += 1
                    rewritten = True
                    line = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()
            lines.append(line)
        if not rewritten:  # the id was only named (a page's meta): no post to remove
            continue
        temporary = path.with_name(path.name + PARTIAL)
        with open(temporary, "wb") as raw, _compressor().stream_writer(raw, closefd=False) as writer:
            writer.write(b"\n".join(lines) + b"\n")
        os.replace(temporary, path)
    return changed


def _created_day(ids: set[str]) -> dt.date | None:
    """The UTC creation day of the oldest of these posts, from their snowflake ids (None: not all are)."""
    if not all(i.isdigit() for i in ids):
        return None
    ms = (min(int(i) for i in ids) >> 22) + TWITTER_EPOCH_MS
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).date()


def _drop_posts(body: Any, ids: set[str]) -> bool:
    """Posts with these ids out of data and includes.tweets (and the errors naming them stay)."""
    if not isinstance(body, dict):
        return False
    dropped = False
    holders: list[tuple[dict[str, Any], str]] = [(body, "data")]
    if isinstance(body.get("includes"), dict):
        holders.append((body["includes"], "tweets"))
    for holder, key in holders:
        items = holder.get(key)
        if isinstance(items, list):
            kept = [p for p in items if not (isinstance(p, dict) and str(p.get("id")) in ids)]
            if len(kept) != len(items):
                holder[key] = kept
                dropped = True
    return dropped


def iter_records(files: Iterable[Path]) -> Iterator[dict[str, Any]]:
    """Every answer as a dict (for tests and inspection; rebuilds parse files column-wise)."""
    for path in files:
        for line in read_lines(path).splitlines():
            yield json.loads(line)
