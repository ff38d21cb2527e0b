"""Answering a boto3 client's call in process: what `aws.CleanStreams` and `dynamodb.LocalTable` share.

A botocore `before-call` handler that returns `(http_response, parsed)` skips sending the request: the client
still validates and serialises the call, then takes `parsed` as the service's answer, and raises its
`ClientError` subclass for a status of 300 or more, exactly as it does for a response from the wire.
"""

from __future__ import annotations

from collections.abc import Iterator
from io import BytesIO
from typing import Any

from botocore.awsrequest import AWSResponse


class _RawBody(BytesIO):
    """The raw HTTP body botocore reads a response from."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.read()


def answer(url: str, parsed: dict[str, Any], status: int = 200) -> tuple[AWSResponse, dict[str, Any]]:
    """The `before-call` return value for `parsed` (without `ResponseMetadata`: it is added here)."""
    parsed["ResponseMetadata"] = {"RequestId": "local", "HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0}
    return AWSResponse(url, status, {}, _RawBody(b"")), parsed
