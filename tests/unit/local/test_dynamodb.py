"""The in-process baselines table answers every call the handlers make exactly as moto does.

Each step runs the same call through two boto3 clients inside one moto: one answered by moto, one by
`dynamodb.LocalTable`; their answers (or error codes, and the item a refused write returns) must be equal.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from lakewatch.domain import baseline
from lakewatch.local.dynamodb import LocalTable, Unsupported

TABLE = "baselines-under-test"


@dataclass
class Twins:
    moto: Any
    local: Any
    table: LocalTable

    def call(self, operation: str, **params: Any) -> Any:
        """Run `operation` on both; assert they agree; return moto's answer (or the error's code)."""
        answers = [_outcome(getattr(client, operation), params) for client in (self.moto, self.local)]
        assert answers[1] == answers[0], f"{operation} differs from moto"
        return answers[0]


def _outcome(method: Any, params: dict[str, Any]) -> Any:
    try:
        response = method(TableName=TABLE, **params) if "RequestItems" not in params else method(**params)
    except ClientError as error:
        return {"error": error.response["Error"]["Code"], "Item": error.response.get("Item")}
    response.pop("ResponseMetadata", None)
    # moto's own additions, which DynamoDB sends only when asked (and nothing in lakewatch asks).
    response.pop("ConsumedCapacity", None)
    if response.get("Attributes") == {}:
        del response["Attributes"]
    for items in response.get("Responses", {}).values():
        items.sort(key=lambda item: (item["pk"]["S"], item["sk"]["S"]))
    return response


@pytest.fixture
def twins() -> Iterator[Twins]:
    with mock_aws():
        moto = boto3.client("dynamodb", region_name="eu-west-1")
        moto.create_table(**baseline.table_definition(TABLE))
        local = boto3.client("dynamodb", region_name="eu-west-1")
        table = LocalTable(baseline.table_definition(TABLE))
        table.attach(local)
        yield Twins(moto, local, table)
        table.detach_all()


def key(client: str, sk: str = baseline.BASELINE_SK) -> dict[str, Any]:
    return {"pk": {"S": baseline.partition_key(client, "daily")}, "sk": {"S": sk}}


def state_item(client: str, ended: str, **extra: Any) -> dict[str, Any]:
    return {
        **key(client),
        "client": {"S": client},
        "job_name": {"S": "daily"},
        "watched": {"S": baseline.WATCHED},
        "last_ended_at": {"S": ended},
        "last_run_id": {"S": f"run-{client}"},
        "history": {"S": "[]"},
        "version": {"N": "1"},
        **extra,
    }


def test_conditional_updates_as_job_monitor_makes_them(twins: Twins) -> None:
    create = {
        "Key": key("acme"),
        "UpdateExpression": "SET client = :client, history = :history, version = :version, watched = :watched",
        "ExpressionAttributeValues": {
            ":client": {"S": "acme"},
            ":history": {"S": "[]"},
            ":version": {"N": "1"},
            ":watched": {"S": baseline.WATCHED},
        },
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    assert twins.call("update_item", ConditionExpression="attribute_not_exists(pk)", **create) == {}
    refused = twins.call("update_item", ConditionExpression="attribute_not_exists(pk)", **create)
    assert refused["error"] == "ConditionalCheckFailedException"
    assert refused["Item"]["version"] == {"N": "1"}
    expected = {**create["ExpressionAttributeValues"], ":expected": {"N": "1"}}
    versioned = {**create, "ExpressionAttributeValues": expected}
    assert twins.call("update_item", ConditionExpression="version = :expected", ReturnValues="ALL_NEW", **versioned)
    assert twins.call("update_item", ConditionExpression="version < :expected", **versioned)["error"]

    failed_run = {
        "Key": key("acme"),
        "UpdateExpression": "SET last_ended_at = :ended, last_status = :status ADD version :one, runs :one",
        "ConditionExpression": "attribute_not_exists(last_ended_at) OR last_ended_at < :ended",
        "ReturnValues": "ALL_NEW",
    }
    for ended in ("2024-05-02 00:00:00.000000", "2024-05-01 00:00:00.000000", "2024-05-03 00:00:00.000000"):
        values = {":ended": {"S": ended}, ":status": {"S": "FAILED"}, ":one": {"N": "1"}}
        twins.call("update_item", ExpressionAttributeValues=values, **failed_run)
    assert twins.call("get_item", Key=key("acme"), ConsistentRead=True)["Item"]["version"] == {"N": "3"}


def test_alert_markers_claim_release_and_mark_as_job_monitor_does(twins: Twins) -> None:
    marker = key("acme", baseline.alert_marker_sk("job_failed", "r-1"))
    claim = {
        "ConditionExpression": (
            "attribute_not_exists(pk) OR (#state = :sending AND (claimed_by = :me OR claimed_at < :stale))"
        ),
        "ExpressionAttributeNames": {"#state": "state"},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }

    def claim_as(me: str, at: float) -> Any:
        item = {**marker, "state": {"S": "sending"}, "claimed_by": {"S": me}, "claimed_at": {"N": str(at)}}
        values = {":sending": {"S": "sending"}, ":me": {"S": me}, ":stale": {"N": str(at - 120)}}
        return twins.call("put_item", Item=item, ExpressionAttributeValues=values, **claim)

    assert claim_as("first", 1000.5) == {}
    assert claim_as("first", 1001.0) == {}  # our own claim, taken over
    assert claim_as("second", 1050.0)["error"] == "ConditionalCheckFailedException"  # fresh and foreign
    assert claim_as("second", 1200.0) == {}  # stale: taken over
    release = {
        "Key": marker,
        "ConditionExpression": "claimed_by = :me AND #state = :sending",
        "ExpressionAttributeNames": {"#state": "state"},
    }
    refused = twins.call(
        "delete_item", ExpressionAttributeValues={":me": {"S": "first"}, ":sending": {"S": "sending"}}, **release
    )
    assert refused["error"] == "ConditionalCheckFailedException"
    twins.call(
        "update_item",
        Key=marker,
        UpdateExpression="SET #state = :sent, sent_at = :at",
        ExpressionAttributeNames={"#state": "state"},
        ExpressionAttributeValues={":sent": {"S": "sent"}, ":at": {"N": "1300.25"}},
    )
    assert claim_as("third", 9999.0)["Item"]["state"] == {"S": "sent"}
    twins.call("delete_item", ExpressionAttributeValues={":me": {"S": "second"}, ":sending": {"S": "sent"}}, **release)
    assert twins.call("get_item", Key=marker) == {}


def test_overdue_episodes_claimed_and_released_as_overdue_check_does(twins: Twins) -> None:
    twins.call("put_item", Item=state_item("acme", "2024-05-01 00:00:00.000000"))
    claim = {
        "Key": key("acme"),
        "UpdateExpression": "SET overdue_alerted_for = :episode, overdue_alerted_at = :now",
        "ConditionExpression": (
            "last_ended_at = :episode AND "
            "(attribute_not_exists(overdue_alerted_for) OR overdue_alerted_for <> :episode)"
        ),
    }
    episode = {":episode": {"S": "2024-05-01 00:00:00.000000"}, ":now": {"S": "2024-05-02T03:00:00Z"}}
    assert twins.call("update_item", ExpressionAttributeValues=episode, **claim) == {}
    assert twins.call("update_item", ExpressionAttributeValues=episode, **claim)["error"]
    other = {**episode, ":episode": {"S": "2024-04-30 00:00:00.000000"}}
    assert twins.call("update_item", ExpressionAttributeValues=other, **claim)["error"]
    release = {
        "Key": key("acme"),
        "UpdateExpression": "REMOVE overdue_alerted_for, overdue_alerted_at",
        "ConditionExpression": "overdue_alerted_for = :episode",
        "ReturnValues": "ALL_OLD",
    }
    assert twins.call("update_item", ExpressionAttributeValues={":episode": episode[":episode"]}, **release)
    assert "overdue_alerted_for" not in twins.call("get_item", Key=key("acme"))["Item"]


def test_the_sparse_index_is_read_in_last_run_order_page_by_page(twins: Twins) -> None:
    for number in range(7):
        twins.call("put_item", Item=state_item(f"client-{number}", f"2024-05-0{7 - number} 00:00:00.000000"))
    twins.call("put_item", Item=state_item("tied", "2024-05-03 00:00:00.000000"))
    twins.call("put_item", Item={**key("acme", "alert#job_failed#r-1"), "state": {"S": "sent"}})  # not in the index
    query = {
        "IndexName": baseline.LAST_RUN_INDEX,
        "KeyConditionExpression": "#watched = :watched AND #last_ended_at < :cutoff",
        "ExpressionAttributeNames": {"#watched": "watched", "#last_ended_at": "last_ended_at"},
        "ExpressionAttributeValues": {
            ":watched": {"S": baseline.WATCHED},
            ":cutoff": {"S": "2024-05-06 00:00:00.000000"},
        },
    }
    whole = twins.call("query", **query)
    assert [item["client"]["S"] for item in whole["Items"]][:3] == ["client-6", "client-5", "client-4"]
    assert "history" not in whole["Items"][0]  # not projected
    pages, start = [], {}
    while True:
        page = twins.call("query", Limit=2, **start, **query)
        pages.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
    assert pages == whole["Items"]
    assert twins.call("query", ScanIndexForward=False, **query)["Items"] == whole["Items"][::-1]


def test_batch_reads_return_the_items_found(twins: Twins) -> None:
    for client in ("a", "b"):
        twins.call("put_item", Item=state_item(client, "2024-05-01 00:00:00.000000"))
    found = twins.call(
        "batch_get_item", RequestItems={TABLE: {"Keys": [key("a"), key("missing"), key("b")], "ConsistentRead": True}}
    )
    assert [item["client"]["S"] for item in found["Responses"][TABLE]] == ["a", "b"]
    assert twins.call("batch_get_item", RequestItems={TABLE: {"Keys": [key("a"), key("a")]}})["error"]
    too_many = [key(f"c{number}") for number in range(101)]
    assert twins.call("batch_get_item", RequestItems={TABLE: {"Keys": too_many}})["error"] == "ValidationException"


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("get_item", {"Key": {"pk": {"S": ""}, "sk": {"S": "baseline"}}}),
        ("put_item", {"Item": {"pk": {"S": "x" * 2049}, "sk": {"S": "baseline"}}}),
        ("put_item", {"Item": {"pk": {"S": "x"}, "sk": {"S": "y" * 1025}}}),
        (
            "update_item",
            {"Key": key("a"), "UpdateExpression": "SET sk = :v", "ExpressionAttributeValues": {":v": {"S": "z"}}},
        ),
        (
            "update_item",
            {"Key": key("a"), "UpdateExpression": "SET state = :v", "ExpressionAttributeValues": {":v": {"S": "z"}}},
        ),
        (
            "update_item",
            {
                "Key": key("a"),
                "UpdateExpression": "SET a = :v",
                "ExpressionAttributeValues": {":v": {"S": "z"}, ":unused": {"S": "z"}},
            },
        ),
        ("update_item", {"Key": key("a"), "UpdateExpression": "SET a = :undefined"}),
        (
            "query",
            {
                "KeyConditionExpression": "sk = :v",
                "ExpressionAttributeValues": {":v": {"S": "baseline"}},
            },
        ),
    ],
)
def test_requests_dynamodb_refuses_are_refused_alike(twins: Twins, operation: str, params: dict[str, Any]) -> None:
    assert twins.call(operation, **params)["error"] == "ValidationException"


def test_an_index_key_of_the_wrong_type_is_refused_as_dynamodb_does(twins: Twins) -> None:
    # moto 5.1 stores it (and leaves the item out of the index); DynamoDB refuses the write, and so do we.
    item = {**key("a"), "watched": {"N": "1"}}
    with pytest.raises(ClientError) as refused:
        twins.local.put_item(TableName=TABLE, Item=item)
    assert refused.value.response["Error"]["Code"] == "ValidationException"


def test_numbers_compare_as_numbers_and_types_do_not_mix(twins: Twins) -> None:
    twins.call("put_item", Item={**key("a"), "count": {"N": "10"}, "label": {"S": "10"}})
    conditions = (
        "#c > :nine",
        "#c <> :ten_text",
        "label <> :ten",
        "absent <> :ten",
        "NOT (absent = :ten)",
        "NOT (label = :ten)",
        "attribute_exists(#c)",
    )
    for condition in conditions:
        values = {":nine": {"N": "9"}, ":ten": {"N": "10.0"}, ":ten_text": {"S": "10"}}
        used = {name: value for name, value in values.items() if name in condition}
        names = {"#c": "count"} if "#c" in condition else {}
        twins.call(
            "update_item",
            Key=key("a"),
            UpdateExpression="SET seen = :seen",
            ConditionExpression=condition,
            ExpressionAttributeValues={**used, ":seen": {"S": condition}},
            **({"ExpressionAttributeNames": names} if names else {}),
        )
    assert twins.call("get_item", Key=key("a"))["Item"]["seen"] == {"S": "attribute_exists(#c)"}


def test_what_it_does_not_emulate_fails_loudly(twins: Twins) -> None:
    with pytest.raises(Unsupported):
        twins.local.scan(TableName=TABLE)
    with pytest.raises(Unsupported):
        twins.local.update_item(
            TableName=TABLE,
            Key=key("a"),
            UpdateExpression="SET n = n + :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )


def test_other_tables_are_left_to_moto(twins: Twins) -> None:
    twins.local.create_table(**baseline.table_definition("another"))
    twins.local.put_item(TableName="another", Item=key("a"))
    assert twins.moto.get_item(TableName="another", Key=key("a"))["Item"] == key("a")
