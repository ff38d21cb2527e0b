"""Environment of the job_monitor function, parsed once per process (DEVELOPERS.md, "Lambda environment")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Settings:
    alerts_topic_arn: str
    baselines_table_name: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Fail the cold start, loudly, on a missing variable rather than every record later."""
        missing = [name for name in ("ALERTS_TOPIC_ARN", "BASELINES_TABLE_NAME") if not env.get(name)]
        if missing:
            raise RuntimeError(f"missing environment variables: {', '.join(missing)}")
        return cls(alerts_topic_arn=env["ALERTS_TOPIC_ARN"], baselines_table_name=env["BASELINES_TABLE_NAME"])
