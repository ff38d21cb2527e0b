"""The per-stage settings of the CDK app: one frozen, typed object built from CDK context.

Each setting is declared once, as a dataclass field made by `setting(default, doc, ...)`: its type, default,
description, parser and check live there, and everything else is derived from the declarations: the
context keys `app.py` collects (`context_keys`), the parsing (`from_context`), and the README's
configuration table (`stacks/config_docs.py`, kept equal to README by a test). Every default is the safe
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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, replace
from enum import StrEnum
from functools import cache
from typing import Any, NamedTuple, TypeVar

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
#: The context key holding per-stage values; not a setting itself.
STAGES_KEY = "stages"
#: Firehose dynamic partitioning (and Parquet conversion) require at least 64 MiB of buffer.
FIREHOSE_MIN_BUFFER_MIB = 64
FIREHOSE_MAX_BUFFER_MIB = 128
GIB = 1024**3

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_GLUE_NAME = re.compile(r"^[a-z0-9_]{1,255}$")
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_Enum = TypeVar("_Enum", bound=StrEnum)
_SETTING = "lakewatch.setting"
_GROUP_PREFIX = "lakewatch.group_prefix"
_GROUP_LABEL = "lakewatch.group_label"


class ConfigError(ValueError):
    """A context value that cannot be turned into a valid stage configuration."""


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


Check = Callable[[str, Any], None]
Parse = Callable[[str, Any], Any]


@dataclass(frozen=True, slots=True)
class Setting:
    """How one context key is documented, parsed from raw context and checked once parsed."""

    doc: str
    parse: Parse
    check: Check
    #: Further keys whose values are added to this (list) setting, e.g. `alert_email` for `alert_emails`.
    aliases: tuple[str, ...] = ()


class SettingKey(NamedTuple):
    """A setting as the context sees it: its key, where it lives in `StageConfig`, its spec and default."""

    key: str
    path: tuple[str, ...]
    spec: Setting
    default: Any


def setting(default: Any, doc: str, *, check: Check | None = None, aliases: tuple[str, ...] = ()) -> Any:
    """A dataclass field that is also a documented, parsed and checked context key."""
    spec = Setting(doc=doc, parse=_parser_for(default), check=check or _any, aliases=aliases)
    if isinstance(default, Mapping):
        return field(default_factory=lambda: dict(default), metadata={_SETTING: spec})
    return field(default=default, metadata={_SETTING: spec})


def group(default_factory: Callable[[], Any], *, prefix: str, label: str = "") -> Any:
    """A field holding a group of settings whose context keys are `prefix` + the group's field names."""
    return field(default_factory=default_factory, metadata={_GROUP_PREFIX: prefix, _GROUP_LABEL: label})


