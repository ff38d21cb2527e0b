"""The two SNS topics: `alerts` (what people act on) and `ops` (pipeline-health alarms)."""

from __future__ import annotations

from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct


class Topics(Construct):
    """KMS-encrypted, TLS-only topics with e-mail subscriptions from the stage config.

    Subscribers of `alerts` can filter on the message attributes `alert_type`, `severity` and `client`
    (see the README for a filter-policy example); the e-mail subscriptions made here take everything.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        alert_emails: tuple[str, ...],
        ops_emails: tuple[str, ...],
    ) -> None:
        super().__init__(scope, construct_id)
        self.alerts = self._topic("Alerts", "lakewatch alerts", key, alert_emails)
        self.ops = self._topic("Ops", "lakewatch ops", key, ops_emails)

    def _topic(self, topic_id: str, display_name: str, key: kms.IKey, emails: tuple[str, ...]) -> sns.Topic:
        topic = sns.Topic(self, topic_id, display_name=display_name, master_key=key, enforce_ssl=True)
        for email in emails:
            topic.add_subscription(subscriptions.EmailSubscription(email))
        return topic
