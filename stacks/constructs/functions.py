"""The one Lambda factory: every lakewatch function is built here, the same way.

arm64 + the Python of `stacks/lambda_runtime.py` (3.13: supported by Lambda until 2029-06-30, whereas 3.11
is deprecated on 2027-06-30), the `lambdas/` folder as code, the `shared` layer (domain package + msgspec wheels
for that Python) and the managed Powertools layer for that Python, X-Ray tracing, its own KMS-encrypted log group
with the stage's retention and its own role that may write only to that log group until grants are added where
producer meets consumer. The domain code also runs on Glue 5.0 and in the test suite, both Python 3.11, so it
is written for 3.11 and must not use what 3.13 removed (tests check both).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import ConfigError, StageConfig
from stacks.constructs.bundling import lambda_code, shared_layer_code
from stacks.lambda_runtime import LAMBDA_PYTHON_VERSION
from stacks.nag import acknowledge, acknowledge_wildcards

METRICS_NAMESPACE = "lakewatch"
RUNTIME: lambda_.Runtime = getattr(lambda_.Runtime, f"PYTHON_{LAMBDA_PYTHON_VERSION.replace('.', '_')}")
ARCHITECTURE = lambda_.Architecture.ARM_64
#: The managed Powertools v3 layer is published per Python version and architecture by this AWS account.
POWERTOOLS_LAYER_ACCOUNT = "017000801446"
POWERTOOLS_LAYER_NAME = f"AWSLambdaPowertoolsPythonV3-python{LAMBDA_PYTHON_VERSION.replace('.', '')}-arm64"


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    #: Service name: POWERTOOLS_SERVICE_NAME, the `service` metric dimension and the folder under lambdas/.
    name: str
    description: str
    environment: Mapping[str, str] = field(default_factory=dict)
    memory_mb: int = 256
    timeout: Duration = field(default_factory=lambda: Duration.seconds(60))

    @property
    def handler(self) -> str:
        return f"{self.name}.handler.handler"

    @property
    def construct_id(self) -> str:
        return "".join(part.title() for part in self.name.split("_"))


_RETENTION_NAMES = {
    1: "ONE_DAY",
    3: "THREE_DAYS",
    5: "FIVE_DAYS",
    7: "ONE_WEEK",
    14: "TWO_WEEKS",
    30: "ONE_MONTH",
    60: "TWO_MONTHS",
    90: "THREE_MONTHS",
    120: "FOUR_MONTHS",
    150: "FIVE_MONTHS",
    180: "SIX_MONTHS",
    365: "ONE_YEAR",
    400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS",
    731: "TWO_YEARS",
    1096: "THREE_YEARS",
    1827: "FIVE_YEARS",
    2192: "SIX_YEARS",
    2557: "SEVEN_YEARS",
    2922: "EIGHT_YEARS",
    3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}


def log_retention(days: int) -> logs.RetentionDays:
    """CloudWatch Logs accepts only these retention periods; anything else is a configuration error."""
    if days not in _RETENTION_NAMES:
        raise ConfigError(f"log_retention_days must be one of {sorted(_RETENTION_NAMES)}, got {days}")
    return logs.RetentionDays[_RETENTION_NAMES[days]]


def powertools_layer_arn(version: int) -> str:
    return f"arn:aws:lambda:{Aws.REGION}:{POWERTOOLS_LAYER_ACCOUNT}:layer:{POWERTOOLS_LAYER_NAME}:{version}"


class LambdaFactory(Construct):
    """Owns what all functions share (code asset, layers, settings) and builds each function from a spec."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self._log_retention = log_retention(config.log_retention_days)
        self._key = key
        self._code = lambda_code()
        self.shared_layer = lambda_.LayerVersion(
            self,
            "SharedLayer",
            code=shared_layer_code(),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="lakewatch domain package (schemas, validation, PII) and msgspec",
        )
        self.powertools_layer = lambda_.LayerVersion.from_layer_version_arn(
            self, "PowertoolsLayer", powertools_layer_arn(config.powertools_layer_version)
        )

    def create(self, scope: Construct, spec: FunctionSpec) -> lambda_.Function:
        # Encrypted with the lakewatch key: a log line is data too (the key policy lets CloudWatch Logs use it).
        log_group = logs.LogGroup(
            scope,
            f"{spec.construct_id}Logs",
            retention=self._log_retention,
            encryption_key=self._key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        role = iam.Role(
            scope,
            f"{spec.construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"lakewatch {spec.name} Lambda: its log group plus the grants its collaborators add",
        )
        log_group.grant_write(role)
        function = lambda_.Function(
            scope,
            spec.construct_id,
            description=spec.description,
            code=self._code,
            handler=spec.handler,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            layers=[self.shared_layer, self.powertools_layer],
            memory_size=spec.memory_mb,
            timeout=spec.timeout,
            role=role,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE,
            environment={
                "POWERTOOLS_SERVICE_NAME": spec.name,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                **spec.environment,
            },
        )
        acknowledge(
            function,
            "AwsSolutions-L1",
            "Pinned to one Python version on purpose (stacks/lambda_runtime.py): the bundled wheels and the managed "
            "Powertools layer are fetched and checked for exactly that version, so a move is a reviewed change.",
        )
        acknowledge_wildcards(
            role,
            {
                "Resource::*": "Active tracing: X-Ray PutTraceSegments and PutTelemetryRecords accept no "
                "resource-level permissions, so their statement must name Resource *."
            },
        )
        return function
