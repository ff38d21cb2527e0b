"""The forecast series: each defined once, as SQL over the lake that returns `(series_key, hour, value)`.

A series is a file `series_sql/<name>.sql` (Athena engine v3 SQL, tables unqualified, two parameters: the
first and last `dt` of the history wanted) and its name in the stage's `forecast_series` setting. The hourly
and weekly Lambdas run the file on Athena, the local runner on DuckDB; both hand the rows to
`forecast.series_from_rows`. The files live in the domain package so that the Lambda layer carries them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from lakewatch.domain.forecast import HOUR, TRAINING_HOURS, floor_hour
from lakewatch.domain.tables import PARTITION_DATE_FORMAT

SERIES_SQL_DIR = Path(__file__).with_name("series_sql")
#: The series forecast unless the stage says otherwise.
DEFAULT_SERIES = ("orders_by_store", "orders_total")
#: History the Lambdas read for a series: what a training run uses (`forecast.TRAINING_HOURS`), which also
#: covers a forecast's four weeks of profile and the drift window's week of re-scored forecasts.
HISTORY = TRAINING_HOURS * HOUR


@dataclass(frozen=True, slots=True)
class SeriesQuery:
    name: str
    sql: str


def available_series(directory: Path = SERIES_SQL_DIR) -> tuple[str, ...]:
    return tuple(sorted(path.stem for path in directory.glob("*.sql")))


def load_series(names: Iterable[str], directory: Path = SERIES_SQL_DIR) -> tuple[SeriesQuery, ...]:
    """The queries of `names`, in that order; an unknown name is an error, not a silently missing series."""
    queries = []
    for name in names:
        path = directory / f"{name}.sql"
        if not path.is_file():
            raise ValueError(f"no forecast series {name!r}: expected {path.name} among {available_series(directory)}")
        queries.append(SeriesQuery(name=name, sql=path.read_text(encoding="utf-8")))
    return tuple(queries)


def history_dates(until: datetime, length: timedelta) -> tuple[str, str]:
    """The series query's parameters: the first and last `dt` holding the `length` of hours before `until`."""
    end = floor_hour(until)
    first, last = end - length, end - HOUR
    return first.strftime(PARTITION_DATE_FORMAT), last.strftime(PARTITION_DATE_FORMAT)
