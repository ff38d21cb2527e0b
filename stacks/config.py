"""The per-stage settings of the CDK app: one frozen, typed object built from CDK context.

Each setting is declared once, below, as a dataclass field made by `setting(default, doc, ...)` (the
machinery is `stacks/settings.py`): its type, default, description, parser and check live there, and
everything else is derived from the declarations: the context keys `app.py` collects (`context_keys`), the
parsing (`from_context`), and the README's configuration table (`stacks/config_docs.py`, kept equal to
README by a test). Every default is the safe
production choice (retain data, on-demand streams, bounded retries), so an empty context deploys a
production-grade lake.

Where a value comes from, strongest first:

1. a flat context key, e.g. `npx cdk deploy -c log_retention_days=30` (values given with `-c` arrive as
   strings and are coerced here);
2. the stage's entry under `stages` in `cdk.json` (`-c stage=dev` picks `{"stages": {"dev": {...}}}`);
3. the default declared here.

`cdk.json` therefore sets no flat setting keys (a test holds it to that): a flat key there would beat every
stage's value. It holds only per-stage values that differ from the defaults, plus CDK's feature flags.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lakewatch.domain.forecast_schedule import DEFAULT_DRIFT_THRESHOLD
from lakewatch.domain.forecast_series import DEFAULT_SERIES, available_series
from lakewatch.domain.job_events import Prices
from lakewatch.domain.tables import LAKE_ROOT, QUARANTINE_ROOT
from stacks.settings import (
    ConfigError,
    SettingKey,
    as_float,
    as_mapping,
    between,
    check_settings,
    declared_settings,
    group,
    matching,
    parse_settings,
    setting,
)

#: S3 prefixes of the lake bucket that `tables.py` does not own (it owns `lake/` and `quarantine/`).
BACKUP_ROOT = "backup"
ERRORS_ROOT = "errors"
LANDING_ROOT = "landing"
LANDING_POS_PREFIX = f"{LANDING_ROOT}/pos/"
ATHENA_RESULTS_ROOT = "athena-results"
#: Forecast model artefacts (one object per training run, plus `latest.json` per series); outside `lake/`, so
#: no table sees them.
FORECAST_MODELS_PREFIX = "forecast-models/"
GLUE_TEMP_ROOT = "glue-temp"
LAKE_PREFIX = f"{LAKE_ROOT}/"
QUARANTINE_PREFIX = f"{QUARANTINE_ROOT}/"

PRODUCTION_STAGE = "prod"
#: The context key holding per-stage values; not a setting itself.
STAGES_KEY = "stages"
#: Firehose dynamic partitioning (and Parquet conversion) require at least 64 MiB of buffer.
FIREHOSE_MIN_BUFFER_MIB = 64
FIREHOSE_MAX_BUFFER_MIB = 128
GIB = 1024**3

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_GLUE_NAME = re.compile(r"^[a-z0-9_]{1,255}$")
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,19}$")


class RemovalPolicyName(StrEnum):
    RETAIN = "retain"
    DESTROY = "destroy"


class StreamCapacityMode(StrEnum):
    ON_DEMAND = "ON_DEMAND"
    PROVISIONED = "PROVISIONED"


class CatalogEncryption(StrEnum):
    """Who sets the Glue Data Catalog's encryption, a setting of the whole account and region."""

    THIS_STAGE = "this_stage"
    ELSEWHERE = "elsewhere"


class GlueWorkerType(StrEnum):
    G_1X = "G.1X"
    G_2X = "G.2X"
    G_4X = "G.4X"
    G_8X = "G.8X"


class MonitoredJobs(StrEnum):
    """Which AWS batch jobs `job_events` turns into job runs (their EventBridge state changes)."""

    TAGGED = "tagged"
    ALL = "all"


def _glue_cron(name: str, value: str) -> None:
    if not (value.startswith("cron(") and value.endswith(")")):
        raise ConfigError(f"{name} must be a Glue cron expression like 'cron(15 * * * ? *)', got {value!r}")


