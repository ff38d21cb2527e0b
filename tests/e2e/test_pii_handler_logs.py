"""The raw event never reaches a Lambda's log, whatever the deployment's environment says.

A Kinesis event to `transform` holds every producer's bytes: card numbers (the `card_number` field the transform
never decodes), names and e-mail addresses, base64-encoded, which hides them from nobody. Powertools logs the whole
event at INFO when `POWERTOOLS_LOGGER_LOG_EVENT=true`, an operator's first reflex when debugging a function; the
handlers turn that off in code, where the environment cannot turn it back on. Powertools reads the variable when
the handler module is imported, so each check imports the handler afresh in a child process. And a function
switched to DEBUG does not log botocore's request and response bodies, the PII key's among them.
"""

from __future__ import annotations

import ast
import base64
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HANDLERS = sorted((REPO / "lambdas").glob("*/handler.py"))
CARD = "4111 1111 1111 1111"
EMAIL = "jane.doe@example.com"
RECORD = json.dumps({"event_type": "sale", "customer_name": EMAIL, "card_number": CARD}).encode()

#: Imports one handler with the event logging switched on by the environment and calls it with a Kinesis event
#: whose record holds PII; the handler's own work is replaced by an error (the event is logged before it).
_CHILD = """
import base64, json, sys
from types import SimpleNamespace
import {module} as handler_module

class Stop(Exception):
    pass

def stop(*args, **kwargs):
    raise Stop

handler_module.dependencies = stop
event = {{"Records": [{{"eventID": "shardId-000000000000:1", "eventSource": "aws:kinesis",
    "kinesis": {{"sequenceNumber": "1", "partitionKey": "k", "approximateArrivalTimestamp": 1717000000.0,
                "data": base64.b64encode(bytes.fromhex(sys.argv[1])).decode()}}}}]}}
context = SimpleNamespace(function_name="f", memory_limit_in_mb=128, aws_request_id="r-1",
                          invoked_function_arn="arn:aws:lambda:eu-west-1:1:function:f")
try:
    handler_module.handler(event, context)
except Stop:
    pass
"""


def _run_handler_with_event_logging_on(module: str) -> str:
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "lambdas")]),
        "POWERTOOLS_LOGGER_LOG_EVENT": "true",
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
        "LOG_LEVEL": "DEBUG",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "leak-check",
        "POWERTOOLS_METRICS_NAMESPACE": "lakewatch",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    child = subprocess.run(
        [sys.executable, "-c", _CHILD.format(module=module), RECORD.hex()],
        capture_output=True,
        text=True,
        env=environment,
        cwd=REPO,
        check=True,
    )
    return child.stdout + child.stderr


@pytest.mark.parametrize("module", ["transform.handler", "job_monitor.handler"])
def test_a_stream_handler_never_logs_the_raw_event_even_when_the_environment_asks(module: str) -> None:
    # Given POWERTOOLS_LOGGER_LOG_EVENT=true and DEBUG logging, When a Kinesis record holding PII arrives
    output = _run_handler_with_event_logging_on(module)

    # Then neither the record's bytes (base64, as Kinesis delivers them) nor its PII appear in the output
    encoded = base64.b64encode(RECORD).decode()
    assert encoded[:40] not in output
    assert CARD not in output
    assert EMAIL not in output


@pytest.mark.parametrize("path", HANDLERS, ids=[path.parent.name for path in HANDLERS])
def test_every_handler_turns_event_logging_off_in_code(path: Path) -> None:
    # Every Lambda's entry point passes log_event=False to inject_lambda_context (an environment variable cannot
    # switch on what the code switched off)
    decorators = [
        decorator
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef)
        for decorator in node.decorator_list
        if "inject_lambda_context" in ast.unparse(decorator)
    ]
    assert decorators, f"{path} has no inject_lambda_context"
    for decorator in decorators:
        assert isinstance(decorator, ast.Call)
        assert any(
            keyword.arg == "log_event" and isinstance(keyword.value, ast.Constant) and keyword.value.value is False
            for keyword in decorator.keywords
        )


def test_the_pii_key_never_reaches_a_log_when_a_function_logs_at_debug(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a function switched to DEBUG (Lambda then sets the root logger to DEBUG: botocore's loggers follow)
    from lambda_common import aws
    from moto import mock_aws
    from transform import handler as transform_handler

    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    caplog.set_level(logging.DEBUG)
    secret = "pii-key-that-must-stay-secret-0123456789"
    with mock_aws():
        secrets = aws.client("secretsmanager")
        arn = secrets.create_secret(Name="lakewatch-pii-key", SecretString=secret)["ARN"]

        # When the transform reads its PII key
        assert transform_handler.fetch_pii_key(secrets, arn) == secret.encode()

    # Then botocore has logged the calls, but neither the request nor the response body that holds the key
    assert any(record.name.startswith("botocore") for record in caplog.records)
    assert secret not in caplog.text
