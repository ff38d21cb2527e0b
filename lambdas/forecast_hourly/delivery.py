"""Where the hourly run's results go: forecasts to the `forecasts` table's Firehose, breaches to SNS once.

A breach alert is sent once per series key and target hour although six origins may forecast the same hour
and EventBridge may retry a run: before publishing, the run claims a marker in DynamoDB with a conditional
put (the same claim-then-publish protocol as job_monitor's alerts). A claim whose publish failed is released
so the retry sends it; a claim left `sending` by a run that died is taken over once its lease has passed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from lambda_common.aws import is_condition_failure
from lambda_common.observability import logger

from lakewatch.domain.alerts import Alert
from lakewatch.domain.forecast import Forecast

#: Firehose accepts at most 500 records per PutRecordBatch.
FIREHOSE_BATCH = 500
#: A claim still `sending` after this long belongs to a run that died: longer than the function's timeout.
CLAIM_LEASE_SECONDS = 600
#: Markers outlive every run that could forecast their target hour again (six hours) by far.
MARKER_TTL_SECONDS = 14 * 86_400
_SENDING, _SENT = "sending", "sent"


class ForecastDeliveryFailed(RuntimeError):
    """Firehose refused records twice; the run fails and is retried (forecasts are idempotent per origin)."""


def put_forecasts(firehose: Any, stream: str, rows: Sequence[Forecast]) -> int:
    """Send the rows as clean JSON records; retry once the records Firehose refused. Return records sent."""
    records = [{"Data": json.dumps(row.clean_record()).encode() + b"\n"} for row in rows]
    for start in range(0, len(records), FIREHOSE_BATCH):
        batch = records[start : start + FIREHOSE_BATCH]
        for _attempt in range(2):
            response = firehose.put_record_batch(DeliveryStreamName=stream, Records=batch)
            if not response.get("FailedPutCount"):
                break
            batch = [
                record
                for record, result in zip(batch, response["RequestResponses"], strict=True)
                if result.get("ErrorCode")
            ]
        else:
            raise ForecastDeliveryFailed(f"{len(batch)} forecast records refused by {stream}")
    return len(records)


def marker_key(alert: Alert) -> dict[str, Any]:
    return {"pk": {"S": f"{alert.alert_type}#{alert.dedupe_id}"}, "sk": {"S": "alert"}}


def publish_once(dynamodb: Any, sns: Any, *, table: str, topic_arn: str, alert: Alert, now: datetime) -> bool:
    """Publish `alert` unless another run already did (or is doing it); True when this call published it."""
    key = marker_key(alert)
    claimed_at = now.timestamp()
    try:
        dynamodb.put_item(
            TableName=table,
            Item={
                **key,
                "state": {"S": _SENDING},
                "claimed_at": {"N": repr(claimed_at)},
                "expires_at": {"N": str(int(claimed_at) + MARKER_TTL_SECONDS)},
            },
            ConditionExpression="attribute_not_exists(pk) OR (#state = :sending AND claimed_at < :stale)",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={
                ":sending": {"S": _SENDING},
                ":stale": {"N": repr(claimed_at - CLAIM_LEASE_SECONDS)},
            },
        )
    except Exception as error:
        if is_condition_failure(error):
            return False
        raise
    try:
        sns.publish(
            TopicArn=topic_arn, Subject=alert.subject, Message=alert.message, MessageAttributes=alert.message_attributes
        )
    except Exception:
        dynamodb.delete_item(TableName=table, Key=key)  # the retry of this run publishes it
        raise
    try:
        dynamodb.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET #state = :sent",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={":sent": {"S": _SENT}},
        )
    except Exception as error:  # published: a marker left `sending` only risks one repeat after its lease
        logger.warning("forecast alert published but not marked sent", error_type=type(error).__name__)
    return True
