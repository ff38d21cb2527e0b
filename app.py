#!/usr/bin/env python3
"""The lakewatch CDK app: stage config from context, the two stacks, cdk-nag. Nothing else."""

from __future__ import annotations

from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from stacks.config import ConfigError, StageConfig
from stacks.constructs.bundling import MissingBuildArtifactError
from stacks.pipeline_stack import PipelineStack
from stacks.storage_stack import StorageStack


def build_app(**app_props: Any) -> tuple[App, StorageStack, PipelineStack]:
    """The whole app; tests call this with their own context and outdir, `cdk synth` with none."""
    app = App(**app_props)
    context = {key: app.node.try_get_context(key) for key in StageConfig.context_keys()}
    config = StageConfig.from_context(context)
    storage = StorageStack(
        app,
        "LakewatchStorage",
        stack_name=f"{config.resource_prefix}-storage",
        description="lakewatch stateful resources: KMS key, lake bucket, Glue catalog, Kinesis, DynamoDB, secret",
        config=config,
    )
    pipeline = PipelineStack(
        app,
        "LakewatchPipeline",
        stack_name=f"{config.resource_prefix}-pipeline",
        description="lakewatch stateless compute: Lambdas, Firehose, Glue jobs, SNS, alarms, Athena",
        config=config,
        storage=storage,
    )
    # cdk-nag 3 is a policy-validation plugin: any unacknowledged finding fails the synth.
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, storage, pipeline


if __name__ == "__main__":
    try:
        build_app()[0].synth()
    except (ConfigError, MissingBuildArtifactError) as error:
        raise SystemExit(f"lakewatch: {error}") from None
