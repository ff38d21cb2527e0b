"""Fixtures shared by every test layer. Expensive ones (Spark) are session-scoped and lazy."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakewatch.local.aws import LambdaContext

REPO_ROOT = Path(__file__).resolve().parents[1]

# Never let a test reach a real AWS account, whatever the developer's shell exports.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_REGION": "eu-west-1",
        "POWERTOOLS_METRICS_NAMESPACE": "lakewatch",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_DEV": "false",
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",  # see the Makefile
    }
)
for _profile_var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
    os.environ.pop(_profile_var, None)


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext(function_name="lakewatch-test", memory_limit_in_mb=256)


@pytest.fixture(autouse=True)
def _reset_powertools_metrics() -> Iterator[None]:
    """Metrics accumulate in a module-level singleton; clear it so tests never see each other's."""
    yield
    try:
        from lambda_common.observability import metrics
    except ImportError:  # the test did not touch a Lambda
        return
    metrics.clear_metrics()
    metrics.clear_default_dimensions()


@pytest.fixture(scope="session")
def spark():
    """One local SparkSession for the whole run (starting one costs ~10 s on two cores)."""
    from lakewatch.local.spark import local_spark_session

    session = local_spark_session("lakewatch-tests")
    yield session
    session.stop()
