"""Compliance of the synthesized app: cdk-nag (AwsSolutions) reports nothing unacknowledged, cfn-lint no errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match
from aws_cdk.aws_iam import CfnPolicy
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import lint_file
from constructs import IConstruct

from stacks.nag import nag_arn
from tests.infrastructure.conftest import Synth, synthesize


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("compliance"))


def test_cdk_nag_reports_no_unacknowledged_finding(synth: Synth) -> None:
    # Given the synthesized app (cross-stack references resolved, as during `cdk synth`)
    # When the AwsSolutions pack checks the whole construct tree
    report = AwsSolutionsChecks().validate_scope(synth.app)
    # Then there is no error and no warning left
    findings = [
        f"{violation.severity} {violation.rule_name} at {resource.construct_path}"
        for violation in report.violations
        for resource in violation.violating_resources
    ]
    assert findings == []
    assert report.success


@pytest.mark.parametrize("stack", ["storage", "pipeline"])
def test_no_error_or_warning_annotations(synth: Synth, stack: str) -> None:
    annotations = Annotations.from_stack(getattr(synth, stack))
    assert annotations.find_error("*", Match.any_value()) == []
    assert annotations.find_warning("*", Match.any_value()) == []


def test_every_acknowledgement_names_a_rule_and_says_why(synth: Synth) -> None:
    acknowledgements = list(_acknowledgements(synth.app))
    assert acknowledgements
    for path, rule, reason in acknowledgements:
        # A bare IAM5 would hide every wildcard of the resource: only finding-specific ones are allowed
        assert rule != "AwsSolutions-IAM5", path
        assert rule.startswith("AwsSolutions-"), (path, rule)
        assert len(reason.split()) >= 8, (path, rule, reason)
        # Acknowledgements sit on resources (or their parents), never on a stack or the app
        assert path.count("/") >= 1, (path, rule)


def test_an_unacknowledged_finding_fails_the_synth(tmp_path: Path) -> None:
    # Given an app with the same plugin wiring and an unlogged bucket nobody acknowledged
    app = App(outdir=str(tmp_path), builtin_cloud_formation_validation=False)
    stack = Stack(app, "Sloppy")
    s3.Bucket(stack, "Unlogged", enforce_ssl=True)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    # When it is synthesized, Then synthesis stops and names the rule
    with pytest.raises(RuntimeError, match="AwsSolutions-S1"):
        app.synth()


def test_cross_stack_arns_in_acknowledgements_name_the_output_cdk_publishes(synth: Synth) -> None:
    # A pipeline grant on the lake bucket is reported by cdk-nag through the storage stack's published output
    printed = json.loads(nag_arn(synth.storage.lake_bucket, consumer=synth.pipeline))
    output_name = printed["Fn::GetStackOutput"]["OutputName"]
    assert output_name in synth.storage_template.to_json()["Outputs"]


@pytest.mark.parametrize("stack", ["storage", "pipeline"])
def test_cfn_lint_finds_no_errors(synth: Synth, stack: str) -> None:
    template = synth.outdir / getattr(synth, stack).template_file
    errors = [match for match in lint_file(template) if match.rule.id.startswith("E")]
    assert [f"{match.rule.id} {match.message} ({match.path})" for match in errors] == []


def _acknowledgements(root: IConstruct):
    """(construct path, rule id, reason) of every `Validations.acknowledge` in the tree."""
    key = Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    for construct in root.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == key and entry.data:
                for rule, reason in entry.data.items():
                    yield construct.node.path, rule.split("::", 1)[-1], reason


def test_every_wildcard_acknowledgement_names_a_wildcard_its_role_still_has(synth: Synth) -> None:
    """A stale acknowledgement would silently let the same wildcard back in later, unreviewed."""
    stale = []
    for path, rule, _reason in _acknowledgements(synth.app):
        if not rule.startswith("AwsSolutions-IAM5["):
            continue
        finding = rule.removeprefix("AwsSolutions-IAM5[").removesuffix("]")
        granted = _granted(synth, path)
        kind, _, value = finding.partition("::")
        if kind == "Action" and value not in granted["Action"]:
            stale.append((path, finding))
        if kind == "Resource" and value == "*" and "*" not in granted["Resource"]:
            stale.append((path, finding))
    assert stale == [], stale


def _granted(synth: Synth, role_path: str) -> dict[str, set[str]]:
    """The actions and literal resources of every statement in the inline policies of the role at `role_path`."""
    granted: dict[str, set[str]] = {"Action": set(), "Resource": set()}
    for stack in (synth.storage, synth.pipeline):
        for construct in stack.node.find_all():
            if isinstance(construct, CfnPolicy) and construct.node.path.startswith(f"{role_path}/"):
                for statement in stack.resolve(construct.policy_document)["Statement"]:
                    for field in ("Action", "Resource"):
                        values = statement[field] if isinstance(statement[field], list) else [statement[field]]
                        granted[field] |= {value for value in values if isinstance(value, str)}
    return granted
