"""Expand a panel's SQL the way Grafana and its Athena data source do before Athena sees it (pure, stdlib only).

Two steps, in Grafana's order:

1. **Dashboard variables** (Grafana's front end, `applySQLTemplateVariables` of the AWS SDK the plugin uses):
   `$name`, `${name}` insert a single value as it is; `${name:sqlstring}` is Grafana's SQL-string format
   (`'` doubled, but `"` written as `\"`: Athena keeps that backslash, so a name holding `"` no longer matches);
   `${name:percentencode}` is `encodeURIComponent` with `!'()*` escaped too, text in `[A-Za-z0-9-_.~%]` only.
   Anything else (`[[name]]`, other formats) is refused. The panels compare text variables as
   `url_decode('${name:percentencode}')`: nothing a name holds can close the literal, meet Grafana's `\"`, or
   be read as a macro by step 2 (which runs on the interpolated text and does not know about quotes).
2. **Macros** (the plugin's back end, `grafana/athena-datasource` `pkg/athena/macros.go`, applied by the plugin
   SDK's `sqlutil.Interpolate`): every `$__name(args)` is replaced, longest macro name first, arguments split
   on the top-level commas and trimmed, each distinct macro text replaced everywhere it occurs. The plugin's
   macros and the SDK's defaults are both here, each producing the text the Go code produces:

   | macro | expands to |
   |---|---|
   | `$__timeFilter(col)` | `col BETWEEN TIMESTAMP 'from' AND TIMESTAMP 'to'` |
   | `$__timeFilter(col, fmt)` | `TIMESTAMP col BETWEEN ...` for the default fmt, else `parse_datetime(col,fmt) ...` |
   | `$__dateFilter(col)` | `col BETWEEN date 'from-day' AND date 'to-day'` |
   | `$__timeFrom()`, `$__timeTo()` | `TIMESTAMP 'yyyy-MM-dd HH:mm:ss'` |
   | `$__rawTimeFrom('fmt')`, `$__rawTimeTo('fmt')` | the instant in the Java-style `fmt`, quotes kept: a literal |
   | `$__timeGroup(col, '1h'[, fmt])` | `FROM_UNIXTIME(FLOOR(TO_UNIXTIME(col)/3600)*3600)` |
   | `$__unixEpochFilter(col)`, `$__unixEpochGroup(col, '1h')` | epoch seconds between / bucketed |
   | `$__parseTime(col[, fmt])` | `TIMESTAMP col` / `parse_datetime(col,fmt)` |
   | `$__interval`, `$__interval_ms`, `$__table`, `$__column` | the SDK's defaults |

The time range is taken in UTC. The plugin formats `$__timeFilter` and `$__timeGroup`'s bounds in the zone of
its own process (the SDK builds the range with `time.Unix`), which is UTC on Amazon Managed Grafana and in the
Grafana container images; every other macro converts to UTC itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import quote

#: The plugin's default Java-style format, quotes included (they end up in the output: a string literal).
TIMESTAMP_FORMAT = "'yyyy-MM-dd HH:mm:ss'"
_SQL_TIMESTAMP = "%Y-%m-%d %H:%M:%S"


class MacroError(ValueError):
    """The SQL cannot be expanded (as the plugin would refuse it): a bad argument count, bracket or interval."""


@dataclass(frozen=True, slots=True)
class QueryContext:
    """What Grafana sends with a query: the dashboard's time range, and the panel's interval, table, column."""

    time_from: datetime
    time_to: datetime
    interval: timedelta = timedelta(minutes=1)
    table: str = ""
    column: str = ""
    #: The clock `$__timeGroup` reads for calendar intervals (`1M`, `1y`), as `gtime.ParseInterval` does.
    now: datetime | None = None
    variables: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.time_from.tzinfo is None or self.time_to.tzinfo is None:
            raise ValueError("the time range must be aware datetimes")


# --------------------------------------------------------------------------------------------- variables
_VARIABLE = re.compile(r"\$\{(?P<braced>\w+)(?::(?P<format>\w+))?\}|\$(?P<bare>(?!__)\w+)|\[\[(?P<old>[^\]]+)\]\]")


def apply_variables(sql: str, variables: Mapping[str, str]) -> str:
    """Grafana's variable substitution for a single-valued variable, as the Athena data source asks for it."""

    def replace(match: re.Match[str]) -> str:
        if match["old"] is not None:
            raise MacroError(f"[[{match['old']}]]: the deprecated variable syntax; use ${{{match['old']}}}")
        name = match["braced"] or match["bare"]
        if name not in variables:
            raise MacroError(f"variable ${name} is not defined")
        value = variables[name]
        form = match["format"]
        if form is None:
            return value
        if form == "sqlstring":
            return "'" + value.replace("'", "''").replace('"', '\\"') + "'"
        if form == "percentencode":
            return quote(value, safe="-_.~")
        raise MacroError(f"${{{name}:{form}}}: format not supported here (use percentencode)")

    return _VARIABLE.sub(replace, sql)


