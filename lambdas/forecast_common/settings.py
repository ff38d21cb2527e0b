"""Environment of the forecast functions, parsed once per process (DEVELOPERS.md, "Lambda environment")."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from lambda_common.settings import numbers_by_name, positive_number, required

from lakewatch.domain.forecast_series import load_series


@dataclass(frozen=True, slots=True)
class Settings:
    lake_bucket: str
    #: Where model artefacts live in the lake bucket: `<prefix><series>/<model_version>.json` + `latest.json`.
    model_prefix: str
    athena_workgroup: str
    glue_database: str
    series: tuple[str, ...]
    # The hourly function's own settings; the training function leaves them empty.
    forecasts_delivery_stream: str = ""
    alerts_topic_arn: str = ""
    alert_claims_table_name: str = ""
    #: {"series" or "series/key": orders per hour}; the more specific key wins.
    breach_thresholds: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    drift_mase_threshold: float = 1.2

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, hourly: bool) -> Settings:
        """A series without its SQL file, or a malformed threshold, fails the cold start, not every hour."""
        bucket, prefix, workgroup, database, series_json = required(
            env, "LAKE_BUCKET", "MODEL_PREFIX", "ATHENA_WORKGROUP", "GLUE_DATABASE", "FORECAST_SERIES"
        )
        series = _names("FORECAST_SERIES", series_json)
        load_series(series)
        common = {
            "lake_bucket": bucket,
            "model_prefix": prefix,
            "athena_workgroup": workgroup,
            "glue_database": database,
            "series": series,
        }
        if not hourly:
            return cls(**common)
        stream, topic, table = required(env, "FORECASTS_DELIVERY_STREAM", "ALERTS_TOPIC_ARN", "ALERT_CLAIMS_TABLE_NAME")
        return cls(
            **common,
            forecasts_delivery_stream=stream,
            alerts_topic_arn=topic,
            alert_claims_table_name=table,
            breach_thresholds=numbers_by_name(
                "BREACH_THRESHOLDS", env.get("BREACH_THRESHOLDS") or "{}", positive_number
            ),
            drift_mase_threshold=positive_number("DRIFT_MASE_THRESHOLD", env.get("DRIFT_MASE_THRESHOLD") or "1.2"),
        )


def _names(name: str, text: str) -> tuple[str, ...]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise RuntimeError(f"{name}: not valid JSON") from error
    if not isinstance(raw, list) or not raw or not all(isinstance(item, str) for item in raw):
        raise RuntimeError(f"{name}: expected a non-empty JSON list of series names")
    return tuple(raw)
