"""AWS job state changes in: EventBridge rules on the default bus -> `job_events` -> `events-raw`.

One rule per service (Glue, Step Functions, Batch, EMR Serverless), matching only its terminal states; the
patterns are built from `lakewatch.domain.job_events.SERVICES`, the table the Lambda maps states with, so a
state the rules deliver is always one the Lambda knows. EventBridge invokes the function asynchronously: an
AWS error makes Lambda retry the event (twice), then keep it on an on-failure queue, whose depth is alarmed
with the other dead letters.

The role may read tags and job runs, and nothing else, of the account's jobs: which jobs are monitored is
decided by their tags at run time, so the read actions name every job of the kind (`job/*`, ...), never any
write.
"""

from __future__ import annotations

import dataclasses

from aws_cdk import Aws, Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lakewatch.domain.job_events import SERVICES, Prices, Service
from stacks.config import JobEventsConfig
from stacks.constructs.functions import FunctionSpec, LambdaFactory
from stacks.constructs.ingest import on_failure_queue
from stacks.constructs.permissions import acknowledge_kms_grant_wildcards
from stacks.nag import acknowledge_wildcards

#: Lambda's own retries of a failed asynchronous invocation (its maximum), before the on-failure queue.
ASYNC_RETRY_ATTEMPTS = 2
#: How long an event may wait for a successful run (throttling, retries) before it goes to the queue.
MAX_EVENT_AGE = Duration.hours(6)
PRICE_VARIABLE_PREFIX = "PRICE_"


def _arn(service: str, resource: str) -> str:
    return f"arn:{Aws.PARTITION}:{service}:{Aws.REGION}:{Aws.ACCOUNT_ID}:{resource}"


#: (actions, resource ARN pattern, why) per read the function makes.
READS: tuple[tuple[tuple[str, ...], str, str, str], ...] = (
    (("glue:GetTags", "glue:GetJobRun"), "glue", "job/*", "Tags (opt-in, client) and run details of any Glue job"),
    (("states:ListTagsForResource",), "states", "stateMachine:*", "Tags (opt-in, client) of any state machine"),
    (("batch:ListTagsForResource",), "batch", "job-definition/*", "Tags (opt-in, client) of any Batch job definition"),
    (
        ("emr-serverless:GetApplication",),
        "emr-serverless",
        "/applications/*",
        "Tags (opt-in, client) of any EMR Serverless application",
    ),
    (
        ("emr-serverless:GetJobRun",),
        "emr-serverless",
        "/applications/*/jobruns/*",
        "Run details (times, billed utilisation, tags) of any EMR Serverless job run",
    ),
)


def event_pattern(service: Service) -> events.EventPattern:
    """The terminal state changes of one service, as the domain module maps them."""
    return events.EventPattern(
        source=[service.source],
        detail_type=[service.detail_type],
        detail={service.state_field: list(service.terminal_states)},
    )


def price_environment(config: JobEventsConfig) -> dict[str, str]:
    """`PRICE_<FIELD>` per field of `Prices`, from the stage's `<field>_usd` setting."""
    return {
        f"{PRICE_VARIABLE_PREFIX}{field.name.upper()}": repr(getattr(config, f"{field.name}_usd"))
        for field in dataclasses.fields(Prices)
    }


class JobEvents(Construct):
    """The `job_events` function, its EventBridge rules, its on-failure queue and its read-only grants."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: LambdaFactory,
        key: kms.IKey,
        events_raw: kinesis.IStream,
        config: JobEventsConfig,
        ops_topic: sns.ITopic,
        event_dead_letters: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self.on_failure_queue = on_failure_queue(self, "OnFailureQueue", key=key)
        self.function = factory.create(
            self,
            FunctionSpec(
                name="job_events",
                description="lakewatch: turn AWS job state changes (Glue, Step Functions, Batch, EMR Serverless) "
                "into job_run events",
                memory_mb=256,
                timeout=Duration.seconds(30),
                environment={
                    "EVENTS_RAW_STREAM_NAME": events_raw.stream_name,
                    "MONITORED_JOBS": config.monitored_jobs.value,
                    "CLIENT_BY_JOB": config.client_by_job_json,
                    **price_environment(config),
                },
            ),
        )
        self.function.configure_async_invoke(
            retry_attempts=ASYNC_RETRY_ATTEMPTS,
            max_event_age=MAX_EVENT_AGE,
            on_failure=destinations.SqsDestination(self.on_failure_queue),
        )
        events_raw.grant_write(self.function)
        role = self.function.role
        wildcards: dict[str, str] = {}
        for actions, service, resource, why in READS:
            role.add_to_principal_policy(
                iam.PolicyStatement(actions=list(actions), resources=[_arn(service, resource)])
            )
            wildcards[f"Resource::arn:<AWS::Partition>:{service}:<AWS::Region>:<AWS::AccountId>:{resource}"] = (
                f"{why}: which jobs are monitored is decided by their tags when a run ends, so the read names "
                "every job of the kind (read-only)."
            )
        acknowledge_wildcards(role, wildcards)
        acknowledge_kms_grant_wildcards(role)
        self.rules = [
            events.Rule(
                self,
                f"{''.join(part.title() for part in service.name.split('-'))}StateChanges",
                description=f"lakewatch: {service.detail_type} (terminal states) to job_events",
                event_pattern=event_pattern(service),
                targets=[
                    targets.LambdaFunction(
                        self.function,
                        retry_attempts=8,
                        max_event_age=Duration.hours(24),
                        dead_letter_queue=event_dead_letters,
                    )
                ],
            )
            for service in SERVICES
        ]
        self.on_failure_alarm = cloudwatch.Alarm(
            self,
            "OnFailureQueueDepth",
            alarm_description="job_events gave up on a job state change: its on-failure queue holds events to replay",
            metric=self.on_failure_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        # On OK too, like every other alarm (`monitoring._alarm`): whoever re-drives learns when the queue is empty.
        self.on_failure_alarm.add_alarm_action(cloudwatch_actions.SnsAction(ops_topic))
        self.on_failure_alarm.add_ok_action(cloudwatch_actions.SnsAction(ops_topic))
