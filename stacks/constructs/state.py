"""Small stateful pieces: the job-run baselines table and the PII key secret."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from lakewatch.domain import baseline
from stacks.nag import acknowledge

BASELINES_PARTITION_KEY = "pk"
BASELINES_SORT_KEY = "sk"
BASELINES_TTL_ATTRIBUTE = "expires_at"


class BaselinesTable(Construct):
    """Per client/job duration baselines and alert markers (items owned by `lakewatch/domain/baseline.py`).

    The sparse index `by_last_run` holds only client/job states (markers lack its partition attribute),
    ordered by last run end, so the hourly overdue check reads the few candidates instead of scanning.
    `baseline.table_definition` is the same table for the local runner and tests.
    """

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=BASELINES_PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=BASELINES_SORT_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=BASELINES_TTL_ATTRIBUTE,
            deletion_protection=removal_policy == RemovalPolicy.RETAIN,
            removal_policy=removal_policy,
        )
        self.table.add_global_secondary_index(
            index_name=baseline.LAST_RUN_INDEX,
            partition_key=dynamodb.Attribute(
                name=baseline.LAST_RUN_INDEX_PARTITION, type=dynamodb.AttributeType.STRING
            ),
            sort_key=dynamodb.Attribute(name=baseline.LAST_RUN_INDEX_SORT, type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.INCLUDE,
            non_key_attributes=list(baseline.LAST_RUN_INDEX_ATTRIBUTES),
        )


class PiiKeySecret(Construct):
    """The key of the keyed hash that turns a customer into `customer_key` (transform and POS ETL)."""

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            description="lakewatch: key of the keyed hash behind customer_key. Never rotate (see README).",
            encryption_key=key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True, include_space=False
            ),
            removal_policy=removal_policy,
        )
        acknowledge(
            self.secret,
            "AwsSolutions-SMG4",
            "The PII hashing key must stay constant: rotating it would change every customer_key and break "
            "returning-customer counts across the whole lake history.",
        )