def _positive_hours(name: str, value: Mapping[str, float]) -> None:
    for job, hours in value.items():
        if hours <= 0:
            raise ConfigError(f"{name}: the interval for {job!r} must be a positive number of hours")


def _as_emails(name: str, raw: Any) -> tuple[str, ...]:
    """A JSON list, a JSON-encoded list, or comma-separated text (`-c alert_email=a@b.c,d@e.f`)."""
    if isinstance(raw, str):
        text = raw.strip()
        items = json.loads(text) if text.startswith("[") else text.split(",")
    elif isinstance(raw, list | tuple):
        items = list(raw)
    else:
        raise ConfigError(f"{name} must be a string or a list of e-mail addresses, got {raw!r}")
    return tuple(dict.fromkeys(str(item).strip() for item in items if str(item).strip()))


def _as_bool(name: str, raw: Any) -> bool:
    """true/false, as JSON in cdk.json or as text from `-c grafana=true`."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in {"true", "false"}:
        return raw.strip().lower() == "true"
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _as_series_names(name: str, raw: Any) -> tuple[str, ...]:
    """A JSON list, a JSON-encoded list, or comma-separated text (`-c forecast_series=orders_total`)."""
    return _as_emails(name, raw)


def _known_series(name: str, value: tuple[str, ...]) -> None:
    known = available_series()
    if not value:
        raise ConfigError(f"{name} must name at least one series")
    for series in value:
        if series not in known:
            raise ConfigError(f"{name}: no series {series!r} (lakewatch/domain/series_sql/ holds {', '.join(known)})")


def _positive_thresholds(name: str, value: Mapping[str, float]) -> None:
    known = available_series()
    for key, threshold in value.items():
        if threshold <= 0:
            raise ConfigError(f"{name}: the threshold for {key!r} must be a positive number of orders per hour")
        if key.split("/", 1)[0] not in known:
            raise ConfigError(f"{name}: {key!r} is not `series` or `series/key` of a known series")


def _as_hours_by_job(name: str, raw: Any) -> dict[str, float]:
    return {str(key): as_float(f"{name}[{key}]", value) for key, value in as_mapping(name, raw).items()}


def _as_clients_by_job(name: str, raw: Any) -> dict[str, str]:
    clients = {str(key): str(value).strip() for key, value in as_mapping(name, raw).items()}
    if not all(clients.values()):
        raise ConfigError(f"{name}: every job needs a non-blank client")
    return clients


_PRICES = Prices()


def _price(doc: str, default: float) -> Any:
    return setting(default, doc, check=between(0, 1000))


@dataclass(frozen=True, slots=True)
class JobEventsConfig:
    """How `job_events` picks AWS jobs (Glue, Step Functions, Batch, EMR Serverless) and prices their runs.

    One `<price>_usd` setting per field of `job_events.Prices` (a test keeps them equal), defaulting to it.
    """

    monitored_jobs: MonitoredJobs = setting(
        MonitoredJobs.TAGGED,
        "`tagged`: only jobs tagged `lakewatch:client=<client>`; `all`: every job of the account",
    )
    client_by_job: Mapping[str, str] = setting(
        {},
        'with `all`, the client of an untagged job by job name, e.g. `{"nightly_export": "acme"}` (else the job name)',
        parse=_as_clients_by_job,
    )
    glue_dpu_hour_usd: float = _price("USD per Glue DPU-hour (standard)", _PRICES.glue_dpu_hour)
    glue_flex_dpu_hour_usd: float = _price("USD per Glue DPU-hour (Flex)", _PRICES.glue_flex_dpu_hour)
    emr_serverless_vcpu_hour_usd: float = _price("USD per EMR Serverless vCPU-hour", _PRICES.emr_serverless_vcpu_hour)
    emr_serverless_gb_hour_usd: float = _price("USD per EMR Serverless memory GB-hour", _PRICES.emr_serverless_gb_hour)
    emr_serverless_storage_gb_hour_usd: float = _price(
        "USD per EMR Serverless storage GB-hour", _PRICES.emr_serverless_storage_gb_hour
    )

    @property
    def client_by_job_json(self) -> str:
        return json.dumps(dict(self.client_by_job), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class StreamConsumerConfig:
    """Settings of one Kinesis event source mapping (one Lambda reading one stream)."""

    batch_size: int = setting(100, "records per invocation", check=between(1, 10_000))
    batching_window_seconds: int = setting(5, "how long to gather a batch", check=between(0, 300))
    retry_attempts: int = setting(3, "retries of a failing batch (then bisected)", check=between(0, 10_000))
    max_record_age_seconds: int = setting(
        3600, "age after which a record is given up (at most half the stream retention)", check=between(60, 604_800)
    )
    parallelization_factor: int = setting(2, "concurrent batches per shard", check=between(1, 10))


def _lifecycle_days(doc: str, default: int, *, low: int = 1) -> Any:
    return setting(default, doc, check=between(low, 3650))


@dataclass(frozen=True, slots=True)
class LifecycleConfig:
    """Days after which objects under each lake-bucket prefix are tiered or expired."""

    lake_intelligent_tiering_days: int = _lifecycle_days("days until `lake/` moves to Intelligent-Tiering", 30, low=0)
    noncurrent_version_expiry_days: int = _lifecycle_days("days old versions of `lake/` and access logs are kept", 30)
    quarantine_expiry_days: int = _lifecycle_days("days a quarantine row is kept (masked)", 90)
    backup_expiry_days: int = _lifecycle_days("days Firehose's source copies under `backup/` are kept", 30)
    errors_expiry_days: int = _lifecycle_days("days Firehose's failed records under `errors/` are kept", 90)
    landing_expiry_days: int = _lifecycle_days(
        "days a till CSV (raw card numbers) stays in `landing/`: long enough to re-run the POS job", 7
    )
    access_logs_expiry_days: int = _lifecycle_days("days S3 server access logs are kept", 365)


@dataclass(frozen=True, slots=True)
class GlueConfig:
    worker_type: GlueWorkerType = setting(GlueWorkerType.G_1X, "Glue worker type of both jobs")
    number_of_workers: int = setting(2, "Glue workers per job run", check=between(2, 299))
    timeout_minutes: int = setting(60, "minutes before a Glue job run is stopped", check=between(1, 2880))
    pos_etl_schedule: str = setting(
        "cron(15 * * * ? *)",
        "POS CSV job schedule, UTC: hourly, so a store's daily drop is in the lake within the hour",
        check=_glue_cron,
    )
    compaction_schedule: str = setting(
        "cron(30 2 * * ? *)",
        "compaction schedule, UTC: after midnight, when yesterday's partitions have stopped growing",
        check=_glue_cron,
    )


@dataclass(frozen=True, slots=True)
class StageConfig:
    """Everything that differs between deployments of lakewatch. Built once in `app.py`."""

    stage: str = setting(
        PRODUCTION_STAGE,
        "stage name, picks `stages.<stage>` and names resources; `prod` refuses `removal_policy=destroy`",
        check=matching(_STAGE_NAME, "lower-case letters, digits or '-' (max 20)"),
    )
    removal_policy: RemovalPolicyName = setting(
        RemovalPolicyName.RETAIN, "what happens to buckets, tables, streams and keys when the stack is deleted"
    )
    stream_capacity_mode: StreamCapacityMode = setting(
        StreamCapacityMode.ON_DEMAND, "Kinesis capacity (`PROVISIONED` uses `stream_shard_count`)"
    )
    stream_shard_count: int = setting(1, "shards per stream when provisioned", check=between(1, 500))
    stream_retention_hours: int = setting(24, "hours a record stays readable on each stream", check=between(24, 8760))
    firehose_buffer_interval_seconds: int = setting(
        300, "seconds Firehose buffers before writing a file", check=between(60, 900)
    )
    firehose_buffer_size_mib: int = setting(
        128,
        "Firehose buffer (dynamic partitioning needs at least 64 MiB)",
        check=between(FIREHOSE_MIN_BUFFER_MIB, FIREHOSE_MAX_BUFFER_MIB),
    )
    alert_emails: tuple[str, ...] = setting(
        (),
        "e-mail subscriptions of the `alerts` topic (a list, or comma-separated text)",
        check=matching(_EMAIL, "an e-mail address"),
        parse=_as_emails,
        aliases=("alert_email",),
    )
    ops_emails: tuple[str, ...] = setting(
        (),
        "e-mail subscriptions of the `ops` topic (a list, or comma-separated text)",
        check=matching(_EMAIL, "an e-mail address"),
        parse=_as_emails,
        aliases=("ops_email",),
    )
    transform: StreamConsumerConfig = group(
        StreamConsumerConfig, prefix="transform_", label="transform's Kinesis source"
    )
    #: One poller per shard: job runs are few, and fewer concurrent writers means fewer baseline write conflicts.
    job_monitor: StreamConsumerConfig = group(
        lambda: StreamConsumerConfig(parallelization_factor=1),
        prefix="job_monitor_",
        label="job_monitor's Kinesis source",
    )
    athena_bytes_scanned_cutoff: int = setting(
        10 * GIB, "bytes one Athena query may scan before it is cancelled", check=between(10_000_000, 2**62)
    )
    athena_results_expiry_days: int = setting(7, "days Athena results are kept", check=between(1, 3650))
    lifecycle: LifecycleConfig = group(LifecycleConfig, prefix="")
    glue: GlueConfig = group(GlueConfig, prefix="glue_")
    overdue_default_interval_hours: float = setting(
        24.0, "hours between runs a client/job is expected to keep", check=between(0.001, 24 * 366)
    )
    overdue_grace_hours: float = setting(2.0, "hours of slack before a late run alerts", check=between(0, 24 * 31))
    overdue_interval_overrides: Mapping[str, float] = setting(
        {},
        'expected interval per `"client/job_name"` or `"job_name"`, e.g. `{"acme/weekly_export": 168}`',
        check=_positive_hours,
        parse=_as_hours_by_job,
    )
    job_events: JobEventsConfig = group(JobEventsConfig, prefix="job_events_", label="AWS job state changes")
    forecast_series: tuple[str, ...] = setting(
        DEFAULT_SERIES,
        "series forecast every hour, 6 hours ahead: each a SQL file in `lakewatch/domain/series_sql/`",
        check=_known_series,
        parse=_as_series_names,
    )
    forecast_breach_thresholds: Mapping[str, float] = setting(
        {},
        'orders per hour a forecast must reach to send `forecast_breach`, per `"series"` or `"series/key"`, '
        'e.g. `{"orders_total": 400, "orders_by_store/web": 60}`',
        check=_positive_thresholds,
        parse=_as_hours_by_job,
    )
    forecast_drift_mase_threshold: float = setting(
        DEFAULT_DRIFT_THRESHOLD,
        "mean MASE (horizons 1-6, last 7 days) above which a forecast model has drifted: alarm to ops, retraining",
        check=between(0.1, 10),
    )
    powertools_layer_version: int = setting(27, "version of the managed Powertools layer", check=between(1, 10_000))
    glue_catalog_encryption: CatalogEncryption = setting(
        CatalogEncryption.THIS_STAGE,
        "who encrypts the account's Glue Data Catalog: `this_stage` (with its key) or `elsewhere` (another stage "
        "in the account owns it); a stage whose key is destroyed with it must say `elsewhere`",
    )
    glue_database_name: str = setting(
        "lakewatch", "Glue database of the tables and saved queries", check=matching(_GLUE_NAME, "[a-z0-9_]+")
    )
    log_retention_days: int = setting(90, "retention of the Lambda and Firehose log groups (a CloudWatch value)")
    quarantine_alarm_threshold: int = setting(
        100, "records quarantined in 5 minutes that page ops (a producer sends bad data)", check=between(1, 10**9)
    )
    grafana: bool = setting(
        False,
        "an Amazon Managed Grafana workspace (IAM Identity Center sign-in) with the four dashboards provisioned; "
        "alert e-mails then link to it",
        parse=_as_bool,
    )

    def __post_init__(self) -> None:
        check_settings(self)
        self._check_redrive_window()
        if self.stage == PRODUCTION_STAGE and self.removal_policy is not RemovalPolicyName.RETAIN:
            raise ConfigError("removal_policy must be 'retain' in the prod stage: the lake is not disposable")
        if (
            self.removal_policy is RemovalPolicyName.DESTROY
            and self.glue_catalog_encryption is CatalogEncryption.THIS_STAGE
        ):
            raise ConfigError(
                "glue_catalog_encryption must be 'elsewhere' with removal_policy=destroy: the account's whole Data "
                "Catalog would be encrypted with a key that is deleted with this stage"
            )

    def _check_redrive_window(self) -> None:
        """Each Kinesis consumer must give up on a record while its stream still holds it, with time to spare.

        A record the stream drops while the event source mapping is still retrying it is skipped with no
        on-failure message: lost without a trace. Given up on in time, it is named on the on-failure queue and
        stays re-drivable (`lakewatch.redrive`) until the stream's retention ends; at least half of that
        retention is kept for the people re-driving it (the on-failure age alarm fires in that half).
        """
        retention_seconds = self.stream_retention_hours * 3600
        for prefix, consumer in (("transform_", self.transform), ("job_monitor_", self.job_monitor)):
            if consumer.max_record_age_seconds > retention_seconds // 2:
                raise ConfigError(
                    f"{prefix}max_record_age_seconds ({consumer.max_record_age_seconds}) must be at most half of "
                    f"stream_retention_hours ({self.stream_retention_hours} h): a record the stream drops while "
                    "still retried is lost without an on-failure message, and re-driving one needs time"
                )

    @property
    def is_production(self) -> bool:
        return self.stage == PRODUCTION_STAGE

    @property
    def overdue_interval_overrides_json(self) -> str:
        return json.dumps(dict(self.overdue_interval_overrides), sort_keys=True, separators=(",", ":"))

    @property
    def forecast_breach_thresholds_json(self) -> str:
        return json.dumps(dict(self.forecast_breach_thresholds), sort_keys=True, separators=(",", ":"))

    @property
    def resource_prefix(self) -> str:
        """Prefix of the few physical names AWS needs (Athena workgroup, Glue jobs): one per stage."""
        return f"lakewatch-{self.stage}"

    @classmethod
    def settings(cls) -> tuple[SettingKey, ...]:
        """Every setting, groups expanded, in declaration order (README's table lists them in this order)."""
        return declared_settings(cls)

    @classmethod
    def context_keys(cls) -> tuple[str, ...]:
        """Every context key `from_context` reads, so `app.py` can collect exactly those."""
        return (STAGES_KEY, *(key for item in cls.settings() for key in (item.key, *item.spec.aliases)))

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> StageConfig:
        """Build the config from raw context: flat keys beat `stages.<stage>`, which beats the defaults.

        Absent, None or empty values count as not given. Unknown flat keys are ignored, because context also
        carries CDK feature flags; an unknown key under `stages` is refused, as it can only be a typo.
        """
        stage = str(context.get("stage") or PRODUCTION_STAGE)
        stages = as_mapping(STAGES_KEY, context.get(STAGES_KEY) or {})
        per_stage = as_mapping(f"{STAGES_KEY}.{stage}", stages.get(stage) or {})
        unknown = sorted(set(per_stage) - set(cls.context_keys()) - {"stage"})
        if unknown:
            raise ConfigError(f"{STAGES_KEY}.{stage} has unknown keys: {', '.join(unknown)}")
        explicit = {key: value for key, value in context.items() if value not in (None, "")}
        return cls(**parse_settings(cls, {**per_stage, **explicit, "stage": stage}))
