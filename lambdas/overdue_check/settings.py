"""Environment of the overdue_check function, parsed once per process (DEVELOPERS.md, "Lambda environment")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from lambda_common.settings import hours, hours_by_name, required

from lakewatch.domain import alerts


@dataclass(frozen=True, slots=True)
class Settings:
    alerts_topic_arn: str
    baselines_table_name: str
    default_expected_interval_hours: float = 24.0
    grace_hours: float = 2.0
    #: {"client/job_name" or "job_name": hours}; the more specific key wins.
    expected_interval_overrides: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    #: Where alert messages send their reader (the Grafana workspace, else the Athena console).
    alert_links: alerts.AlertLinks = field(default_factory=lambda: alerts.AlertLinks(region="us-east-1"))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """A wrong interval would alert every client, so a malformed one fails the cold start."""
        alerts_topic_arn, baselines_table_name = required(env, "ALERTS_TOPIC_ARN", "BASELINES_TABLE_NAME")
        return cls(
            alerts_topic_arn=alerts_topic_arn,
            baselines_table_name=baselines_table_name,
            default_expected_interval_hours=hours(
                "DEFAULT_EXPECTED_INTERVAL_HOURS", env.get("DEFAULT_EXPECTED_INTERVAL_HOURS") or "24"
            ),
            grace_hours=hours("OVERDUE_GRACE_HOURS", env.get("OVERDUE_GRACE_HOURS") or "2"),
            expected_interval_overrides=hours_by_name(
                "EXPECTED_INTERVAL_OVERRIDES", env.get("EXPECTED_INTERVAL_OVERRIDES") or "{}"
            ),
            alert_links=alerts.AlertLinks.from_env(env),
        )

    def expected_interval_hours(self, client: str, job_name: str) -> float:
        overrides = self.expected_interval_overrides
        return overrides.get(f"{client}/{job_name}", overrides.get(job_name, self.default_expected_interval_hours))

    def shortest_overdue_hours(self) -> float:
        """No client/job can be overdue before this long after its last run: the smallest expected interval
        (default or any override) plus the grace period. The overdue check reads only runs older than that."""
        return (
            min((self.default_expected_interval_hours, *self.expected_interval_overrides.values())) + self.grace_hours
        )
