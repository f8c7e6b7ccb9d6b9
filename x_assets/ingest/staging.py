"""Rows on their way to DuckDB: transformed a batch of accounts at a time and staged as Parquet.

Batches bound memory (a million-post backfill never sits in memory at once) and amortize polars'
fixed cost per expression over several accounts; the final transaction inserts every file at once.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from ..processes import process_alive
from ..warehouse.tables import with_default_schema
from .transform import AccountPosts, PendingPosts, tweets_frame_many

BATCH_ROWS = 50_000  # about 40 MB of posts in memory per batch
STAGE_FOLDER = ".x_assets_stage"  # beside the warehouse file


@contextmanager
def staging_folder(warehouse_file: str | Path) -> Iterator[Path]:
    """A folder for one run's staged files, beside the warehouse (on its disk, not in /tmp).

    Its name carries the host and process id, so the next run can tell a folder left by a killed
    run (gigabytes, for a big backfill) from one still in use, and sweep it.
    """
    root = Path(warehouse_file).resolve().parent / STAGE_FOLDER
    root.mkdir(parents=True, exist_ok=True)
    sweep_dead_stages(root)
    folder = Path(tempfile.mkdtemp(prefix=f"{socket.gethostname()}-{os.getpid()}-", dir=root))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def sweep_dead_stages(root: Path) -> list[Path]:
    """Remove the staging folders of processes of this host that no longer run."""
    host = socket.gethostname()
    swept = []
    for folder in root.iterdir():
        parts = folder.name.rsplit("-", 2)  # host-pid-random (mkdtemp's random part has no "-")
        if len(parts) == 3 and parts[0] == host and parts[1].isdigit() and not process_alive(int(parts[1])):
            shutil.rmtree(folder, ignore_errors=True)
            swept.append(folder)
    return swept


class Stager:
    def __init__(self, folder: str | Path, default_schema: dict[str, Any], batch_rows: int = BATCH_ROWS) -> None:
        self.folder = Path(folder)
        self.default_schema = default_schema
        self.batch_rows = batch_rows
        self.files: list[Path] = []
        self.preview: pl.DataFrame | None = None
        self.read_ids: list[pl.Series] = []  # every post the pending accounts' pages returned: X bills them
        self._pending: list[AccountPosts | PendingPosts] = []
        self._pending_rows = 0

    def add(self, posts: AccountPosts | PendingPosts) -> None:
        if not posts.count:
            return
        self._pending.append(posts)
        self._pending_rows += posts.count
        if self._pending_rows >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        frame = tweets_frame_many(self._pending, self.read_ids)
        self._pending, self._pending_rows = [], 0
        if self.preview is None:
            self.preview = frame.head(5)
        path = self.folder / f"{len(self.files):06d}.parquet"
        # lz4: the files live for one run, so writing fast beats writing small
        with_default_schema(frame, self.default_schema).write_parquet(path, compression="lz4")
        self.files.append(path)
