"""The per-stage settings of the CDK app: one frozen, typed object built from `cdk.json` context.

Only `app.py` reads context; it hands the raw values to `StageConfig.from_context`, which validates them
and fills in defaults. Every default is the safe production choice (retain data, on-demand streams,
bounded retries), so an empty context deploys a production-grade lake.

Context keys are flat so that any of them can be overridden on the command line
(`npx cdk deploy -c alert_email=oncall@example.com -c stage=dev`); values given with `-c` arrive as
strings and are coerced here. A `stages` object in context holds per-stage overrides
(`{"dev": {"removal_policy": "destroy"}}`), applied before the flat keys.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, TypeVar

from lakewatch.domain.tables import LAKE_ROOT, QUARANTINE_ROOT

#: S3 prefixes of the lake bucket that `tables.py` does not own (it owns `lake/` and `quarantine/`).
BACKUP_ROOT = "backup"
ERRORS_ROOT = "errors"
LANDING_ROOT = "landing"
LANDING_POS_PREFIX = f"{LANDING_ROOT}/pos/"
ATHENA_RESULTS_ROOT = "athena-results"
GLUE_TEMP_ROOT = "glue-temp"
LAKE_PREFIX = f"{LAKE_ROOT}/"
QUARANTINE_PREFIX = f"{QUARANTINE_ROOT}/"

PRODUCTION_STAGE = "prod"
POWERTOOLS_LAYER_ACCOUNT = "017000801446"
POWERTOOLS_LAYER_NAME = "AWSLambdaPowertoolsPythonV3-python311-arm64"
#: Firehose dynamic partitioning (and Parquet conversion) require at least 64 MiB of buffer.
FIREHOSE_MIN_BUFFER_MIB = 64
FIREHOSE_MAX_BUFFER_MIB = 128

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_GLUE_NAME = re.compile(r"^[a-z0-9_]{1,255}$")
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_Enum = TypeVar("_Enum", bound=StrEnum)


class ConfigError(ValueError):
    """A context value that cannot be turned into a valid stage configuration."""


class RemovalPolicyName(StrEnum):
    RETAIN = "retain"
    DESTROY = "destroy"


class StreamCapacityMode(StrEnum):
    ON_DEMAND = "ON_DEMAND"
    PROVISIONED = "PROVISIONED"


class GlueWorkerType(StrEnum):
    G_1X = "G.1X"
    G_2X = "G.2X"
    G_4X = "G.4X"
    G_8X = "G.8X"


@dataclass(frozen=True, slots=True)
class StreamConsumerConfig:
    """Settings of one Kinesis event source mapping (one Lambda reading one stream)."""

    batch_size: int = 100
    batching_window_seconds: int = 5
    retry_attempts: int = 3
    max_record_age_seconds: int = 3600
    parallelization_factor: int = 2

    def __post_init__(self) -> None:
        _check_range("batch_size", self.batch_size, 1, 10_000)
        _check_range("batching_window_seconds", self.batching_window_seconds, 0, 300)
        _check_range("retry_attempts", self.retry_attempts, 0, 10_000)
        _check_range("max_record_age_seconds", self.max_record_age_seconds, 60, 604_800)
        _check_range("parallelization_factor", self.parallelization_factor, 1, 10)


@dataclass(frozen=True, slots=True)
class LifecycleConfig:
    """Days after which objects under each lake-bucket prefix are tiered or expired."""

    lake_intelligent_tiering_days: int = 30
    noncurrent_version_expiry_days: int = 30
    quarantine_expiry_days: int = 90
    backup_expiry_days: int = 30
    errors_expiry_days: int = 90
    landing_expiry_days: int = 30
    access_logs_expiry_days: int = 365

    def __post_init__(self) -> None:
        for item in fields(self):
            _check_range(item.name, getattr(self, item.name), 0 if item.name.startswith("lake_") else 1, 3650)


@dataclass(frozen=True, slots=True)
class GlueConfig:
    worker_type: GlueWorkerType = GlueWorkerType.G_1X
    number_of_workers: int = 2
    timeout_minutes: int = 60
    #: Glue cron: hourly, so a store's daily drop is in the lake within the hour (bookmarks skip seen files).
    pos_etl_schedule: str = "cron(15 * * * ? *)"
    #: Glue cron, UTC: daily after midnight, when yesterday's partitions have stopped growing.
    compaction_schedule: str = "cron(30 2 * * ? *)"

    def __post_init__(self) -> None:
        _check_range("glue_number_of_workers", self.number_of_workers, 2, 299)
        _check_range("glue_timeout_minutes", self.timeout_minutes, 1, 2880)
        for name in ("pos_etl_schedule", "compaction_schedule"):
            value = getattr(self, name)
            if not (value.startswith("cron(") and value.endswith(")")):
                raise ConfigError(f"{name} must be a Glue cron expression like 'cron(15 * * * ? *)', got {value!r}")


@dataclass(frozen=True, slots=True)
class StageConfig:
    """Everything that differs between deployments of lakewatch. Built once in `app.py`."""

    stage: str = PRODUCTION_STAGE
    removal_policy: RemovalPolicyName = RemovalPolicyName.RETAIN
    stream_capacity_mode: StreamCapacityMode = StreamCapacityMode.ON_DEMAND
    stream_shard_count: int = 1
    stream_retention_hours: int = 24
    firehose_buffer_interval_seconds: int = 300
    firehose_buffer_size_mib: int = 128
    alert_emails: tuple[str, ...] = ()
    ops_emails: tuple[str, ...] = ()
    transform: StreamConsumerConfig = field(default_factory=StreamConsumerConfig)
    #: One poller per shard: job runs are few, and fewer concurrent writers means fewer baseline write conflicts.
    job_monitor: StreamConsumerConfig = field(default_factory=lambda: StreamConsumerConfig(parallelization_factor=1))
    athena_bytes_scanned_cutoff: int = 10 * 1024**3
    athena_results_expiry_days: int = 7
    lifecycle: LifecycleConfig = field(default_factory=LifecycleConfig)
    glue: GlueConfig = field(default_factory=GlueConfig)
    overdue_default_interval_hours: float = 24.0
    overdue_grace_hours: float = 2.0
    #: `{"client/job_name" or "job_name": hours}`, passed to overdue_check as JSON.
    overdue_interval_overrides: Mapping[str, float] = field(default_factory=dict)
    powertools_layer_version: int = 27
    glue_database_name: str = "lakewatch"
    log_retention_days: int = 90
    #: Quarantined records per 5 minutes above which ops is paged: a producer is sending bad data.
    quarantine_alarm_threshold: int = 100

    def __post_init__(self) -> None:
        if not _STAGE_NAME.match(self.stage):
            raise ConfigError(f"stage must be lower-case letters, digits or '-' (max 20), got {self.stage!r}")
        if self.stage == PRODUCTION_STAGE and self.removal_policy is not RemovalPolicyName.RETAIN:
            raise ConfigError("removal_policy must be 'retain' in the prod stage: the lake is not disposable")
        _check_range("stream_shard_count", self.stream_shard_count, 1, 500)
        _check_range("stream_retention_hours", self.stream_retention_hours, 24, 8760)
        _check_range("firehose_buffer_interval_seconds", self.firehose_buffer_interval_seconds, 60, 900)
        _check_range(
            "firehose_buffer_size_mib", self.firehose_buffer_size_mib, FIREHOSE_MIN_BUFFER_MIB, FIREHOSE_MAX_BUFFER_MIB
        )
        for email in (*self.alert_emails, *self.ops_emails):
            if not _EMAIL.match(email):
                raise ConfigError(f"not an e-mail address: {email!r}")
        _check_range("athena_bytes_scanned_cutoff", self.athena_bytes_scanned_cutoff, 10_000_000, 2**62)
        _check_range("athena_results_expiry_days", self.athena_results_expiry_days, 1, 3650)
        if not 0 < self.overdue_default_interval_hours <= 24 * 366:
            raise ConfigError("overdue_default_interval_hours must be positive and at most a year")
        if not 0 <= self.overdue_grace_hours <= 24 * 31:
            raise ConfigError("overdue_grace_hours must be between 0 and 744")
        for job, hours in self.overdue_interval_overrides.items():
            if not isinstance(hours, int | float) or hours <= 0:
                raise ConfigError(f"overdue interval override for {job!r} must be a positive number of hours")
        _check_range("powertools_layer_version", self.powertools_layer_version, 1, 10_000)
        if not _GLUE_NAME.match(self.glue_database_name):
            raise ConfigError(f"glue_database_name must match [a-z0-9_]+, got {self.glue_database_name!r}")
        _check_range("quarantine_alarm_threshold", self.quarantine_alarm_threshold, 1, 10**9)

    @property
    def is_production(self) -> bool:
        return self.stage == PRODUCTION_STAGE

    @property
    def overdue_interval_overrides_json(self) -> str:
        return json.dumps(dict(self.overdue_interval_overrides), sort_keys=True, separators=(",", ":"))

    @property
    def resource_prefix(self) -> str:
        """Prefix of the few physical names AWS needs (Athena workgroup, Glue jobs): one per stage."""
        return f"lakewatch-{self.stage}"

    @classmethod
    def context_keys(cls) -> tuple[str, ...]:
        """Every context key `from_context` reads, so `app.py` can collect exactly those."""
        consumer_keys = [
            f"{prefix}_{item.name}" for prefix in ("transform", "job_monitor") for item in fields(StreamConsumerConfig)
        ]
        return (
            "stage",
            "stages",
            "removal_policy",
            "stream_capacity_mode",
            "stream_shard_count",
            "stream_retention_hours",
            "firehose_buffer_interval_seconds",
            "firehose_buffer_size_mib",
            "alert_emails",
            "alert_email",
            "ops_emails",
            "ops_email",
            *consumer_keys,
            "athena_bytes_scanned_cutoff",
            "athena_results_expiry_days",
            *(item.name for item in fields(LifecycleConfig)),
            "glue_worker_type",
            "glue_number_of_workers",
            "glue_timeout_minutes",
            "glue_pos_etl_schedule",
            "glue_compaction_schedule",
            "overdue_default_interval_hours",
            "overdue_grace_hours",
            "overdue_interval_overrides",
            "powertools_layer_version",
            "glue_database_name",
            "log_retention_days",
            "quarantine_alarm_threshold",
        )

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> StageConfig:
        """Build the config from raw context values (flat keys, strings from `-c` or JSON from cdk.json).

        Keys that are absent or None take the production default. Unknown keys are ignored, because
        cdk.json context also carries CDK feature flags.
        """
        stage = str(context.get("stage") or PRODUCTION_STAGE)
        per_stage = _as_mapping("stages", context.get("stages") or {}).get(stage) or {}
        values: dict[str, Any] = {**_as_mapping(f"stages.{stage}", per_stage)}
        values.update({key: value for key, value in context.items() if value is not None and key != "stages"})
        get = values.get
        defaults = cls()

        def integer(name: str, default: int) -> int:
            return _as_int(name, get(name), default)

        def number(name: str, default: float) -> float:
            return _as_float(name, get(name), default)

        def consumer(prefix: str, default: StreamConsumerConfig) -> StreamConsumerConfig:
            return StreamConsumerConfig(
                **{
                    item.name: integer(f"{prefix}_{item.name}", getattr(default, item.name))
                    for item in fields(StreamConsumerConfig)
                }
            )

        glue = defaults.glue
        return cls(
            stage=stage,
            removal_policy=_as_enum(
                RemovalPolicyName, "removal_policy", get("removal_policy"), defaults.removal_policy
            ),
            stream_capacity_mode=_as_enum(
                StreamCapacityMode, "stream_capacity_mode", get("stream_capacity_mode"), defaults.stream_capacity_mode
            ),
            stream_shard_count=integer("stream_shard_count", defaults.stream_shard_count),
            stream_retention_hours=integer("stream_retention_hours", defaults.stream_retention_hours),
            firehose_buffer_interval_seconds=integer(
                "firehose_buffer_interval_seconds", defaults.firehose_buffer_interval_seconds
            ),
            firehose_buffer_size_mib=integer("firehose_buffer_size_mib", defaults.firehose_buffer_size_mib),
            alert_emails=_as_emails(get("alert_emails"), get("alert_email")),
            ops_emails=_as_emails(get("ops_emails"), get("ops_email")),
            transform=consumer("transform", defaults.transform),
            job_monitor=consumer("job_monitor", defaults.job_monitor),
            athena_bytes_scanned_cutoff=integer("athena_bytes_scanned_cutoff", defaults.athena_bytes_scanned_cutoff),
            athena_results_expiry_days=integer("athena_results_expiry_days", defaults.athena_results_expiry_days),
            lifecycle=LifecycleConfig(
                **{
                    item.name: integer(item.name, getattr(defaults.lifecycle, item.name))
                    for item in fields(LifecycleConfig)
                }
            ),
            glue=GlueConfig(
                worker_type=_as_enum(GlueWorkerType, "glue_worker_type", get("glue_worker_type"), glue.worker_type),
                number_of_workers=integer("glue_number_of_workers", glue.number_of_workers),
                timeout_minutes=integer("glue_timeout_minutes", glue.timeout_minutes),
                pos_etl_schedule=str(get("glue_pos_etl_schedule") or glue.pos_etl_schedule),
                compaction_schedule=str(get("glue_compaction_schedule") or glue.compaction_schedule),
            ),
            overdue_default_interval_hours=number(
                "overdue_default_interval_hours", defaults.overdue_default_interval_hours
            ),
            overdue_grace_hours=number("overdue_grace_hours", defaults.overdue_grace_hours),
            overdue_interval_overrides=_as_overrides(get("overdue_interval_overrides")),
            powertools_layer_version=integer("powertools_layer_version", defaults.powertools_layer_version),
            glue_database_name=str(get("glue_database_name") or defaults.glue_database_name),
            log_retention_days=integer("log_retention_days", defaults.log_retention_days),
            quarantine_alarm_threshold=integer("quarantine_alarm_threshold", defaults.quarantine_alarm_threshold),
        )


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer between {low} and {high}, got {value!r}")


def _as_int(name: str, raw: Any, default: int) -> int:
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        raise ConfigError(f"{name} must be an integer, got {raw!r}")
    try:
        number = float(raw)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from error
    if not number.is_integer():
        raise ConfigError(f"{name} must be an integer, got {raw!r}")
    return int(number)


def _as_float(name: str, raw: Any, default: float) -> float:
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from error


def _as_enum(enum: type[_Enum], name: str, raw: Any, default: _Enum) -> _Enum:
    if raw is None or raw == "":
        return default
    text = str(raw)
    for member in enum:
        if text.casefold() == member.value.casefold():
            return member
    raise ConfigError(f"{name} must be one of {[member.value for member in enum]}, got {raw!r}")


def _as_emails(*raws: Any) -> tuple[str, ...]:
    """E-mail list from a JSON list, a JSON-encoded list, or a comma-separated string (`-c alert_email=a@b.c`)."""
    emails: list[str] = []
    for raw in raws:
        if raw is None:
            continue
        if isinstance(raw, str):
            text = raw.strip()
            items = json.loads(text) if text.startswith("[") else text.split(",")
        elif isinstance(raw, list | tuple):
            items = list(raw)
        else:
            raise ConfigError(f"e-mail addresses must be a string or a list, got {raw!r}")
        emails.extend(str(item).strip() for item in items if str(item).strip())
    return tuple(dict.fromkeys(emails))


def _as_overrides(raw: Any) -> dict[str, float]:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as error:
            raise ConfigError(f"overdue_interval_overrides must be a JSON object, got {raw!r}") from error
    mapping = _as_mapping("overdue_interval_overrides", raw)
    return {str(key): _as_float(f"overdue_interval_overrides[{key}]", value, 0.0) for key, value in mapping.items()}


def _as_mapping(name: str, raw: Any) -> Mapping[str, Any]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{name} must be a JSON object, got {raw!r}") from error
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{name} must be an object, got {raw!r}")
    return raw
