"""How a CDK context setting is declared once and everything else derived: the machinery behind `config.py`.

A setting is a dataclass field made by `setting(default, doc, check=...)`; a group of settings sharing a key
prefix (`transform_batch_size`, ...) is a field made by `group(...)` holding another such dataclass. From
the declarations come the context keys (`declared_settings`), the checks (`check_settings`, run by the
config's `__post_init__`) and the parsing of raw context (`parse_settings`); `config_docs.py` renders them as
README's table. Context values arrive as JSON from `cdk.json` or as text from `-c key=value`, so every parser
accepts both.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, replace
from enum import StrEnum
from functools import cache
from re import Pattern
from typing import Any, NamedTuple, TypeVar

_Enum = TypeVar("_Enum", bound=StrEnum)
_SETTING = "lakewatch.setting"
_GROUP = "lakewatch.setting_group"

Check = Callable[[str, Any], None]
Parse = Callable[[str, Any], Any]


class ConfigError(ValueError):
    """A context value that cannot be turned into a valid stage configuration."""


@dataclass(frozen=True, slots=True)
class Setting:
    """How one context key is documented, parsed from raw context and checked once parsed."""

    doc: str
    parse: Parse
    check: Check
    #: Further keys whose values are added to this (list) setting, e.g. `alert_email` for `alert_emails`.
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Group:
    prefix: str
    label: str


class SettingKey(NamedTuple):
    """A setting as the context sees it: its key, its attribute path in the config, its spec and default."""

    key: str
    path: tuple[str, ...]
    spec: Setting
    default: Any


def setting(
    default: Any,
    doc: str,
    *,
    check: Check | None = None,
    parse: Parse | None = None,
    aliases: tuple[str, ...] = (),
) -> Any:
    """A dataclass field that is also a documented, parsed and checked context key."""
    spec = Setting(doc=doc, parse=parse or _parser_for(default), check=check or _no_check, aliases=aliases)
    if isinstance(default, Mapping):
        return field(default_factory=lambda: dict(default), metadata={_SETTING: spec})
    return field(default=default, metadata={_SETTING: spec})


def group(default_factory: Callable[[], Any], *, prefix: str, label: str = "") -> Any:
    """A field holding a group of settings whose context keys are `prefix` + the group's field names."""
    return field(default_factory=default_factory, metadata={_GROUP: _Group(prefix, label)})


@cache
def declared_settings(cls: type) -> tuple[SettingKey, ...]:
    """Every setting of `cls` in declaration order, groups expanded, with its default."""
    return tuple(_settings_of(cls, prefix="", label="", path=(), defaults=None))


def check_settings(config: Any) -> None:
    """Run every setting's check on the value `config` holds for it."""
    for item in declared_settings(type(config)):
        value = config
        for attribute in item.path:
            value = getattr(value, attribute)
        item.spec.check(item.key, value)


def parse_settings(cls: type, given: Mapping[str, Any]) -> dict[str, Any]:
    """Constructor arguments of `cls` for the settings `given` holds (absent, None or "" count as not given)."""
    top_level: dict[str, Any] = {}
    in_groups: dict[str, dict[str, Any]] = {}
    for item in declared_settings(cls):
        raws = [given[key] for key in (item.key, *item.spec.aliases) if given.get(key) not in (None, "")]
        if not raws:
            continue
        value = _parse_given(item, raws)
        if len(item.path) == 1:
            top_level[item.path[0]] = value
        else:
            in_groups.setdefault(item.path[0], {})[item.path[1]] = value
    group_defaults = {item.name: _field_default(item) for item in fields(cls) if _GROUP in item.metadata}
    return {**top_level, **{name: replace(group_defaults[name], **values) for name, values in in_groups.items()}}


def between(low: float, high: float) -> Check:
    def check(name: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise ConfigError(f"{name} must be between {low} and {high}, got {value!r}")

    return check


def matching(pattern: Pattern[str], what: str) -> Check:
    """Every item (of a tuple setting) or the value itself must match `pattern`."""

    def check(name: str, value: Any) -> None:
        for item in value if isinstance(value, tuple) else (value,):
            if not pattern.match(item):
                raise ConfigError(f"{name} must be {what}, got {item!r}")

    return check


def as_mapping(name: str, raw: Any) -> Mapping[str, Any]:
    """A JSON object, or its text (`-c key='{"a": 1}'`)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{name} must be a JSON object, got {raw!r}") from error
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{name} must be an object, got {raw!r}")
    return raw


def as_float(name: str, raw: Any) -> float:
    if isinstance(raw, bool):
        raise ConfigError(f"{name} must be a number, got {raw!r}")
    try:
        return float(raw)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from error


def _as_int(name: str, raw: Any) -> int:
    number = as_float(name, raw)
    if not number.is_integer():
        raise ConfigError(f"{name} must be an integer, got {raw!r}")
    return int(number)


def _as_enum(enum: type[_Enum], name: str, raw: Any) -> _Enum:
    text = str(raw)
    for member in enum:
        if text.casefold() == member.value.casefold():
            return member
    raise ConfigError(f"{name} must be one of {[member.value for member in enum]}, got {raw!r}")


def _parser_for(default: Any) -> Parse:
    """The parser of a scalar setting, by the type of its default; other types name their parser."""
    if isinstance(default, StrEnum):
        return lambda name, raw: _as_enum(type(default), name, raw)
    if isinstance(default, bool):
        raise TypeError("boolean settings are not supported: say what the two states mean with an enum")
    if isinstance(default, int):
        return _as_int
    if isinstance(default, float):
        return as_float
    if isinstance(default, str):
        return lambda name, raw: str(raw)
    raise TypeError(f"a {type(default).__name__} setting needs its own parse= function")


def _no_check(name: str, value: Any) -> None:
    """No check beyond the parser's."""


def _parse_given(item: SettingKey, raws: list[Any]) -> Any:
    """The value of the key given; a list setting instead collects the items of its key and its aliases."""
    if item.spec.aliases:
        return tuple(dict.fromkeys(value for raw in raws for value in item.spec.parse(item.key, raw)))
    return item.spec.parse(item.key, raws[0])


def _settings_of(cls: type, *, prefix: str, label: str, path: tuple[str, ...], defaults: Any) -> Iterator[SettingKey]:
    for item in fields(cls):
        default = _field_default(item) if defaults is None else getattr(defaults, item.name)
        if _GROUP in item.metadata:
            spec: _Group = item.metadata[_GROUP]
            yield from _settings_of(
                type(default), prefix=prefix + spec.prefix, label=spec.label, path=(*path, item.name), defaults=default
            )
        else:
            setting_spec: Setting = item.metadata[_SETTING]
            if label:
                setting_spec = replace(setting_spec, doc=f"{label}: {setting_spec.doc}")
            yield SettingKey(prefix + item.name, (*path, item.name), setting_spec, default)


def _field_default(item: Field[Any]) -> Any:
    return item.default_factory() if item.default is MISSING else item.default
