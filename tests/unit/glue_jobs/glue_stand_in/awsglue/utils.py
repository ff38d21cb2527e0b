"""`getResolvedOptions` as Glue's: the named `--option value` job arguments, an error if one is missing."""

from __future__ import annotations


class GlueArgumentError(Exception):
    pass


def getResolvedOptions(args: list[str], options: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for index, arg in enumerate(args):
        if not arg.startswith("--"):
            continue
        name, equals, value = arg[2:].partition("=")
        if equals:
            values[name] = value
        elif index + 1 < len(args):
            values[name] = args[index + 1]
    missing = [option for option in options if option not in values]
    if missing:
        raise GlueArgumentError(f"the following arguments are required: {', '.join('--' + m for m in missing)}")
    return {option: values[option] for option in options}
