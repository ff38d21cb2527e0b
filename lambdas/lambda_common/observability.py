"""Powertools Logger, Tracer and Metrics, created once per process and imported by every handler.

Service name and metrics namespace come from POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE,
which the CDK sets per function, so the same module serves all of them.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
