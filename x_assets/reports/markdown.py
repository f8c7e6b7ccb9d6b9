"""Small frames as Markdown tables: the previews and check samples the Dagster UI shows."""

from __future__ import annotations

import polars as pl


def markdown_table(frame: pl.DataFrame, rows: int = 5, columns: int = 8, skip: tuple[str, ...] = ()) -> str:
    names = [c for c in frame.columns if c not in skip][:columns]
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for row in frame.select(names).head(rows).iter_rows():
        lines.append("| " + " | ".join(str(v).replace("|", "\\|").replace("\n", " ")[:60] for v in row) + " |")
    return "\n".join(lines)


# What a reader looks for first in a preview: whose row, when, what was said, then the numbers; ids
# (long digit strings that push everything else off screen) last.
_WHO = ("account_name", "username")
_WHEN = ("date", "week", "created_date", "created_at")
_WHAT = ("text",)


def reader_order(frame: pl.DataFrame, rows: int = 10, columns: int = 10, skip: tuple[str, ...] = ()) -> pl.DataFrame:
    """The first rows of frame, columns led by account, time and text, then counts; ids last; long
    text cut to 140 characters and times (UTC) to the minute, as a preview shows them."""
    names = [c for c in frame.columns if c not in skip]

    def rank(name: str) -> tuple[int, int]:
        if name in _WHO:
            return 0, _WHO.index(name)
        if name in _WHEN:
            return 1, _WHEN.index(name)
        if name in _WHAT:
            return 2, 0
        if name == "id" or name.endswith("_id"):
            return 5, 0
        return (3 if frame.schema[name].is_numeric() else 4), 0

    ordered = sorted(names, key=lambda n: (*rank(n), names.index(n)))[:columns]
    shown = frame.head(rows).select(ordered)
    fixes = []
    for name, dtype in shown.schema.items():
        if dtype == pl.String:
            text = pl.col(name).str.replace_all(r"\s+", " ")
            fixes.append(
                pl.when(text.str.len_chars() > 140).then(text.str.slice(0, 139) + "…").otherwise(text).alias(name)
            )
        elif isinstance(dtype, pl.Datetime):
            fixes.append(pl.col(name).dt.strftime("%Y-%m-%d %H:%MZ").alias(name))
        elif dtype.is_float():
            fixes.append(pl.col(name).round(4).alias(name))
    return shown.with_columns(fixes) if fixes else shown
