"""Environment of the job_monitor function, parsed once per process (DEVELOPERS.md, "Lambda environment")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lambda_common.settings import required


@dataclass(frozen=True, slots=True)
class Settings:
    alerts_topic_arn: str
    baselines_table_name: str
    #: The lake bucket; records job_monitor cannot process go under its `quarantine/job_monitor/` prefix.
    quarantine_bucket: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        return cls(*required(env, "ALERTS_TOPIC_ARN", "BASELINES_TABLE_NAME", "QUARANTINE_BUCKET"))
