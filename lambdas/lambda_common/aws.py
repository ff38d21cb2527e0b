"""AWS clients as every lakewatch Lambda creates them, and the triage of the errors they raise.

One client configuration: short timeouts so one slow call fails (and is retried) well within a function's
timeout and job_monitor's alert-claim lease, plus botocore's "standard" retries for throttling and 5xx.

Handlers build their clients once per execution environment in a `functools.cache`d `dependencies()`
function (tests clear the cache between mocks) and pass them to pure-ish logic that never reads the
environment.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

CLIENT_CONFIG = Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"})

CONDITION_FAILED = "ConditionalCheckFailedException"
#: The request itself is invalid, so no retry of it can succeed: DynamoDB's `ValidationException` (a key or
#: item too large, an empty key string) and SNS's `InvalidParameter*` (e.g. a message over its size limit).
#: The other 4xx codes are about the account or the deployment (access denied, missing table, throttling),
#: not the request's content, so they are treated as transient.
INVALID_REQUEST_ERRORS = frozenset({"ValidationException", "InvalidParameter", "InvalidParameterValue"})


def client(service: str) -> Any:
    """A boto3 client with the shared configuration."""
    return boto3.client(service, config=CLIENT_CONFIG)


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def is_condition_failure(error: BaseException) -> bool:
    """Whether a DynamoDB conditional write was refused because its condition was false."""
    return isinstance(error, ClientError) and error_code(error) == CONDITION_FAILED


def is_transient(error: BaseException) -> bool:
    """Whether retrying the same request later may succeed.

    Transient: any botocore transport error (timeouts, connection resets), any OSError, and every
    `ClientError` but an invalid request (throttling, 5xx, but also access denied or a missing resource: a
    deployment fault must fail loudly and be retried after the fix, never set records aside).
    Not transient: an invalid request (`INVALID_REQUEST_ERRORS`), and every other exception (a bug, or a
    record nothing can process), which callers set aside instead of retrying forever.
    """
    if isinstance(error, BotoCoreError | OSError):
        return True
    if isinstance(error, ClientError):
        return error_code(error) not in INVALID_REQUEST_ERRORS
    return False