def between(low: float, high: float) -> Check:
    def check(name: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise ConfigError(f"{name} must be between {low} and {high}, got {value!r}")

    return check


def matching(pattern: re.Pattern[str], what: str) -> Check:
    def check(name: str, value: Any) -> None:
        for item in value if isinstance(value, tuple) else (value,):
            if not pattern.match(item):
                raise ConfigError(f"{name} must be {what}, got {item!r}")

    return check


def _glue_cron(name: str, value: str) -> None:
    if not (value.startswith("cron(") and value.endswith(")")):
        raise ConfigError(f"{name} must be a Glue cron expression like 'cron(15 * * * ? *)', got {value!r}")


def _positive_hours(name: str, value: Mapping[str, float]) -> None:
    for job, hours in value.items():
        if hours <= 0:
            raise ConfigError(f"{name}: the interval for {job!r} must be a positive number of hours")


def _any(name: str, value: Any) -> None:
    """No check beyond the parser's."""


def _parser_for(default: Any) -> Parse:
    """Context values arrive as JSON from cdk.json or as text from `-c`: coerce by the default's type."""
    if isinstance(default, StrEnum):
        return lambda name, raw: _as_enum(type(default), name, raw)
    if isinstance(default, bool):
        raise TypeError("boolean settings are not supported: say what the two states mean with an enum")
    if isinstance(default, int):
        return _as_int
    if isinstance(default, float):
        return _as_float
    if isinstance(default, str):
        return lambda name, raw: str(raw)
    if isinstance(default, tuple):
        return _as_emails
    if isinstance(default, Mapping):
        return _as_hours_by_job
    raise TypeError(f"no context parser for settings of type {type(default).__name__}")


def _as_int(name: str, raw: Any) -> int:
    if isinstance(raw, bool):
        raise ConfigError(f"{name} must be an integer, got {raw!r}")
    try:
        number = float(raw)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from error
    if not number.is_integer():
        raise ConfigError(f"{name} must be an integer, got {raw!r}")
    return int(number)


def _as_float(name: str, raw: Any) -> float:
    if isinstance(raw, bool):
        raise ConfigError(f"{name} must be a number, got {raw!r}")
    try:
        return float(raw)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from error


def _as_enum(enum: type[_Enum], name: str, raw: Any) -> _Enum:
    text = str(raw)
    for member in enum:
        if text.casefold() == member.value.casefold():
            return member
    raise ConfigError(f"{name} must be one of {[member.value for member in enum]}, got {raw!r}")


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


def _as_hours_by_job(name: str, raw: Any) -> dict[str, float]:
    return {str(key): _as_float(f"{name}[{key}]", value) for key, value in _as_mapping(name, raw).items()}


def _as_mapping(name: str, raw: Any) -> Mapping[str, Any]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{name} must be a JSON object, got {raw!r}") from error
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{name} must be an object, got {raw!r}")
    return raw


@dataclass(frozen=True, slots=True)
class StreamConsumerConfig:
    """Settings of one Kinesis event source mapping (one Lambda reading one stream)."""

    batch_size: int = setting(100, "records per invocation", check=between(1, 10_000))
    batching_window_seconds: int = setting(5, "how long to gather a batch", check=between(0, 300))
    retry_attempts: int = setting(3, "retries of a failing batch (then bisected)", check=between(0, 10_000))
    max_record_age_seconds: int = setting(3600, "age after which a record is given up", check=between(60, 604_800))
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
        aliases=("alert_email",),
    )
    ops_emails: tuple[str, ...] = setting(
        (),
        "e-mail subscriptions of the `ops` topic (a list, or comma-separated text)",
        check=matching(_EMAIL, "an e-mail address"),
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

    def __post_init__(self) -> None:
        for item in setting_keys():
            value: Any = self
            for attribute in item.path:
                value = getattr(value, attribute)
            item.spec.check(item.key, value)
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
        return (STAGES_KEY, *(key for item in setting_keys() for key in (item.key, *item.spec.aliases)))

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> StageConfig:
        """Build the config from raw context: flat keys beat `stages.<stage>`, which beats the defaults.

        Absent, None or empty values count as not given. Unknown flat keys are ignored, because context also
        carries CDK feature flags; an unknown key under `stages` is refused, as it can only be a typo.
        """
        stage = str(context.get("stage") or PRODUCTION_STAGE)
        stages = _as_mapping(STAGES_KEY, context.get(STAGES_KEY) or {})
        per_stage = _as_mapping(f"{STAGES_KEY}.{stage}", stages.get(stage) or {})
        unknown = sorted(set(per_stage) - set(cls.context_keys()) - {"stage"})
        if unknown:
            raise ConfigError(f"{STAGES_KEY}.{stage} has unknown keys: {', '.join(unknown)}")
        explicit = {key: value for key, value in context.items() if value not in (None, "")}
        given = {**per_stage, **explicit, "stage": stage}
        top_level: dict[str, Any] = {}
        in_groups: dict[str, dict[str, Any]] = {}
        for item in setting_keys():
            raws = [given[key] for key in (item.key, *item.spec.aliases) if given.get(key) not in (None, "")]
            if not raws:
                continue
            value = _parse_given(item, raws)
            if len(item.path) == 1:
                top_level[item.path[0]] = value
            else:
                in_groups.setdefault(item.path[0], {})[item.path[1]] = value
        group_defaults = {item.name: _field_default(item) for item in fields(cls) if _GROUP_PREFIX in item.metadata}
        return cls(**top_level, **{name: replace(group_defaults[name], **values) for name, values in in_groups.items()})


def _parse_given(item: SettingKey, raws: list[Any]) -> Any:
    """The value of the first key given; a list setting instead collects the items of its key and aliases."""
    if item.spec.aliases:
        return tuple(dict.fromkeys(value for raw in raws for value in item.spec.parse(item.key, raw)))
    return item.spec.parse(item.key, raws[0])


@cache
def setting_keys() -> tuple[SettingKey, ...]:
    """Every setting of `StageConfig` in declaration order, groups expanded, with its default."""
    return tuple(_settings_of(StageConfig, prefix="", label="", path=(), defaults=None))


def _settings_of(cls: type, *, prefix: str, label: str, path: tuple[str, ...], defaults: Any) -> Iterator[SettingKey]:
    for item in fields(cls):
        default = _field_default(item) if defaults is None else getattr(defaults, item.name)
        if _GROUP_PREFIX in item.metadata:
            yield from _settings_of(
                type(default),
                prefix=prefix + item.metadata[_GROUP_PREFIX],
                label=item.metadata[_GROUP_LABEL],
                path=(*path, item.name),
                defaults=default,
            )
        else:
            spec = item.metadata[_SETTING]
            spec = replace(spec, doc=f"{label}: {spec.doc}") if label else spec
            yield SettingKey(prefix + item.name, (*path, item.name), spec, default)


def _field_default(item: Field[Any]) -> Any:
    return item.default_factory() if item.default is MISSING else item.default
