"""Charts of the derived insights: PNG files under data/ and Markdown images for the Dagster UI.

matplotlib draws them: the best-kept plotting library that renders to PNG with no browser or
server. Figures are built without pyplot so that threads and repeated runs share no global state.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from pathlib import Path
from typing import Any

import duckdb

from ..warehouse.tables import (
    ACCOUNT_INSIGHTS_TABLE,
    ENGAGEMENT_SQL,
    TWEET_ENGAGEMENT_TABLE,
    TWEET_METRICS_HISTORY_TABLE,
)

_SIZE = (8.0, 4.2)
_DPI = 90


Series = dict[str, tuple[list[dt.date], list[float]]]


def _series(rows: list[tuple[str, dt.date, float]]) -> Series:
    series: Series = {}
    for name, day, value in rows:
        days, values = series.setdefault(name, ([], []))
        days.append(day)
        values.append(value)
    return series


def _format_days(axes: Any, days: list[dt.date], ticks: int = 5) -> None:
    """Whole days on the x axis, with explicit limits.

    The data are daily, so an hourly tick would repeat a date; and with a single date matplotlib
    widens the axis to four years, which a day locator fills with 1,600 ticks (seconds to draw).
    """
    from matplotlib.dates import AutoDateLocator, DateFormatter, DayLocator

    if not days:
        return
    first, last = min(days), max(days)
    span = (last - first).days
    pad = dt.timedelta(days=max(1, span // 20))
    axes.set_xlim(first - pad, last + pad)  # type: ignore[arg-type]
    padded = span + 2 * pad.days
    locator = (
        DayLocator(interval=max(1, padded // ticks))
        if padded <= 28
        else AutoDateLocator(minticks=2, maxticks=ticks + 1)
    )
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(DateFormatter("%b %d"))


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})  # no version stamp: same data, same bytes
    return buffer.getvalue()


def _thousands(axes: Any) -> None:
    """1,234,567 on the y axis, not 1234567 or 1.2e6."""
    from matplotlib.ticker import StrMethodFormatter

    axes.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))


LINES_LIMIT = 12  # lines on one axis: past a dozen the legend is unreadable, and 500 take seconds to draw


def _largest(series: dict[str, tuple[list[Any], list[float]]], limit: int = LINES_LIMIT) -> list[str]:
    """The names of the series with the largest latest values, at most limit, sorted by name."""
    return sorted(sorted(series, key=lambda name: -series[name][1][-1])[:limit])


def _of_accounts(title: str, shown: int, total: int) -> str:
    return title if shown == total else f"{title}: the {shown} largest of {total} accounts"


def _lines(title: str, ylabel: str, series: Series, partial_from: dt.date | None = None) -> bytes:
    """The accounts on one log-scaled axis (the LINES_LIMIT largest): for values that differ by
    orders of magnitude. Points from partial_from on are an unfinished period: drawn hollow on a
    dotted line, and labelled, so a week half-lived does not read as a collapse."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=_SIZE, dpi=_DPI, layout="constrained")
    axes = figure.add_subplot()
    shown = _largest(series)
    title = _of_accounts(title, len(shown), len(series))
    series = {name: series[name] for name in shown}
    for name, (days, values) in sorted(series.items()):
        whole = [i for i, d in enumerate(days) if partial_from is None or d < partial_from]
        rest = [i for i in range(len(days)) if i not in whole]

        def pick(indexes: list[int], days: list[dt.date] = days, values: list[float] = values) -> tuple[Any, Any]:
            return [days[i] for i in indexes], [values[i] for i in indexes]  # matplotlib plots dates as given

        (line,) = axes.plot(*pick(whole), marker="o", markersize=3, linewidth=1.5, label=name)
        if rest:  # the dotted line continues from the last whole period
            axes.plot(*pick(whole[-1:] + rest), linestyle=":", linewidth=1.5, color=line.get_color())
            axes.plot(*pick(rest), "o", mfc="white", color=line.get_color())
    if partial_from is not None and any(d >= partial_from for days, _ in series.values() for d in days):
        axes.annotate(
            "hollow: the current week, still partial",
            xy=(0.99, 0.02),
            xycoords="axes fraction",
            ha="right",
            fontsize="x-small",
            color="dimgray",
        )
    if series:
        axes.set_yscale("log")
        axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    else:
        axes.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=axes.transAxes)
    axes.set_title(title)
    axes.set_ylabel(ylabel)
    axes.grid(True, alpha=0.3)
    _format_days(axes, [d for days, _ in series.values() for d in days])
    return _png(figure)


