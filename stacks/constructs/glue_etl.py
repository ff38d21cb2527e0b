"""Glue: the POS CSV ETL into the `sales` table and the daily compaction of yesterday's partitions.

Scheduling choice: the ETL runs from a Glue *scheduled* trigger (hourly by default), not from S3
events. Job bookmarks already make each run pick up only files it has not processed, so polling is
idempotent and cheap; stores drop one file per day, and an event per file would start one job per file
(each with Glue's start-up time and minimum billing) and race bookmarks between concurrent runs. A drop
is in the lake within the hour, which is what the café's analysts need.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from glue_jobs.compact_partitions import COMPACTION_ROOT
from glue_jobs.pos_csv_etl import SOURCE as POS_QUARANTINE_SOURCE
from lakewatch.domain.tables import LAKE_ROOT, QUARANTINE_ROOT, SALES, TABLES
from stacks.config import GLUE_TEMP_ROOT, LANDING_POS_PREFIX, StageConfig
from stacks.constructs.bundling import REPO_ROOT, domain_package_asset
from stacks.constructs.catalog import table_construct_id
from stacks.constructs.functions import METRICS_NAMESPACE
from stacks.constructs.permissions import allow_objects, allow_secret_read, default_policy
from stacks.nag import acknowledge_wildcards

GLUE_VERSION = "5.0"
GLUE_SCRIPTS_DIR = REPO_ROOT / "glue_jobs"
POS_ETL_SCRIPT = GLUE_SCRIPTS_DIR / "pos_csv_etl.py"
COMPACTION_SCRIPT = GLUE_SCRIPTS_DIR / "compact_partitions.py"
#: Same msgspec as the Lambda layer: the domain validation code needs it on the Glue workers too.
ADDITIONAL_PYTHON_MODULES = "msgspec==0.22.0"
GLUE_LOG_GROUPS = "/aws-glue/*"
#: Where Glue's own job metrics (--enable-metrics) go.
GLUE_METRICS_NAMESPACE = "Glue"


class GlueJobs(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        key: kms.IKey,
        bucket: s3.IBucket,
        pii_key_secret: secretsmanager.ISecret,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._key = key
        self._bucket = bucket
        self.security_configuration = glue.CfnSecurityConfiguration(
            self,
            "SecurityConfiguration",
            name=f"{config.resource_prefix}-glue",
            encryption_configuration=glue.CfnSecurityConfiguration.EncryptionConfigurationProperty(
                s3_encryptions=[
                    glue.CfnSecurityConfiguration.S3EncryptionProperty(
                        s3_encryption_mode="SSE-KMS", kms_key_arn=key.key_arn
                    )
                ],
                cloud_watch_encryption=glue.CfnSecurityConfiguration.CloudWatchEncryptionProperty(
                    cloud_watch_encryption_mode="SSE-KMS", kms_key_arn=key.key_arn
                ),
                job_bookmarks_encryption=glue.CfnSecurityConfiguration.JobBookmarksEncryptionProperty(
                    job_bookmarks_encryption_mode="CSE-KMS", kms_key_arn=key.key_arn
                ),
            ),
        )
        self._domain_package = domain_package_asset(self, "DomainPackage")
        common_arguments = {
            "--lake_bucket": bucket.bucket_name,
            "--extra-py-files": self._domain_package.s3_object_url,
            "--enable-continuous-cloudwatch-log": "true",
            "--enable-metrics": "true",
            "--TempDir": bucket.s3_url_for_object(f"{GLUE_TEMP_ROOT}/"),
        }

        # The POS job also publishes its own row counts (PosRowsWritten, PosRowsQuarantined) for its alarm.
        etl_role = self._role(
            "PosCsvEtlRole", "POS CSV ETL", metric_namespaces=(GLUE_METRICS_NAMESPACE, METRICS_NAMESPACE)
        )
        allow_objects(
            etl_role, bucket, ["s3:GetObject"], f"{LANDING_POS_PREFIX}*", "The ETL reads the CSV drops of every store."
        )
        allow_objects(
            etl_role,
            bucket,
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            f"{SALES.prefix}*",
            "Spark writes Parquet into dt= partitions of the sales table (and cleans up its own temporary files).",
        )
        allow_objects(
            etl_role,
            bucket,
            ["s3:PutObject"],
            f"{QUARANTINE_ROOT}/{POS_QUARANTINE_SOURCE}/*",
            "Rejected CSV rows are written, masked and with their reason, under the POS job's own quarantine/ folder.",
        )
        allow_secret_read(etl_role, pii_key_secret, key)
        self.pos_csv_etl_role = etl_role
        self.pos_csv_etl = self._job(
            "PosCsvEtl",
            script=POS_ETL_SCRIPT,
            role=etl_role,
            description="lakewatch: store POS CSV drops (landing/pos/) -> sales table, bookmarks: each file once",
            max_concurrent_runs=1,
            arguments={
                **common_arguments,
                "--job-bookmark-option": "job-bookmark-enable",
                "--additional-python-modules": ADDITIONAL_PYTHON_MODULES,
                "--landing_prefix": LANDING_POS_PREFIX,
                "--pii_key_secret_arn": pii_key_secret.secret_arn,
            },
        )

        compaction_role = self._role("CompactionRole", "partition compaction")
        allow_objects(
            compaction_role,
            bucket,
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            f"{LAKE_ROOT}/*",
            "Compaction rewrites the files of any lake table's partition: read, write the merged file, delete the "
            "small ones after verification.",
        )
        allow_objects(
            compaction_role,
            bucket,
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            f"{COMPACTION_ROOT}/*",
            "Compaction stages, verifies and records (manifest) each run outside the table prefixes, then cleans up.",
        )
        # One compaction job per table, each with at most one run at a time: the compaction protocol forbids
        # two runs on the same table and day, and a single job shared by the tables would need a concurrency
        # of one per table, which would also let two runs of one table overlap.
        self.compactions: dict[str, glue.CfnJob] = {
            table.name: self._job(
                f"Compact{table_construct_id(table).removesuffix('Table')}",
                script=COMPACTION_SCRIPT,
                role=compaction_role,
                description=f"lakewatch: rewrite a day's small Firehose files of {table.name} into few large ones "
                "(verify, then swap)",
                max_concurrent_runs=1,
                arguments={**common_arguments, "--job-bookmark-option": "job-bookmark-disable", "--table": table.name},
            )
            for table in TABLES.values()
        }

        self.pos_csv_etl_trigger = glue.CfnTrigger(
            self,
            "PosCsvEtlSchedule",
            type="SCHEDULED",
            description="lakewatch: pick up new POS CSV drops",
            schedule=config.glue.pos_etl_schedule,
            start_on_creation=True,
            actions=[glue.CfnTrigger.ActionProperty(job_name=self.pos_csv_etl.ref)],
        )
        # No --dt: the job compacts yesterday (UTC) by default, the day Firehose has finished writing.
        self.compaction_trigger = glue.CfnTrigger(
            self,
            "CompactionSchedule",
            type="SCHEDULED",
            description="lakewatch: compact yesterday's partitions of every lake table",
            schedule=config.glue.compaction_schedule,
            start_on_creation=True,
            actions=[glue.CfnTrigger.ActionProperty(job_name=job.ref) for job in self.compactions.values()],
        )
        self.jobs = (self.pos_csv_etl, *self.compactions.values())

    def _role(
        self, role_id: str, purpose: str, *, metric_namespaces: tuple[str, ...] = (GLUE_METRICS_NAMESPACE,)
    ) -> iam.Role:
        role = iam.Role(
            self,
            role_id,
            assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
            description=f"lakewatch Glue {purpose}: its script, its lake prefixes, encrypted logs",
        )
        self._key.grant(role, "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey")
        _allow_asset_read(role, self._domain_package)
        role.add_to_policy(
            iam.PolicyStatement(actions=["s3:GetBucketLocation", "s3:ListBucket"], resources=[self._bucket.bucket_arn])
        )
        allow_objects(
            role,
            self._bucket,
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            f"{GLUE_TEMP_ROOT}/*",
            "Glue's --TempDir: the scratch files of a job run live (and expire) under glue-temp/.",
        )
        log_groups = Stack.of(self).format_arn(
            service="logs",
            resource="log-group",
            resource_name=GLUE_LOG_GROUPS,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey"],
                resources=[log_groups],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={
                    "StringEquals": {
                        "cloudwatch:namespace": list(metric_namespaces)
                        if len(metric_namespaces) > 1
                        else metric_namespaces[0]
                    }
                },
            )
        )
        acknowledge_wildcards(
            role,
            {
                "Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:"
                f"{GLUE_LOG_GROUPS}": "Glue names its continuous-logging groups after the security "
                "configuration at run time, always under /aws-glue/.",
                "Resource::*": "cloudwatch:PutMetricData has no resource-level permissions; the statement is "
                f"limited by condition to the namespaces {', '.join(metric_namespaces)}.",
            },
        )
        return role

    def _job(
        self,
        job_id: str,
        *,
        script: Path,
        role: iam.Role,
        description: str,
        max_concurrent_runs: int,
        arguments: dict[str, str],
    ) -> glue.CfnJob:
        script_asset = s3_assets.Asset(self, f"{job_id}Script", path=str(script))
        _allow_asset_read(role, script_asset)
        glue_config = self._config.glue
        job = glue.CfnJob(
            self,
            job_id,
            description=description,
            role=role.role_arn,
            command=glue.CfnJob.JobCommandProperty(
                name="glueetl", python_version="3", script_location=script_asset.s3_object_url
            ),
            glue_version=GLUE_VERSION,
            worker_type=glue_config.worker_type.value,
            number_of_workers=glue_config.number_of_workers,
            timeout=glue_config.timeout_minutes,
            max_retries=1,
            execution_property=glue.CfnJob.ExecutionPropertyProperty(max_concurrent_runs=max_concurrent_runs),
            security_configuration=self.security_configuration.name,
            default_arguments={"--job-language": "python", **arguments},
        )
        job.add_resource_dependency(self.security_configuration)
        job.node.add_dependency(default_policy(role))
        return job


def _allow_asset_read(role: iam.Role, asset: s3_assets.Asset) -> None:
    """Read exactly one asset object (CDK's `grant_read` would open the whole staging bucket)."""
    role.add_to_policy(
        iam.PolicyStatement(actions=["s3:GetObject"], resources=[asset.bucket.arn_for_objects(asset.s3_object_key)])
    )
