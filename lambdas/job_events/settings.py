"""Environment of the job_events function, parsed once per process (DEVELOPERS.md, "Lambda environment").

The price variables are named after the fields of `job_events.Prices` (`PRICE_GLUE_DPU_HOUR`, ...), so a new
price is declared once there; an absent one keeps its public on-demand default.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from lambda_common.settings import required

from lakewatch.domain.job_events import ClientPolicy, Prices

PRICE_PREFIX = "PRICE_"
#: `MONITORED_JOBS`: only the jobs tagged `lakewatch:client` (the default), or every job of the account.
TAGGED_JOBS = "tagged"
ALL_JOBS = "all"


def price_variable(field_name: str) -> str:
    return PRICE_PREFIX + field_name.upper()


@dataclass(frozen=True, slots=True)
class Settings:
    events_raw_stream_name: str
    policy: ClientPolicy
    prices: Prices

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Fail the cold start, loudly, on a missing or malformed variable rather than every event later."""
        (stream,) = required(env, "EVENTS_RAW_STREAM_NAME")
        return cls(
            events_raw_stream_name=stream,
            policy=ClientPolicy(
                monitor_all_jobs=_monitors_all(env.get("MONITORED_JOBS") or TAGGED_JOBS),
                client_by_job=_names("CLIENT_BY_JOB", env.get("CLIENT_BY_JOB") or "{}"),
            ),
            prices=Prices(
                **{
                    field.name: _price(price_variable(field.name), env[price_variable(field.name)])
                    for field in dataclasses.fields(Prices)
                    if env.get(price_variable(field.name))
                }
            ),
        )


def _monitors_all(text: str) -> bool:
    if text not in (TAGGED_JOBS, ALL_JOBS):
        raise RuntimeError(f"MONITORED_JOBS: expected {TAGGED_JOBS!r} or {ALL_JOBS!r}, got {text!r}")
    return text == ALL_JOBS


def _names(name: str, text: str) -> Mapping[str, str]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise RuntimeError(f"{name}: not valid JSON") from error
    if not isinstance(raw, dict) or not all(isinstance(value, str) and value.strip() for value in raw.values()):
        raise RuntimeError(f"{name}: expected a JSON object of job name -> client")
    return MappingProxyType({str(key): value.strip() for key, value in raw.items()})


def _price(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError as error:
        raise RuntimeError(f"{name}: expected a price in USD, got {text!r}") from error
    if not math.isfinite(value) or value < 0:
        raise RuntimeError(f"{name}: expected a finite price >= 0, got {text!r}")
    return value
