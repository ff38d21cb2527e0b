"""Parsing of a Lambda's environment variables: fail the cold start, loudly, on anything missing or malformed,
rather than every record (or every alert) later."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from types import MappingProxyType


def required(env: Mapping[str, str], *names: str) -> tuple[str, ...]:
    """The values of `names`, in order; one error naming every missing (or empty) variable."""
    missing = [name for name in names if not env.get(name)]
    if missing:
        raise RuntimeError(f"missing environment variables: {', '.join(missing)}")
    return tuple(env[name] for name in names)


def hours(name: str, text: str) -> float:
    """A finite, non-negative number of hours."""
    try:
        value = float(text)
    except ValueError as error:
        raise RuntimeError(f"{name}: expected a number of hours, got {text!r}") from error
    if not math.isfinite(value) or value < 0:
        raise RuntimeError(f"{name}: expected a finite number of hours >= 0, got {text!r}")
    return value


def positive_number(name: str, text: str) -> float:
    """A finite number > 0."""
    try:
        value = float(text)
    except ValueError as error:
        raise RuntimeError(f"{name}: expected a number, got {text!r}") from error
    if not math.isfinite(value) or value <= 0:
        raise RuntimeError(f"{name}: expected a finite number > 0, got {text!r}")
    return value


def hours_by_name(name: str, text: str) -> Mapping[str, float]:
    """A JSON object of `{name: hours}`, read-only."""
    return numbers_by_name(name, text, hours)


def numbers_by_name(name: str, text: str, number: Callable[[str, str], float]) -> Mapping[str, float]:
    """A JSON object of `{name: number}`, each value read by `number` (e.g. `hours`), read-only."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise RuntimeError(f"{name}: not valid JSON") from error
    if not isinstance(raw, dict):
        raise RuntimeError(f"{name}: expected a JSON object")
    return MappingProxyType({str(key): number(f"{name}[{key!r}]", str(value)) for key, value in raw.items()})
