"""Stateful resources: everything whose replacement would lose data.

Kept apart from the pipeline so that a compute change can never replace a bucket, a table, a stream or
the key. The pipeline stack receives these constructs through its constructor (CDK wires the
cross-stack references); nothing here is exported by hand.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from constructs import Construct

from stacks.config import CatalogEncryption, RemovalPolicyName, StageConfig
from stacks.constructs.catalog import LakeCatalog
from stacks.constructs.encryption import LakeKey
from stacks.constructs.lake_bucket import LakeBuckets
from stacks.constructs.state import BaselinesTable, PiiKeySecret
from stacks.constructs.streams import PipelineStreams
from stacks.nag import acknowledge


class StorageStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, **kwargs: object) -> None:
        super().__init__(scope, construct_id, **kwargs)
        removal_policy = (
            RemovalPolicy.RETAIN if config.removal_policy is RemovalPolicyName.RETAIN else RemovalPolicy.DESTROY
        )
        self.key = LakeKey(self, "Encryption", removal_policy=removal_policy).key
        buckets = LakeBuckets(
            self,
            "Buckets",
            key=self.key,
            lifecycle=config.lifecycle,
            athena_results_expiry_days=config.athena_results_expiry_days,
            removal_policy=removal_policy,
        )
        self.lake_bucket = buckets.bucket
        self.access_logs_bucket = buckets.access_logs_bucket
        acknowledge(
            self.access_logs_bucket,
            "AwsSolutions-S1",
            "This is the server-access-log destination of the lake bucket; logging it would log its own logs.",
        )
        self.catalog = LakeCatalog(
            self,
            "Catalog",
            database_name=config.glue_database_name,
            bucket=self.lake_bucket,
            key=self.key,
            encrypts_catalog=config.glue_catalog_encryption is CatalogEncryption.THIS_STAGE,
        )
        self.streams = PipelineStreams(self, "Streams", key=self.key, config=config, removal_policy=removal_policy)
        self.baselines_table = BaselinesTable(self, "Baselines", key=self.key, removal_policy=removal_policy).table
        self.pii_key_secret = PiiKeySecret(self, "PiiKey", key=self.key, removal_policy=removal_policy).secret