# ------------------------------------------------------------------------------------------ Go formatting
def java_format_to_go_layout(date_format: str) -> str:
    """`toolbox.DateFormatToLayout` (viant/toolbox v0.39.0): the same replacements, each of the first match only,
    in the same order (so `'yyyy-MM-dd'` becomes `'2006-01-02'` and quotes pass through)."""
    replacements = (
        ("ddd", "_2"), ("dd", "02"), ("d", "2"), ("HH", "15"), ("hh", "03"), ("h", "3"), ("mm", "04"), ("m", "4"),
        ("ss", "05"), ("s", "5"), ("yyyy", "2006"), ("yy", "06"), ("y", "06"), ("SSS", "000"), ("a", "pm"),
        ("aa", "PM"), ("MMMM", "January"), ("MMM", "Jan"), ("MM", "01"), ("M", "1"), ("ZZ", "-0700"), ("Z", "-07"),
        ("zz:zz", "Z07:00"), ("zzzz", "Z0700"), ("z", "MST"), ("EEEE", "Monday"), ("E", "Mon"),
    )  # fmt: skip
    for old, new in replacements:
        date_format = date_format.replace(old, new, 1)
    return date_format


# Go's reference-time chunks (time/format.go nextStdChunk), longest first at each leading character.
_GO_CHUNKS = (
    "January", "Jan", "Monday", "Mon", "MST", "2006", "01", "02", "03", "04", "05", "06", "002", "15", "1", "2",
    "_2006", "__2", "_2", "3", "4", "5", "PM", "pm", "-070000", "-07:00:00", "-0700", "-07:00", "-07",
    "Z070000", "Z07:00:00", "Z0700", "Z07:00", "Z07",
)  # fmt: skip


def _go_chunk_at(layout: str, index: int) -> str | None:
    """The reference-time chunk starting at `index`, with nextStdChunk's context rules, or None (a literal)."""
    rest = layout[index:]
    for chunk in sorted((c for c in _GO_CHUNKS if rest.startswith(c)), key=len, reverse=True):
        if chunk in {"Jan", "Mon"} and rest[len(chunk) : len(chunk) + 1].islower():
            continue  # "Janet", "Month": nextStdChunk requires the word to end there
        if chunk == "_2006":
            return None  # "_" is a literal before a year
        return chunk
    if rest[:1] in {".", ","} and len(rest) > 1 and rest[1] in "09":
        digits = len(rest[1:]) - len(rest[1:].lstrip(rest[1]))
        if not rest[1 + digits : 2 + digits].isdigit():
            return rest[: 1 + digits]
    return None


def go_format(moment: datetime, layout: str) -> str:
    """`time.Time.Format(layout)` for a UTC instant (the plugin always formats UTC)."""
    moment = moment.astimezone(UTC)
    out: list[str] = []
    index = 0
    while index < len(layout):
        chunk = _go_chunk_at(layout, index)
        if chunk is None:
            out.append(layout[index])
            index += 1
            continue
        out.append(_go_chunk_value(moment, chunk))
        index += len(chunk)
    return "".join(out)


def _go_chunk_value(moment: datetime, chunk: str) -> str:
    hour12 = moment.hour % 12 or 12
    values: dict[str, Callable[[], str]] = {
        "January": lambda: moment.strftime("%B"),
        "Jan": lambda: moment.strftime("%b"),
        "Monday": lambda: moment.strftime("%A"),
        "Mon": lambda: moment.strftime("%a"),
        "MST": lambda: "UTC",
        "2006": lambda: f"{moment.year:04d}",
        "06": lambda: f"{moment.year % 100:02d}",
        "01": lambda: f"{moment.month:02d}",
        "1": lambda: str(moment.month),
        "02": lambda: f"{moment.day:02d}",
        "2": lambda: str(moment.day),
        "_2": lambda: f"{moment.day:>2d}",
        "__2": lambda: f"{moment.timetuple().tm_yday:>3d}",
        "002": lambda: f"{moment.timetuple().tm_yday:03d}",
        "15": lambda: f"{moment.hour:02d}",
        "03": lambda: f"{hour12:02d}",
        "3": lambda: str(hour12),
        "04": lambda: f"{moment.minute:02d}",
        "4": lambda: str(moment.minute),
        "05": lambda: f"{moment.second:02d}",
        "5": lambda: str(moment.second),
        "PM": lambda: "PM" if moment.hour >= 12 else "AM",
        "pm": lambda: "pm" if moment.hour >= 12 else "am",
    }
    if chunk in values:
        return values[chunk]()
    if chunk.startswith("Z"):
        return "Z"  # UTC
    if chunk.startswith("-"):
        return {"-070000": "+000000", "-07:00:00": "+00:00:00", "-0700": "+0000", "-07:00": "+00:00"}.get(chunk, "+00")
    # fractional seconds: ".000" always that many digits, ".999" trailing zeros (and an all-zero dot) dropped
    digits = f"{moment.microsecond:06d}000"[: len(chunk) - 1]
    if chunk[1] == "9":
        digits = digits.rstrip("0")
        return f"{chunk[0]}{digits}" if digits else ""
    return f"{chunk[0]}{digits}"


