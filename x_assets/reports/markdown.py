"""Small frames as Markdown tables: the previews and check samples the Dagster UI shows."""

from __future__ import annotations

import polars as pl


def markdown_table(frame: pl.DataFrame, rows: int = 5, columns: int = 8, skip: tuple[str, ...] = ()) -> str:
    names = [c for c in frame.columns if c not in skip][:columns]
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for row in frame.select(names).head(rows).iter_rows():
        lines.append("| " + " | ".join(str(v).replace("|", "\\|").replace("\n", " ")[:60] for v in row) + " |")
    return "\n".join(lines)
