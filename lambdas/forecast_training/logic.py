"""The weekly training: for each configured series, eight weeks of history, six direct models per key.

A series with no key at 14 days of history yet trains nothing (the hourly run trains it the hour it has).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from forecast_common.athena import read_series
from forecast_common.models import save_model
from forecast_common.settings import Settings

from lakewatch.domain.forecast import train_series
from lakewatch.domain.forecast_series import HISTORY, load_series


@dataclass(frozen=True, slots=True)
class Dependencies:
    settings: Settings
    athena: Any
    s3: Any


def train_all(deps: Dependencies, now: datetime) -> dict[str, str]:
    """Train and store every series; return {series: S3 key of its new model version}."""
    settings = deps.settings
    stored = {}
    for query in load_series(settings.series):
        history = read_series(
            deps.athena,
            query,
            workgroup=settings.athena_workgroup,
            database=settings.glue_database,
            until=now,
            length=HISTORY,
        )
        model = train_series(query.name, history, now)
        if model is not None:
            stored[query.name] = save_model(deps.s3, settings.lake_bucket, settings.model_prefix, model)
    return stored
