"""Helpers shared by the infrastructure tests: one synthesis per module, and CloudFormation value rendering.

Each test module builds the real app (`app.build_app`, the same wiring `cdk synth` runs, cdk-nag included)
once in a module-scoped fixture, with context that gives every setting a distinct value, so a setting
wired into the wrong slot cannot pass by coincidence.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import App
from aws_cdk.assertions import Template

from stacks.config import StageConfig
from stacks.pipeline_stack import PipelineStack
from stacks.storage_stack import StorageStack

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Distinct, non-default values for every event-source setting: a swapped slot changes a number.
DISTINCT_CONTEXT: dict[str, Any] = {
    "transform_batch_size": 250,
    "transform_batching_window_seconds": 7,
    "transform_retry_attempts": 4,
    "transform_max_record_age_seconds": 7200,
    "transform_parallelization_factor": 3,
    "job_monitor_batch_size": 50,
    "job_monitor_batching_window_seconds": 2,
    "job_monitor_retry_attempts": 6,
    "job_monitor_max_record_age_seconds": 1800,
    "job_monitor_parallelization_factor": 5,
    "firehose_buffer_size_mib": 96,
    "firehose_buffer_interval_seconds": 120,
    "athena_bytes_scanned_cutoff": 5_000_000_000,
    "athena_results_expiry_days": 9,
    "glue_worker_type": "G.2X",
    "glue_number_of_workers": 3,
    "glue_timeout_minutes": 45,
    "powertools_layer_version": 31,
    "alert_email": "oncall@example.com",
    "ops_emails": ["ops@example.com", "data-platform@example.com"],
    "overdue_interval_overrides": {"acme/nightly_load": 48},
}


@dataclass(frozen=True)
class Synth:
    app: App
    config: StageConfig
    storage: StorageStack
    pipeline: PipelineStack
    storage_template: Template
    pipeline_template: Template
    outdir: Path


def synthesize(outdir: Path, *, full_validation: bool = False, **overrides: Any) -> Synth:
    """The real app with cdk.json's context (feature flags included) plus `overrides`, synthesized once.

    CDK's built-in CloudFormation validation costs ~20 s per synth; the property tests skip it and
    rely on the cdk-nag + cfn-lint module (and `make synth`) for template validity.
    """
    import app as cdk_app

    context = {**json.loads((REPO_ROOT / "cdk.json").read_text())["context"], **overrides}
    app, storage, pipeline = cdk_app.build_app(
        context=context, outdir=str(outdir), builtin_cloud_formation_validation=full_validation
    )
    config = StageConfig.from_context(context)
    return Synth(
        app=app,
        config=config,
        storage=storage,
        pipeline=pipeline,
        storage_template=Template.from_stack(storage),
        pipeline_template=Template.from_stack(pipeline),
        outdir=outdir,
    )


def render(value: Any, refs: Mapping[str, str] | None = None) -> Any:
    """Flatten CloudFormation intrinsics into text: `Ref`s from `refs` (else `<Id>`), joins, outputs, attributes."""
    refs = refs or {}
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list):
        return [render(item, refs) for item in value]
    if "Ref" in value:
        return refs.get(value["Ref"], f"<{value['Ref']}>")
    if "Fn::Join" in value:
        delimiter, parts = value["Fn::Join"]
        return delimiter.join(str(render(part, refs)) for part in parts)
    if "Fn::GetAtt" in value:
        resource, attribute = value["Fn::GetAtt"]
        return refs.get(f"{resource}.{attribute}", f"<{resource}.{attribute}>")
    if "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        return value["Fn::Sub"]
    if "Fn::GetStackOutput" in value:
        output = value["Fn::GetStackOutput"]["OutputName"]
        return refs.get(output, f"<{output}>")
    return {key: render(item, refs) for key, item in value.items()}


def resources(template: Template, resource_type: str, props: Any = None) -> dict[str, dict[str, Any]]:
    return (
        template.find_resources(resource_type, props) if props is not None else template.find_resources(resource_type)
    )


def logical_id(stack: Any, construct: Any) -> str:
    """The logical id of an L2 construct's CloudFormation resource."""
    return stack.get_logical_id(construct.node.default_child)
