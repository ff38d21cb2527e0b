"""The customer-managed KMS key that encrypts everything lakewatch stores or queues."""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct


class LakeKey(Construct):
    """One key with yearly rotation for the lake, streams, table, secret, queues and topics.

    One key keeps grants simple and auditable (every reader or writer of lake data needs it). The key
    policy additionally lets the AWS services that encrypt on our behalf use it, each only for this account:
    CloudWatch alarms publish to the encrypted SNS topics, and CloudWatch Logs encrypts the log groups of the
    Lambdas, Firehose and Glue. EventBridge has no statement here: its rule publishes to the ops topic through
    an execution role (whose own policy grants the key), because KMS cannot check `aws:SourceAccount` for
    EventBridge-to-encrypted-topic deliveries, so a service-principal statement could not be scoped.
    """

    def __init__(self, scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description="lakewatch: lake bucket, Kinesis streams, baselines table, PII key secret, SNS and SQS",
            enable_key_rotation=True,
            rotation_period=Duration.days(365),
            pending_window=Duration.days(30),
            removal_policy=removal_policy,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowAlarmsToPublishToEncryptedTopics",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsToEncryptLogGroups",
                principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": (
                            f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*"
                        )
                    }
                },
            )
        )
