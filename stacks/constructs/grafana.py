"""Opt-in Grafana (`-c grafana=true`): an Amazon Managed Grafana workspace with the dashboards provisioned.

The workspace signs users in with IAM Identity Center (assign users and groups in the Grafana console once it is
deployed) and queries Athena with a customer-managed role that may only run queries in the lakewatch workgroup,
read the lakewatch Glue database and the lake's `lake/` objects, and read and write the workgroup's results. A
custom resource (`lambdas/grafana_provisioner/`) then creates or updates the Athena data source and the four
dashboards (the JSON of `lakewatch/dashboards/`) through the Grafana HTTP API with a short-lived token, and
removes them when the stack is deleted.
"""

from __future__ import annotations

import json

from aws_cdk import Aws, CustomResource, Duration, Stack
from aws_cdk import aws_grafana as grafana
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from lakewatch.dashboards.definitions import DASHBOARDS
from lakewatch.dashboards.grafana import DATASOURCE_TYPE, DATASOURCE_UID, dashboard_json
from lakewatch.domain.tables import LAKE_ROOT
from stacks.config import ATHENA_RESULTS_ROOT, StageConfig
from stacks.constructs.functions import FunctionSpec, LambdaFactory
from stacks.constructs.permissions import allow_objects, default_policy
from stacks.nag import acknowledge_wildcards

GRAFANA_VERSION = "10.4"
ATHENA_CATALOG = "AwsDataCatalog"


def datasource_definition(workgroup: str, database: str) -> dict[str, object]:
    """The Athena data source as the Grafana API takes it; `ec2_iam_role` is the workspace's own role."""
    return {
        "uid": DATASOURCE_UID,
        "name": "lakewatch Athena",
        "type": DATASOURCE_TYPE,
        "access": "proxy",
        "isDefault": True,
        "jsonData": {
            "authType": "ec2_iam_role",
            "defaultRegion": Aws.REGION,
            "catalog": ATHENA_CATALOG,
            "database": database,
            "workgroup": workgroup,
        },
    }


class GrafanaDashboards(Construct):
    """The workspace, its Athena role and the provisioning of the data source and dashboards."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        factory: LambdaFactory,
        bucket: s3.IBucket,
        key: kms.IKey,
        workgroup_name: str,
        database_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.role = iam.Role(
            self,
            "WorkspaceRole",
            description="lakewatch Grafana: Athena queries in the lakewatch workgroup over the lakewatch database",
            assumed_by=iam.ServicePrincipal(
                "grafana.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            ),
        )
        self._grant_athena(stack, bucket, key, workgroup_name, database_name)
        self.workspace = grafana.CfnWorkspace(
            self,
            "Workspace",
            name=config.resource_prefix,
            description="lakewatch dashboards: sales, batch client investigation, batch monitoring, job cost",
            account_access_type="CURRENT_ACCOUNT",
            authentication_providers=["AWS_SSO"],
            permission_type="CUSTOMER_MANAGED",
            role_arn=self.role.role_arn,
            data_sources=["ATHENA"],
            grafana_version=GRAFANA_VERSION,
        )
        self.url = f"https://{self.workspace.attr_endpoint}"

        provisioner = factory.create(
            self,
            FunctionSpec(
                name="grafana_provisioner",
                description="lakewatch: provision the Athena data source and the dashboards into Grafana",
                timeout=Duration.minutes(5),
            ),
        )
        workspace_arn = stack.format_arn(
            service="grafana", resource="/workspaces", resource_name=self.workspace.attr_id
        )
        provisioner.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "grafana:ListWorkspaceServiceAccounts",
                    "grafana:CreateWorkspaceServiceAccount",
                    "grafana:CreateWorkspaceServiceAccountToken",
                    "grafana:DeleteWorkspaceServiceAccountToken",
                ],
                resources=[workspace_arn],
            )
        )
        dashboards = [json.dumps(dashboard_json(dashboard), sort_keys=True) for dashboard in DASHBOARDS]
        self.provisioning = CustomResource(
            self,
            "Provisioning",
            service_token=provisioner.function_arn,
            resource_type="Custom::LakewatchGrafana",
            properties={
                "WorkspaceId": self.workspace.attr_id,
                "Endpoint": self.workspace.attr_endpoint,
                "DataSource": stack.to_json_string(datasource_definition(workgroup_name, database_name)),
                "Dashboards": dashboards,
            },
        )
        # The function's permissions are attached before it runs (and detached only after the delete ran).
        self.provisioning.node.add_dependency(default_policy(provisioner.role))

    def _grant_athena(
        self, stack: Stack, bucket: s3.IBucket, key: kms.IKey, workgroup_name: str, database_name: str
    ) -> None:
        workgroup_arn = stack.format_arn(service="athena", resource="workgroup", resource_name=workgroup_name)
        catalog_arn = stack.format_arn(service="athena", resource="datacatalog", resource_name=ATHENA_CATALOG)
        glue = [
            stack.format_arn(service="glue", resource="catalog"),
            stack.format_arn(service="glue", resource="database", resource_name=database_name),
            stack.format_arn(service="glue", resource="table", resource_name=f"{database_name}/*"),
        ]
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "athena:GetWorkGroup",
                    "athena:StartQueryExecution",
                    "athena:StopQueryExecution",
                    "athena:GetQueryExecution",
                    "athena:GetQueryResults",
                    "athena:BatchGetQueryExecution",
                ],
                resources=[workgroup_arn],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "athena:GetDataCatalog",
                    "athena:GetDatabase",
                    "athena:ListDatabases",
                    "athena:GetTableMetadata",
                    "athena:ListTableMetadata",
                ],
                resources=[catalog_arn],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "glue:GetDatabase",
                    "glue:GetDatabases",
                    "glue:GetTable",
                    "glue:GetTables",
                    "glue:GetPartition",
                    "glue:GetPartitions",
                    "glue:BatchGetPartition",
                ],
                resources=glue,
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["s3:GetBucketLocation", "s3:ListBucket"], resources=[bucket.bucket_arn])
        )
        allow_objects(
            self.role, bucket, ["s3:GetObject"], f"{LAKE_ROOT}/*",
            "Athena reads the lake tables' Parquet objects under lake/ on Grafana's behalf; nothing else.",
        )  # fmt: skip
        allow_objects(
            self.role, bucket, ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
            f"{ATHENA_RESULTS_ROOT}/*",
            "Athena writes and Grafana reads query results under the workgroup's athena-results/ prefix only.",
        )  # fmt: skip
        key.grant(self.role, "kms:Decrypt", "kms:GenerateDataKey")
        acknowledge_wildcards(
            self.role,
            {
                f"Resource::arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:table/{database_name}/*": (
                    "Grafana's Athena queries read every table of the lakewatch Glue database, and only that database."
                ),
            },
        )
