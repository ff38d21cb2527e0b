"""Environment of the job_monitor function, parsed once per process (DEVELOPERS.md, "Lambda environment")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from lambda_common.settings import required

from lakewatch.domain import alerts


@dataclass(frozen=True, slots=True)
class Settings:
    alerts_topic_arn: str
    baselines_table_name: str
    #: The lake bucket; records job_monitor cannot process go under its `quarantine/job_monitor/` prefix.
    quarantine_bucket: str
    #: Where alert messages send their reader (the Grafana workspace, else the Athena console).
    alert_links: alerts.AlertLinks = field(default_factory=lambda: alerts.AlertLinks(region="us-east-1"))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        return cls(
            *required(env, "ALERTS_TOPIC_ARN", "BASELINES_TABLE_NAME", "QUARANTINE_BUCKET"),
            alert_links=alerts.AlertLinks.from_env(env),
        )
