"""Athena: the lakewatch workgroup and one named query per `athena/*.sql` file, discovered automatically."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_athena as athena
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from lakewatch.athena_sql import ATHENA_DIR, load_named_queries
from stacks.config import ATHENA_RESULTS_ROOT, StageConfig

ENGINE_VERSION = "Athena engine version 3"
_DESCRIPTION_LIMIT = 1024


def named_query_construct_id(name: str) -> str:
    return "".join(part.title() for part in name.split("_")) + "Query"


class AthenaAnalytics(Construct):
    """Enforced workgroup settings: engine v3, KMS-encrypted results that expire, a bytes-scanned cutoff.

    Results go to `athena-results/` in the lake bucket, whose lifecycle rule expires them after
    `athena_results_expiry_days`. Enforcement stops a console user from bypassing encryption or the cutoff.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        bucket: s3.IBucket,
        key: kms.IKey,
        database_name: str,
        queries_dir: Path = ATHENA_DIR,
    ) -> None:
        super().__init__(scope, construct_id)
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=config.resource_prefix,
            description="lakewatch analysts: sales and job-run named queries",
            state="ENABLED",
            recursive_delete_option=not config.is_production,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=config.athena_bytes_scanned_cutoff,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(selected_engine_version=ENGINE_VERSION),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=bucket.s3_url_for_object(f"{ATHENA_RESULTS_ROOT}/"),
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=key.key_arn
                    ),
                ),
            ),
        )
        self.named_queries: dict[str, athena.CfnNamedQuery] = {}
        for query in load_named_queries(queries_dir):
            named_query = athena.CfnNamedQuery(
                self,
                named_query_construct_id(query.name),
                name=query.name,
                description=query.purpose[:_DESCRIPTION_LIMIT],
                database=database_name,
                query_string=query.sql,
                work_group=self.workgroup.ref,
            )
            self.named_queries[query.name] = named_query
