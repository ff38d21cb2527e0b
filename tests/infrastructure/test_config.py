"""Stage settings: declared once, documented from the declarations, and a stage's values really apply."""

from __future__ import annotations

import json

import pytest

from stacks import config_docs
from stacks.config import GIB, STAGES_KEY, ConfigError, StageConfig
from tests.infrastructure.conftest import REPO_ROOT, Synth, resources, synthesize

CDK_CONTEXT = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]


def test_readme_configuration_table_is_the_generated_one() -> None:
    # The table is derived from the declarations and cdk.json's stages; regenerate with `make config-docs`
    readme = config_docs.README.read_text(encoding="utf-8")
    table = config_docs.settings_table(config_docs.cdk_json_stages())
    assert config_docs.readme_with_table(readme, table) == readme


def test_every_setting_has_one_key_a_description_and_a_valid_default() -> None:
    keys = StageConfig.context_keys()
    assert len(keys) == len(set(keys))
    for item in StageConfig.settings():
        assert len(item.spec.doc.split()) >= 3, item.key
    StageConfig()  # the defaults pass every check


def test_cdk_json_sets_no_flat_setting_and_only_what_differs_from_the_defaults() -> None:
    # A flat key in cdk.json would beat every stage's value (the old cause of dev deploying prod retention)
    flat = sorted(set(CDK_CONTEXT) & set(StageConfig.context_keys()) - {STAGES_KEY})
    assert flat == []
    assert sorted(key for key in CDK_CONTEXT if key != STAGES_KEY and not key.startswith("@")) == []
    defaults = {item.key: item.default for item in StageConfig.settings()}
    for stage, values in CDK_CONTEXT[STAGES_KEY].items():
        parsed = StageConfig.from_context({"stage": stage, STAGES_KEY: {stage: values}})
        for key in values:
            (path,) = [item.path for item in StageConfig.settings() if item.key == key]
            value = parsed
            for attribute in path:
                value = getattr(value, attribute)
            assert value != defaults[key], f"stages.{stage}.{key} repeats the default"


def test_command_line_beats_the_stage_which_beats_the_default() -> None:
    stages = {"dev": {"log_retention_days": 14, "transform_batch_size": 50}}
    from_stage = StageConfig.from_context({"stage": "dev", STAGES_KEY: stages})
    assert (from_stage.log_retention_days, from_stage.transform.batch_size) == (14, 50)
    assert from_stage.transform.retry_attempts == 3  # default
    from_command_line = StageConfig.from_context(
        {"stage": "dev", STAGES_KEY: stages, "log_retention_days": "30", "transform_retry_attempts": "6"}
    )
    assert from_command_line.log_retention_days == 30
    assert (from_command_line.transform.batch_size, from_command_line.transform.retry_attempts) == (50, 6)
    # A group's own default survives an override of its siblings
    assert from_command_line.job_monitor.parallelization_factor == 1


def test_the_dev_stage_of_cdk_json_is_what_the_readme_promises() -> None:
    # As app.py passes it: every context key, None where nothing was given
    absent = dict.fromkeys(StageConfig.context_keys())
    config = StageConfig.from_context({**absent, **CDK_CONTEXT, "stage": "dev"})
    assert (config.log_retention_days, config.athena_bytes_scanned_cutoff) == (14, GIB)
    assert config.removal_policy.value == "destroy"
    prod = StageConfig.from_context(CDK_CONTEXT)
    assert (prod.stage, prod.log_retention_days, prod.athena_bytes_scanned_cutoff) == ("prod", 90, 10 * GIB)


@pytest.mark.parametrize(
    "context",
    [
        {STAGES_KEY: {"prod": {"log_retension_days": 14}}},
        {"stage": "dev", STAGES_KEY: {"dev": {"transform_batch_size": "many"}}},
        {"overdue_interval_overrides": {"acme/x": -1}},
        {"log_retention_days": 2.5},
        {"glue_compaction_schedule": "daily"},
        {"stage": "Prod"},
        # A disposable key must never encrypt the account-wide Data Catalog
        {"stage": "dev", "removal_policy": "destroy", "glue_catalog_encryption": "this_stage"},
        # A record the stream drops while its mapping still retries is lost with no on-failure message: the
        # consumer must give up (and name it on its queue) while the stream still holds it, to re-drive from.
        {"transform_max_record_age_seconds": 86_400},
        {"job_monitor_max_record_age_seconds": 172_800, "stream_retention_hours": 48},
    ],
)
def test_typos_and_invalid_values_are_refused(context: dict) -> None:
    with pytest.raises(ConfigError):
        StageConfig.from_context(context)


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("dev"), stage="dev")


def test_stage_dev_synthesizes_14_day_logs_and_a_1_gib_scan_cutoff(dev: Synth) -> None:
    log_groups = resources(dev.pipeline_template, "AWS::Logs::LogGroup")
    assert log_groups
    assert {group["Properties"]["RetentionInDays"] for group in log_groups.values()} == {14}
    (workgroup,) = resources(dev.pipeline_template, "AWS::Athena::WorkGroup").values()
    assert workgroup["Properties"]["Name"] == "lakewatch-dev"
    assert workgroup["Properties"]["WorkGroupConfiguration"]["BytesScannedCutoffPerQuery"] == GIB
    # dev's key is destroyed with it, so the account's Data Catalog encryption is left to prod
    assert resources(dev.storage_template, "AWS::Glue::DataCatalogEncryptionSettings") == {}
