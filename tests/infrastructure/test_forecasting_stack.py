"""The forecast part of the pipeline stack: functions, schedules, the `forecasts` Firehose, drift alarms, and
what the Lambdas bundle against Lambda's size limit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from forecast_hourly.handler import DRIFT_METRIC as HANDLER_DRIFT_METRIC

from lakewatch.domain.forecast_schedule import HOURLY_RUN_MINUTE, WEEKLY_TRAINING_HOUR
from lakewatch.domain.tables import FORECASTS
from stacks.config import FORECAST_MODELS_PREFIX
from stacks.constructs.forecasting import DRIFT_METRIC
from tests.infrastructure.conftest import DISTINCT_CONTEXT, Synth, render, synthesize

FORECAST_CONTEXT = {
    **DISTINCT_CONTEXT,
    "forecast_series": "orders_total,orders_by_store",
    "forecast_breach_thresholds": {"orders_total": 400, "orders_by_store/web": 60},
    "forecast_drift_mase_threshold": 1.3,
}
#: Lambda's limit on a function's code plus all its layers, unzipped.
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
#: What lakewatch's own bundle (function code + shared layer) may use: the managed Powertools layer, whose
#: size we do not control, keeps the rest of the limit.
OWN_BUNDLE_BUDGET = 50 * 1024 * 1024


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("forecasting"), **FORECAST_CONTEXT)


@pytest.fixture(scope="module")
def resources(synth: Synth) -> dict[str, dict[str, Any]]:
    return synth.pipeline_template.to_json()["Resources"]


def _function(synth: Synth, resources: dict, function: Any) -> dict[str, Any]:
    return resources[synth.pipeline.get_logical_id(function.node.default_child)]["Properties"]


def _rules_targeting(resources: dict, function_id: str) -> list[dict[str, Any]]:
    return [
        rule["Properties"]
        for rule in resources.values()
        if rule["Type"] == "AWS::Events::Rule"
        and any(render(target["Arn"]) == f"<{function_id}.Arn>" for target in rule["Properties"]["Targets"])
    ]


def test_hourly_at_quarter_past_and_weekly_training_on_monday(synth: Synth, resources: dict) -> None:
    forecasting = synth.pipeline.forecasting
    hourly_id = synth.pipeline.get_logical_id(forecasting.hourly.node.default_child)
    training_id = synth.pipeline.get_logical_id(forecasting.training.node.default_child)
    (hourly,) = _rules_targeting(resources, hourly_id)
    (weekly,) = _rules_targeting(resources, training_id)
    assert hourly["ScheduleExpression"] == f"cron({HOURLY_RUN_MINUTE} * * * ? *)"
    assert weekly["ScheduleExpression"] == f"cron(0 {WEEKLY_TRAINING_HOUR} ? * MON *)"
    assert {rule["Targets"][0]["RetryPolicy"]["MaximumRetryAttempts"] for rule in (hourly, weekly)} == {2}


def test_the_functions_get_the_stage_settings(synth: Synth, resources: dict) -> None:
    forecasting = synth.pipeline.forecasting
    hourly = _function(synth, resources, forecasting.hourly)["Environment"]["Variables"]
    training = _function(synth, resources, forecasting.training)["Environment"]["Variables"]
    for variables in (hourly, training):
        assert json.loads(variables["FORECAST_SERIES"]) == ["orders_total", "orders_by_store"]
        assert variables["MODEL_PREFIX"] == FORECAST_MODELS_PREFIX
        assert variables["GLUE_DATABASE"] == synth.config.glue_database_name
    assert json.loads(hourly["BREACH_THRESHOLDS"]) == {"orders_total": 400, "orders_by_store/web": 60}
    assert hourly["DRIFT_MASE_THRESHOLD"] == "1.3"
    delivery_id = synth.pipeline.get_logical_id(forecasting.delivery.delivery_stream)
    assert render(hourly["FORECASTS_DELIVERY_STREAM"]) == f"<{delivery_id}>"


def test_forecasts_reach_the_lake_as_parquet_through_a_direct_put_firehose(synth: Synth, resources: dict) -> None:
    delivery = synth.pipeline.forecasting.delivery
    props = resources[synth.pipeline.get_logical_id(delivery.delivery_stream)]["Properties"]
    assert props["DeliveryStreamType"] == "DirectPut"
    assert "KinesisStreamSourceConfiguration" not in props
    assert props["DeliveryStreamEncryptionConfigurationInput"]["KeyType"] == "CUSTOMER_MANAGED_CMK"
    destination = props["ExtendedS3DestinationConfiguration"]
    assert destination["Prefix"] == FORECASTS.firehose_prefix
    schema = destination["DataFormatConversionConfiguration"]["SchemaConfiguration"]
    assert schema["TableName"] == FORECASTS.name


def test_the_hourly_function_may_put_only_to_its_firehose_and_claim_alerts(synth: Synth, resources: dict) -> None:
    forecasting = synth.pipeline.forecasting
    role_id = synth.pipeline.get_logical_id(forecasting.hourly.role.node.default_child)
    statements = [
        statement
        for policy in resources.values()
        if policy["Type"] == "AWS::IAM::Policy" and policy["Properties"]["Roles"] == [{"Ref": role_id}]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]

    def granting(*actions: str) -> dict[str, Any]:
        (statement,) = [s for s in statements if set(as_list(s["Action"])) == set(actions)]
        return statement

    firehose = granting("firehose:PutRecordBatch")
    delivery_id = synth.pipeline.get_logical_id(forecasting.delivery.delivery_stream)
    assert render(firehose["Resource"]) == f"<{delivery_id}.Arn>"
    claims = granting("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
    assert "index" not in json.dumps(claims["Resource"])
    athena = granting("athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults")
    assert "workgroup/" in json.dumps(athena["Resource"])


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def test_one_drift_alarm_per_series_to_ops_on_the_metric_the_handler_publishes(synth: Synth, resources: dict) -> None:
    assert DRIFT_METRIC == HANDLER_DRIFT_METRIC
    ops = f"<{synth.pipeline.get_logical_id(synth.pipeline.topics.ops.node.default_child)}>"
    alarms = [
        alarm["Properties"]
        for alarm in resources.values()
        if alarm["Type"] == "AWS::CloudWatch::Alarm" and alarm["Properties"]["MetricName"] == DRIFT_METRIC
    ]
    assert sorted(alarm["Dimensions"][0]["Value"] for alarm in alarms) == ["orders_by_store", "orders_total"]
    for alarm in alarms:
        assert alarm["Threshold"] == 1.3
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert [render(action) for action in alarm["AlarmActions"]] == [ops]


def _tree_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def test_what_the_lambdas_bundle_fits_lambdas_size_limit(synth: Synth, resources: dict) -> None:
    # Given the function code asset and the shared layer asset as synth staged them
    (layer,) = [path for path in synth.outdir.glob("asset.*") if (path / "python" / "lakewatch").is_dir()]
    (code,) = [path for path in synth.outdir.glob("asset.*") if (path / "forecast_hourly" / "handler.py").is_file()]
    # Then the forecasting code ships inside them (pure Python: no numpy, no model library)...
    assert (layer / "python" / "lakewatch" / "domain" / "forecast.py").is_file()
    assert sorted(p.name for p in (layer / "python" / "lakewatch" / "domain" / "series_sql").glob("*.sql")) == [
        "orders_by_store.sql",
        "orders_total.sql",
    ]
    assert not list(layer.rglob("numpy")) and not list(layer.rglob("sklearn"))
    # ...and lakewatch's own unzipped bytes leave most of Lambda's 250 MB to the Powertools layer
    own = _tree_bytes(layer) + _tree_bytes(code)
    assert own < OWN_BUNDLE_BUDGET < LAMBDA_UNZIPPED_LIMIT, f"{own:,} bytes"


def test_the_dashboard_shows_actual_against_forecast_and_drift_per_series(synth: Synth, resources: dict) -> None:
    from forecast_hourly.handler import PANEL_ACTUAL_METRIC, PANEL_FORECAST_METRICS

    from stacks.constructs import forecasting

    assert (forecasting.PANEL_ACTUAL_METRIC, forecasting.PANEL_FORECAST_METRICS) == (
        PANEL_ACTUAL_METRIC,
        PANEL_FORECAST_METRICS,
    )
    (dashboard,) = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    body = json.dumps(render(dashboard["DashboardBody"]))
    for series in ("orders_total", "orders_by_store"):
        assert f"{series}: orders per hour, actual vs forecast (80% interval)" in body
    for metric in (PANEL_ACTUAL_METRIC, *PANEL_FORECAST_METRICS, DRIFT_METRIC):
        assert metric in body
