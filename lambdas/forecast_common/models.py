"""Model artefacts in S3: one immutable object per training run, and a pointer to the current one.

`<prefix><series>/<model_version>.json` holds the whole `SeriesModel` (coefficients, intervals, training
window, backtest scores); `<prefix><series>/latest.json` names the version in use. Writing the version before
the pointer means a reader never finds a pointer to a missing model; old versions stay for audit and
rollback (point `latest.json` back at one).
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError
from lambda_common.aws import error_code

from lakewatch.domain.forecast import SeriesModel

LATEST = "latest.json"


def version_key(prefix: str, series: str, model_version: str) -> str:
    return f"{prefix}{series}/{model_version}.json"


def load_model(s3: Any, bucket: str, prefix: str, series: str) -> SeriesModel | None:
    """The series' current model, or None before its first training."""
    try:
        pointer = json.loads(s3.get_object(Bucket=bucket, Key=f"{prefix}{series}/{LATEST}")["Body"].read())
    except ClientError as error:
        if error_code(error) in {"NoSuchKey", "404"}:
            return None
        raise
    body = s3.get_object(Bucket=bucket, Key=pointer["key"])["Body"].read()
    return SeriesModel.from_json(json.loads(body))


def save_model(s3: Any, bucket: str, prefix: str, model: SeriesModel) -> str:
    """Store `model` as a new version and make it current; return its key."""
    key = version_key(prefix, model.series, model.model_version)
    document = model.to_json()
    _put_json(s3, bucket, key, document)
    pointer = {"model_version": model.model_version, "key": key, "trained_at": document["trained_at"]}
    _put_json(s3, bucket, f"{prefix}{model.series}/{LATEST}", pointer)
    return key


def _put_json(s3: Any, bucket: str, key: str, document: dict) -> None:
    body = json.dumps(document, sort_keys=True).encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
