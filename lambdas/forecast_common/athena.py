"""A forecast series read from the lake through Athena: the series' SQL file, run with its history window.

The query runs in the lakewatch workgroup (encrypted results, bytes-scanned cutoff) with the two `dt` bounds
as execution parameters, and the function waits for it: a series query over eight weeks of Parquet takes
seconds. The rows become one dense `HourlySeries` per key (`forecast.series_from_rows`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from lakewatch.domain.forecast import HourlySeries, series_from_rows
from lakewatch.domain.forecast_series import SeriesQuery, history_dates

POLL_SECONDS = 1.0
_DONE = "SUCCEEDED"
_FAILED = frozenset({"FAILED", "CANCELLED"})


class SeriesQueryFailed(RuntimeError):
    """Athena could not answer a series query; the run fails and EventBridge retries it."""


def read_series(
    athena: Any,
    query: SeriesQuery,
    *,
    workgroup: str,
    database: str,
    until: datetime,
    length: timedelta,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, HourlySeries]:
    """The series' hours in the `length` before `until` (whole `dt` days: each origin cuts its own history)."""
    first, last = history_dates(until, length)
    execution_id = athena.start_query_execution(
        QueryString=query.sql,
        QueryExecutionContext={"Database": database},
        WorkGroup=workgroup,
        ExecutionParameters=[f"'{first}'", f"'{last}'"],
    )["QueryExecutionId"]
    _wait(athena, execution_id, query.name, sleep)
    return series_from_rows(_rows(athena, execution_id))


def _wait(athena: Any, execution_id: str, name: str, sleep: Callable[[float], None]) -> None:
    while True:
        status = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]["Status"]
        if status["State"] == _DONE:
            return
        if status["State"] in _FAILED:
            raise SeriesQueryFailed(f"series {name}: {status['State']} ({status.get('StateChangeReason', '')})")
        sleep(POLL_SECONDS)


def _rows(athena: Any, execution_id: str) -> Iterator[tuple[str, datetime, float]]:
    """Data rows of every result page; the first row of the first page is the header."""
    header_seen = False
    for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=execution_id):
        for row in page["ResultSet"]["Rows"]:
            if not header_seen:
                header_seen = True
                continue
            key, hour, value = (cell.get("VarCharValue") for cell in row["Data"])
            yield str(key), datetime.fromisoformat(str(hour)), float(value or 0)