def _small_multiples(title: str, series: Series, limit: int = 12) -> bytes:
    """One linear panel per account, so a gain of 50 shows next to an account of millions."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    # The accounts with the most followers at their latest snapshot, when there are too many to draw.
    shown = _largest(series, limit)
    columns = min(4, max(1, len(shown)))
    rows = max(1, -(-len(shown) // columns))
    figure = Figure(figsize=(2.6 * columns + 0.4, 1.9 * rows + 0.6), dpi=_DPI, layout="constrained")
    heading = _of_accounts(title, len(shown), len(series))
    figure.suptitle(heading)
    if not shown:
        figure.text(0.5, 0.5, "no data yet", ha="center", va="center")
    for i, name in enumerate(sorted(shown)):
        axes = figure.add_subplot(rows, columns, i + 1)
        days, values = series[name]
        axes.plot(days, values, marker="o", markersize=3, linewidth=1.5)  # type: ignore[arg-type]
        axes.set_title(name, fontsize="small")
        axes.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
        _thousands(axes)
        axes.tick_params(labelsize="x-small")
        axes.grid(True, alpha=0.3)
        _format_days(axes, days, ticks=3)  # a small panel: three dates fit without touching
    return _png(figure)


def followers_chart(conn: duckdb.DuckDBPyConnection, schema: str, last: dt.date) -> bytes:
    """Followers over time, one line per account, up to the day last (UTC)."""
    rows = conn.execute(
        f"SELECT account_name, date, followers_count FROM {ACCOUNT_INSIGHTS_TABLE.in_schema(schema).qualified} "
        "WHERE date <= ? AND followers_count IS NOT NULL ORDER BY account_name, date",
        [last],
    ).fetchall()
    return _small_multiples("Followers per account (daily snapshots, UTC)", _series(rows))


def weekly_engagement_chart(conn: duckdb.DuckDBPyConnection, schema: str, last: dt.date) -> bytes:
    """Engagement of each account's posts, summed per ISO week of creation, up to the day last."""
    rows = conn.execute(
        f"SELECT account_name, week, sum(engagement) FROM {TWEET_ENGAGEMENT_TABLE.in_schema(schema).qualified} "
        "WHERE created_date <= ? GROUP BY ALL ORDER BY account_name, week",
        [last],
    ).fetchall()
    title = "Weekly engagement of posts (likes + retweets + replies + quotes)"
    monday = last - dt.timedelta(days=last.weekday())
    partial = monday if last.weekday() < 6 else None  # the week of the day last ends on its Sunday
    return _lines(title, "engagement per ISO week (log)", _series(rows), partial_from=partial)


CURVE_DAYS = 28  # posts of the last four weeks make the curve
CURVE_MAX_AGE = 7


def engagement_curve_chart(conn: duckdb.DuckDBPyConnection, schema: str, last: dt.date) -> bytes:
    """The average engagement curve per account: mean engagement of its posts by age in days (1 to
    7), over the posts created in the four weeks up to the day last, from tweet_metrics_history."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    history = TWEET_METRICS_HISTORY_TABLE.in_schema(schema).qualified
    rows = conn.execute(
        f"SELECT account_name, age_days, avg({ENGAGEMENT_SQL}), count(*) "
        # from age 1: a post read on its first day has lived only part of it
        f"FROM {history} WHERE created_date BETWEEN ? AND ? AND age_days BETWEEN 1 AND ? "
        "AND NOT is_retweet GROUP BY ALL ORDER BY account_name, age_days",
        [last - dt.timedelta(days=CURVE_DAYS - 1), last, CURVE_MAX_AGE],
    ).fetchall()
    curves: dict[str, tuple[list[int], list[float]]] = {}
    for name, age, value, _ in rows:
        ages, values = curves.setdefault(name, ([], []))
        ages.append(age)
        values.append(float(value))
    figure = Figure(figsize=_SIZE, dpi=_DPI, layout="constrained")
    axes = figure.add_subplot()
    shown = _largest(curves)
    for name in shown:
        ages, values = curves[name]
        axes.plot(ages, values, marker="o", markersize=3, linewidth=1.5, label=name)
    if curves:
        axes.set_yscale("log")
        axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    else:
        axes.text(0.5, 0.5, "no observations yet", ha="center", va="center", transform=axes.transAxes)
    axes.set_xlim(0.7, CURVE_MAX_AGE + 0.3)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    title = f"Average engagement by post age (posts of the {CURVE_DAYS} days to {last:%b %d}, retweets aside)"
    axes.set_title(_of_accounts(title, len(shown), len(curves)))
    axes.set_xlabel("age of the post when read (UTC days)")
    axes.set_ylabel("mean engagement (log)")
    axes.grid(True, alpha=0.3)
    return _png(figure)


def save_chart(png: bytes, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".png.partial")
    partial.write_bytes(png)
    partial.replace(path)  # a reader never sees half a file
    return path


def markdown_image(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"