def go_float(value: float) -> str:
    """Go's `%v` of a float64: the shortest digits, in exponent form from 1e+06 up (or below 1e-04)."""
    if value == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    assert isinstance(exponent, int)
    text_digits = "".join(map(str, digits))
    decimal_exponent = len(text_digits) + exponent - 1
    prefix = "-" if sign else ""
    if decimal_exponent < -4 or decimal_exponent >= 6:
        mantissa = text_digits[0] + ("." + text_digits[1:] if len(text_digits) > 1 else "")
        return f"{prefix}{mantissa}e{'+' if decimal_exponent >= 0 else '-'}{abs(decimal_exponent):02d}"
    return prefix + format(Decimal(repr(float(abs(value)))).normalize(), "f")


# ------------------------------------------------------------------------------------------- intervals
_GO_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DATE_UNIT = re.compile(r"^(\d+)([dwMy])$")


def parse_interval_seconds(text: str, now: datetime) -> float:
    """`gtime.ParseInterval`: Go durations (`90s`, `1h30m`), or a whole number of d, w, M, y counted from `now`."""
    if not text:
        raise MacroError("empty interval")
    calendar = _DATE_UNIT.match(text)
    if calendar:
        count, unit = int(calendar[1]), calendar[2]
        start = now.astimezone(UTC)
        if unit in {"d", "w"}:
            return (count * (7 if unit == "w" else 1)) * 86_400.0
        months = count * (12 if unit == "y" else 1)
        return (_add_months(start, months) - start).total_seconds()
    body = text.lstrip("+-")
    if body == "0":
        return 0.0
    position, total = 0, 0.0
    for match in _GO_DURATION_PART.finditer(body):
        if match.start() != position:
            break
        total += float(match[1]) * _GO_DURATION_UNITS[match[2]]
        position = match.end()
    if position != len(body) or not body:
        raise MacroError(f'error parsing interval {text}: time: invalid duration "{text}"')
    return -total if text.startswith("-") else total


