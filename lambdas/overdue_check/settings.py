"""Environment of the overdue_check function, parsed once per process (DEVELOPERS.md, "Lambda environment")."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


def _hours(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError as error:
        raise RuntimeError(f"{name}: expected a number of hours, got {text!r}") from error
    if not math.isfinite(value) or value < 0:
        raise RuntimeError(f"{name}: expected a finite number of hours >= 0, got {text!r}")
    return value


def _overrides(text: str) -> Mapping[str, float]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise RuntimeError("EXPECTED_INTERVAL_OVERRIDES: not valid JSON") from error
    if not isinstance(raw, dict):
        raise RuntimeError('EXPECTED_INTERVAL_OVERRIDES: expected {"client/job_name" or "job_name": hours}')
    return MappingProxyType(
        {str(key): _hours(f"EXPECTED_INTERVAL_OVERRIDES[{key!r}]", str(value)) for key, value in raw.items()}
    )


@dataclass(frozen=True, slots=True)
class Settings:
    alerts_topic_arn: str
    baselines_table_name: str
    default_expected_interval_hours: float = 24.0
    grace_hours: float = 2.0
    #: {"client/job_name" or "job_name": hours}; the more specific key wins.
    expected_interval_overrides: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Fail the cold start on a missing or malformed variable: a wrong interval would alert every client."""
        missing = [name for name in ("ALERTS_TOPIC_ARN", "BASELINES_TABLE_NAME") if not env.get(name)]
        if missing:
            raise RuntimeError(f"missing environment variables: {', '.join(missing)}")
        return cls(
            alerts_topic_arn=env["ALERTS_TOPIC_ARN"],
            baselines_table_name=env["BASELINES_TABLE_NAME"],
            default_expected_interval_hours=_hours(
                "DEFAULT_EXPECTED_INTERVAL_HOURS", env.get("DEFAULT_EXPECTED_INTERVAL_HOURS") or "24"
            ),
            grace_hours=_hours("OVERDUE_GRACE_HOURS", env.get("OVERDUE_GRACE_HOURS") or "2"),
            expected_interval_overrides=_overrides(env.get("EXPECTED_INTERVAL_OVERRIDES") or "{}"),
        )

    def expected_interval_hours(self, client: str, job_name: str) -> float:
        overrides = self.expected_interval_overrides
        return overrides.get(f"{client}/{job_name}", overrides.get(job_name, self.default_expected_interval_hours))
