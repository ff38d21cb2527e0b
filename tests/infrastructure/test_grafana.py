"""`-c grafana=true`: the Managed Grafana workspace (IAM Identity Center sign-in, customer-managed role with
Athena/Glue/S3/KMS access to the lakewatch workgroup, database and lake only), the provisioning custom resource
carrying the dashboards' JSON, alert links to the workspace; cdk-nag and cfn-lint clean."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import lint_file

from lakewatch.dashboards.definitions import DASHBOARDS
from lakewatch.dashboards.grafana import DATASOURCE_UID, dashboard_json
from tests.infrastructure.conftest import Synth, render, synthesize


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("grafana"), grafana="true")


@pytest.fixture(scope="module")
def resources(synth: Synth) -> dict[str, dict[str, Any]]:
    return synth.pipeline_template.to_json()["Resources"]


def _one(resources: dict, resource_type: str) -> tuple[str, dict[str, Any]]:
    [(key, resource)] = [(key, value) for key, value in resources.items() if value["Type"] == resource_type]
    return key, resource["Properties"]


def test_the_workspace_signs_in_with_identity_center_and_queries_athena_with_its_own_role(resources: dict) -> None:
    _, workspace = _one(resources, "AWS::Grafana::Workspace")
    assert workspace["AuthenticationProviders"] == ["AWS_SSO"]
    assert workspace["PermissionType"] == "CUSTOMER_MANAGED"
    assert workspace["AccountAccessType"] == "CURRENT_ACCOUNT"
    assert workspace["DataSources"] == ["ATHENA"]
    role_key = workspace["RoleArn"]["Fn::GetAtt"][0]
    trust = resources[role_key]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [statement["Principal"] for statement in trust] == [{"Service": "grafana.amazonaws.com"}]
    assert all("aws:SourceAccount" in statement["Condition"]["StringEquals"] for statement in trust)


def test_the_workspace_role_reaches_the_lakewatch_workgroup_database_and_lake_only(resources: dict) -> None:
    _, workspace = _one(resources, "AWS::Grafana::Workspace")
    role_key = workspace["RoleArn"]["Fn::GetAtt"][0]
    [policy] = [
        value["Properties"]
        for value in resources.values()
        if value["Type"] == "AWS::IAM::Policy" and {"Ref": role_key} in value["Properties"]["Roles"]
    ]
    statements = policy["PolicyDocument"]["Statement"]
    resources_by_action: dict[str, list[str]] = {}
    for statement in statements:
        listed = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            resources_by_action.setdefault(action, []).extend(str(render(item)) for item in listed)
    assert all("*" not in action.split(":")[1] for action in resources_by_action)  # no wildcard actions
    assert resources_by_action["athena:StartQueryExecution"] == [
        "arn:<AWS::Partition>:athena:<AWS::Region>:<AWS::AccountId>:workgroup/lakewatch-prod"
    ]
    assert sorted(resources_by_action["glue:GetTable"]) == sorted([
        "arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:catalog",
        "arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:database/lakewatch",
        "arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:table/lakewatch/*",
    ])  # fmt: skip
    assert [resource.split("/", 1)[1] for resource in resources_by_action["s3:PutObject"]] == ["athena-results/*"]
    objects_read = sorted(resource.split("/", 1)[1] for resource in resources_by_action["s3:GetObject"])
    assert objects_read == ["athena-results/*", "lake/*"]
    assert not any(action.startswith(("s3:Delete", "glue:Create", "glue:Update", "glue:Delete"))
                   for action in resources_by_action)  # fmt: skip
    every_resource = [resource for listed in resources_by_action.values() for resource in listed]
    assert "*" not in every_resource


def test_the_provisioning_resource_carries_the_data_source_and_every_dashboard(resources: dict) -> None:
    _, provisioning = _one(resources, "Custom::LakewatchGrafana")
    assert [json.loads(text) for text in provisioning["Dashboards"]] == [dashboard_json(d) for d in DASHBOARDS]
    datasource = json.loads(render(provisioning["DataSource"]).replace("<AWS::Region>", "eu-west-1"))
    assert datasource["uid"] == DATASOURCE_UID
    assert datasource["jsonData"]["workgroup"] == "lakewatch-prod"
    assert datasource["jsonData"]["database"] == "lakewatch"
    assert datasource["jsonData"]["authType"] == "ec2_iam_role"


def test_the_provisioner_may_only_manage_tokens_of_this_workspace(resources: dict) -> None:
    provisioner = next(key for key, value in resources.items() if value["Type"] == "AWS::Lambda::Function"
                       and value["Properties"]["Handler"] == "grafana_provisioner.handler.handler")  # fmt: skip
    role_key = resources[provisioner]["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [s for value in resources.values() if value["Type"] == "AWS::IAM::Policy"
                  and {"Ref": role_key} in value["Properties"]["Roles"]
                  for s in value["Properties"]["PolicyDocument"]["Statement"]]  # fmt: skip
    grafana = [s for s in statements if str(s["Action"]).count("grafana:")]
    assert len(grafana) == 1
    assert "/workspaces/" in str(render(grafana[0]["Resource"]))


def test_alert_links_point_at_the_workspace(resources: dict) -> None:
    for handler in ("job_monitor.handler.handler", "overdue_check.handler.handler"):
        [variables] = [
            value["Properties"]["Environment"]["Variables"]
            for value in resources.values()
            if value["Type"] == "AWS::Lambda::Function" and value["Properties"]["Handler"] == handler
        ]
        assert "Endpoint" in json.dumps(variables["DASHBOARD_URL"])
        assert variables["ATHENA_WORKGROUP"] == "lakewatch-prod"


def test_cdk_nag_and_cfn_lint_are_clean_with_grafana(synth: Synth) -> None:
    report = AwsSolutionsChecks().validate_scope(synth.app)
    assert [v.rule_name for v in report.violations] == []
    errors = [m for m in lint_file(synth.outdir / synth.pipeline.template_file) if m.rule.id.startswith("E")]
    assert [f"{m.rule.id} {m.message}" for m in errors] == []
