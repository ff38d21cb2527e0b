"""A panel's query answer as a figure the report draws: plain JSON, independent of the charting library.

The shapes follow what Grafana does with the same answer: a time series in long form (time, a text column,
a value) becomes one series per text value (the Athena plugin's long-to-wide conversion), a bar chart's category
column labels the bars and every other column is a series, a stat panel shows every column of its one row, and
the matrix (peak hours) is Grafana's grouping-to-matrix of (column, row, value).
"""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from lakewatch.dashboards.model import Panel, Series
from lakewatch.local.queries import QueryResult

#: Grafana's named colours, as the report draws them.
COLORS = {
    "green": "#56a64b",
    "red": "#e02f44",
    "orange": "#ff9830",
    "blue": "#3274d9",
    "grey": "#8e8e8e",
    "purple": "#a352cc",
    "yellow": "#f2cc0c",
}
#: Series without a colour of their own take these in turn (Grafana's classic palette).
PALETTE = ("#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9", "#705da0", "#508642")


def json_value(value: Any) -> Any:
    """A cell as JSON: decimals as numbers, times as ISO text (UTC, like the lake). Infinity and NaN (what a
    double division by zero answers) become null, drawn as a gap: JSON has no such numbers, and one such cell
    must not stop the whole page being written."""
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes" if value.second == 0 else "seconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _series(panel: Panel, name: str, values: list[Any], index: int) -> dict[str, Any]:
    style = panel.series.get(name, Series())
    return {
        "name": style.label or name,
        "values": [json_value(value) for value in values],
        "color": COLORS.get(style.color or "", PALETTE[index % len(PALETTE)]),
        "points": style.points,
        "dashed": style.dashed,
        "fill_to": None,
        "band_edge": name in panel.band_edges(),
    }


def _time_label(value: Any) -> str:
    if isinstance(value, datetime) and value.hour == value.minute == value.second == 0:
        return value.date().isoformat()
    return str(json_value(value))


def _time_series(panel: Panel, result: QueryResult) -> dict[str, Any]:
    rows = result.rows
    long_form = len(result.columns) == 3 and all(isinstance(row[1], str) for row in rows)
    if long_form:
        times = sorted({row[0] for row in rows})
        names = list(dict.fromkeys(row[1] for row in rows))
        cells = {(row[0], row[1]): row[2] for row in rows}
        # Stacked panels add up (revenue, orders): a day without a row is a zero, not a gap.
        missing = 0 if panel.stacked else None
        series = [
            _series(panel, name, [cells.get((time, name), missing) for time in times], index)
            for index, name in enumerate(names)
        ]
    else:
        times = [row[0] for row in rows]
        columns = list(result.columns[1:])
        series = [
            _series(panel, column, [row[position] for row in rows], position - 1)
            for position, column in enumerate(columns, 1)
        ]
        for column, drawn in zip(columns, series, strict=True):
            lower = panel.series.get(column, Series()).fill_below_to
            # A band: this series is filled down to the other one, named by its position (how Chart.js fills).
            drawn["fill_to"] = columns.index(lower) if lower in columns else None
    return {"labels": [_time_label(time) for time in times], "series": series, "span_gaps": long_form}


def _bars(panel: Panel, result: QueryResult) -> dict[str, Any]:
    category = panel.category or result.columns[0]
    at = result.columns.index(category)
    others = [(position, column) for position, column in enumerate(result.columns) if position != at]
    return {
        "labels": [str(json_value(row[at])) for row in result.rows],
        "series": [
            _series(panel, column, [row[position] for row in result.rows], index)
            for index, (position, column) in enumerate(others)
        ],
    }


def _matrix(panel: Panel, result: QueryResult) -> dict[str, Any]:
    assert panel.matrix is not None
    x, y, value = (result.columns.index(name) for name in panel.matrix)
    return {
        "axes": list(panel.matrix),
        "cells": [{"x": row[x], "y": row[y], "v": json_value(row[value])} for row in result.rows],
    }


def figure(panel: Panel, result: QueryResult) -> dict[str, Any]:
    """What the report draws for one panel (`empty` when the answer has no rows, as Grafana says "No data")."""
    base: dict[str, Any] = {
        "kind": panel.kind,
        "unit": panel.unit,
        "stacked": panel.stacked,
        "horizontal": panel.horizontal,
        "empty": not result.rows,
    }
    if not result.rows:
        return base
    if panel.kind == "timeseries":
        return base | _time_series(panel, result)
    if panel.kind == "barchart":
        return base | _bars(panel, result)
    if panel.kind == "matrix":
        return base | _matrix(panel, result)
    if panel.kind == "stat":
        [row] = result.rows[:1]
        styles = [(column, panel.series.get(column, Series())) for column in result.columns]
        stats = [
            {"name": style.label or column.replace("_", " "), "value": json_value(value), "unit": style.unit}
            for (column, style), value in zip(styles, row, strict=True)
        ]
        return base | {"stats": stats, "decimals": panel.decimals}
    return base | {
        "columns": list(result.columns),
        "rows": [[json_value(value) for value in row] for row in result.rows],
        "link_columns": ["client"] if panel.links_to_investigation else [],
    }