def _add_months(moment: datetime, months: int) -> datetime:
    """Go's `AddDate(0, months, 0)`: the day overflows into the next month (31 Jan + 1 month = 3 March)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    first = moment.replace(year=year, month=month, day=1)
    return first + timedelta(days=moment.day - 1)


def format_interval(interval: timedelta) -> str:
    """`gtime.FormatInterval`: the SDK's `$__interval` text."""
    milliseconds = interval // timedelta(milliseconds=1)
    for unit, size in (("y", 365 * 86_400_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if milliseconds >= size:
            return f"{milliseconds // size}{unit}"
    return f"{milliseconds}ms" if milliseconds >= 1 else "1ms"


# ---------------------------------------------------------------------------------------------- macros
def _parse_time(target: str, time_format: str) -> str:
    if time_format == "":
        return target
    if time_format == TIMESTAMP_FORMAT:
        return f"TIMESTAMP {target}"
    return f"parse_datetime({target},{time_format})"


def _need(args: list[str], count: int, macro: str, *, exact: bool = False) -> None:
    if len(args) < count or (exact and len(args) != count):
        raise MacroError(f"macro $__{macro}: unexpected number of arguments ({len(args)})")


def _time_group_parts(query: QueryContext, args: list[str], macro: str) -> tuple[float, str]:
    _need(args, 2, macro)
    seconds = parse_interval_seconds(args[1].strip("'"), query.now or query.time_to)
    column = _parse_time(args[0], args[2]) if len(args) == 3 else args[0]
    return seconds, column


def _sql_timestamp(moment: datetime) -> str:
    return f"TIMESTAMP '{moment.astimezone(UTC).strftime(_SQL_TIMESTAMP)}'"


def _raw_time(moment: datetime, args: list[str]) -> str:
    time_format = args[0] if len(args) == 1 and args[0] != "" else TIMESTAMP_FORMAT
    return go_format(moment, java_format_to_go_layout(time_format))


def _macro_time_filter(query: QueryContext, args: list[str]) -> str:
    _need(args, 1, "timeFilter")
    column = _parse_time(args[0], args[1] if len(args) > 1 else "")
    return f"{column} BETWEEN {_sql_timestamp(query.time_from)} AND {_sql_timestamp(query.time_to)}"


def _macro_date_filter(query: QueryContext, args: list[str]) -> str:
    _need(args, 1, "dateFilter", exact=True)
    days = (moment.astimezone(UTC).strftime("%Y-%m-%d") for moment in (query.time_from, query.time_to))
    return "{} BETWEEN date '{}' AND date '{}'".format(args[0], *days)


def _macro_time_group(query: QueryContext, args: list[str]) -> str:
    seconds, column = _time_group_parts(query, args, "timeGroup")
    return f"FROM_UNIXTIME(FLOOR(TO_UNIXTIME({column})/{go_float(seconds)})*{go_float(seconds)})"


def _macro_unix_epoch_group(query: QueryContext, args: list[str]) -> str:
    seconds, column = _time_group_parts(query, args, "unixEpochGroup")
    return f"FROM_UNIXTIME(FLOOR({column}/{go_float(seconds)})*{go_float(seconds)})"


def _macro_unix_epoch_filter(query: QueryContext, args: list[str]) -> str:
    _need(args, 1, "unixEpochFilter", exact=True)
    return f"{args[0]} BETWEEN {int(query.time_from.timestamp())} AND {int(query.time_to.timestamp())}"


def _macro_parse_time(_query: QueryContext, args: list[str]) -> str:
    _need(args, 1, "parseTime")
    return _parse_time(args[0], args[1] if len(args) == 2 else TIMESTAMP_FORMAT)


#: The plugin's macros over the SDK's defaults (`maps.Copy(merged, DefaultMacros); maps.Copy(merged, macros)`).
MACROS: dict[str, Callable[[QueryContext, list[str]], str]] = {
    # sqlutil.DefaultMacros that the plugin does not override
    "interval": lambda query, _args: format_interval(query.interval),
    "interval_ms": lambda query, _args: str(query.interval // timedelta(milliseconds=1)),
    "table": lambda query, _args: query.table,
    "column": lambda query, _args: query.column,
    # pkg/athena/macros.go
    "dateFilter": _macro_date_filter,
    "parseTime": _macro_parse_time,
    "unixEpochFilter": _macro_unix_epoch_filter,
    "timeFilter": _macro_time_filter,
    "rawTimeFrom": lambda query, args: _raw_time(query.time_from, args),
    "timeFrom": lambda query, _args: _sql_timestamp(query.time_from),
    "timeGroup": _macro_time_group,
    "unixEpochGroup": _macro_unix_epoch_group,
    "rawTimeTo": lambda query, args: _raw_time(query.time_to, args),
    "timeTo": lambda query, _args: _sql_timestamp(query.time_to),
}


def _parse_args(text: str) -> tuple[list[str] | None, int]:
    """`sqlutil.parseArgs`: a bracketed argument list at the start of `text` (quotes are not special), its length;
    (None, 0) when there is no bracket, (None, -1) when it never closes."""
    if not text.startswith("("):
        return None, 0
    args: list[str] = []
    depth = 0
    current: list[str] = []
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
            if depth == 1:
                continue
        elif char == ")":
            depth -= 1
            if depth == 0:
                args.append("".join(current).strip())
                return args, index + 1
        elif char == "," and depth == 1:
            args.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    return None, -1


def expand_macros(sql: str, query: QueryContext) -> str:
    """`sqlutil.Interpolate` with the Athena plugin's macros (see the module docstring)."""
    # Longest name first; names of one length never contain each other, so the tie order is immaterial.
    for name in sorted(MACROS, key=lambda key: (-len(key), key)):
        pattern = re.compile(rf"\$__{re.escape(name)}\b", re.ASCII)
        matches: list[tuple[str, list[str]]] = []
        for found in pattern.finditer(sql):
            args, length = _parse_args(sql[found.end() :])
            if length < 0:
                raise MacroError("failed to parse macro arguments (missing close bracket?)")
            matches.append((sql[found.start() : found.end() + length], args or []))
        for full, args in matches:
            sql = sql.replace(full, MACROS[name](query, args))
    return sql


def expand(sql: str, query: QueryContext) -> str:
    """What Athena receives for a panel's SQL: variables applied (front end), then macros (back end)."""
    return expand_macros(apply_variables(sql, query.variables), query)
