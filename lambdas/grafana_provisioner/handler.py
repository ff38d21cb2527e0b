"""grafana_provisioner entry point: a CloudFormation custom resource (its service token is this function).

Thin on purpose: the work is in `provision.py`. The answer is sent to CloudFormation's pre-signed response URL
(the custom resource protocol), success or failure, so a stack never waits an hour on an error.
"""

from __future__ import annotations

import functools
import json
import urllib.request
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from lambda_common import aws
from lambda_common.observability import logger

from grafana_provisioner.provision import on_event


@functools.cache
def grafana_client() -> Any:
    return aws.client("grafana")


def send_response(event: dict[str, Any], *, status: str, physical_id: str, reason: str = "") -> None:
    body = json.dumps({
        "Status": status, "Reason": reason[:500], "PhysicalResourceId": physical_id, "StackId": event["StackId"],
        "RequestId": event["RequestId"], "LogicalResourceId": event["LogicalResourceId"], "Data": {},
    }).encode()  # fmt: skip
    request = urllib.request.Request(  # noqa: S310  CloudFormation's pre-signed https URL
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
        response.read()


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> None:
    fallback_id = event.get("PhysicalResourceId") or f"{event['LogicalResourceId']}-failed"
    try:
        physical_id = on_event(event, grafana_client())
    except Exception as error:
        logger.exception("provisioning failed", extra={"request_type": event.get("RequestType")})
        if event.get("RequestType") == "Delete":
            # The workspace is deleted right after this resource, dashboards and all: never wedge a stack delete.
            send_response(event, status="SUCCESS", physical_id=fallback_id, reason="cleanup failed; see the logs")
            return
        send_response(event, status="FAILED", physical_id=fallback_id, reason=f"{type(error).__name__}: {error}")
        return
    logger.info("provisioned", extra={"request_type": event["RequestType"], "physical_id": physical_id})
    send_response(event, status="SUCCESS", physical_id=physical_id)
