"""The lake bucket (every prefix of the lake) and the bucket that receives its server access logs."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.config import (
    ATHENA_RESULTS_ROOT,
    BACKUP_ROOT,
    ERRORS_ROOT,
    GLUE_TEMP_ROOT,
    LAKE_PREFIX,
    LANDING_ROOT,
    QUARANTINE_PREFIX,
    LifecycleConfig,
)

_ABORT_UPLOADS_AFTER = Duration.days(7)


class LakeBuckets(Construct):
    """Lake bucket: versioned, KMS-encrypted, TLS-only, private, access-logged, with a rule per prefix.

    One bucket holds `lake/` (Parquet tables), `quarantine/`, `backup/` (Firehose source copies),
    `errors/` (Firehose delivery errors), `landing/` (POS CSV drops), `athena-results/` and
    `glue-temp/`, so one key, one policy and one access log cover all lake data. Versioning protects
    against a bad compaction or a mistaken delete; noncurrent versions expire so rewrites do not
    accumulate cost.

    `landing/` holds the raw till CSVs, card numbers in clear, so it keeps them only as long as
    re-processing needs: the hourly POS job reads a file within the hour, and a week
    (`landing_expiry_days`, default 7) leaves time to notice a bad run and re-run it (Glue bookmarks can
    be reset) over a weekend; once expired, the file's old version is gone a day later (as for every
    expiring prefix). The lake keeps only the masked rows, so nothing is lost when a drop expires.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        key: kms.IKey,
        lifecycle: LifecycleConfig,
        athena_results_expiry_days: int,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        # Server access logs can only be delivered to an SSE-S3 bucket, never an SSE-KMS one.
        self.access_logs_bucket = s3.Bucket(
            self,
            "AccessLogsBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            versioned=True,
            removal_policy=removal_policy,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(lifecycle.access_logs_expiry_days),
                    noncurrent_version_expiration=Duration.days(lifecycle.noncurrent_version_expiry_days),
                    abort_incomplete_multipart_upload_after=_ABORT_UPLOADS_AFTER,
                )
            ],
        )
        self.bucket = s3.Bucket(
            self,
            "LakeBucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix="lake-bucket/",
            removal_policy=removal_policy,
            lifecycle_rules=_lake_lifecycle_rules(lifecycle, athena_results_expiry_days),
        )


def _lake_lifecycle_rules(lifecycle: LifecycleConfig, athena_results_expiry_days: int) -> list[s3.LifecycleRule]:
    """One rule per prefix: the lake tiers (Athena still reads Intelligent-Tiering), the rest expires."""

    def expire(rule_id: str, prefix: str, days: int) -> s3.LifecycleRule:
        return s3.LifecycleRule(
            id=rule_id,
            prefix=prefix,
            expiration=Duration.days(days),
            noncurrent_version_expiration=Duration.days(1),
            abort_incomplete_multipart_upload_after=_ABORT_UPLOADS_AFTER,
        )

    return [
        s3.LifecycleRule(
            id="lake-tiering",
            prefix=LAKE_PREFIX,
            transitions=[
                s3.Transition(
                    storage_class=s3.StorageClass.INTELLIGENT_TIERING,
                    transition_after=Duration.days(lifecycle.lake_intelligent_tiering_days),
                )
            ],
            noncurrent_version_expiration=Duration.days(lifecycle.noncurrent_version_expiry_days),
            abort_incomplete_multipart_upload_after=_ABORT_UPLOADS_AFTER,
        ),
        expire("quarantine-expiry", QUARANTINE_PREFIX, lifecycle.quarantine_expiry_days),
        expire("backup-expiry", f"{BACKUP_ROOT}/", lifecycle.backup_expiry_days),
        expire("errors-expiry", f"{ERRORS_ROOT}/", lifecycle.errors_expiry_days),
        expire("landing-expiry", f"{LANDING_ROOT}/", lifecycle.landing_expiry_days),
        expire("athena-results-expiry", f"{ATHENA_RESULTS_ROOT}/", athena_results_expiry_days),
        expire("glue-temp-expiry", f"{GLUE_TEMP_ROOT}/", 7),
    ]
