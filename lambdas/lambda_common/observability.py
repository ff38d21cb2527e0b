"""Powertools Logger, Tracer and Metrics, created once per process and imported by every handler.

Service name and metrics namespace come from POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE,
which the CDK sets per function, so the same module serves all of them.

botocore's wire-level loggers never log below INFO: at DEBUG they write every request's parameters and every
response's body, and Lambda sets the root logger to the function's application log level, so a function switched
to DEBUG would log the PII key (the GetSecretValue response) and every record it puts. Retries and errors, which
botocore logs through other loggers, still show.
"""

import logging

from aws_lambda_powertools import Logger, Metrics, Tracer

#: The botocore loggers that write request parameters and response bodies at DEBUG.
BOTOCORE_WIRE_LOGGERS = ("botocore.endpoint", "botocore.parsers")
for _name in BOTOCORE_WIRE_LOGGERS:
    logging.getLogger(_name).setLevel(logging.INFO)

logger = Logger()
tracer = Tracer()
metrics = Metrics()
