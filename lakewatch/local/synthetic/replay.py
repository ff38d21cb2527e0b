"""The replay file: the records of one or more datasets in the order a producer sent them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from lakewatch.local.synthetic.job_runs import JobRunsDataset
from lakewatch.local.synthetic.sales import SalesDataset


def to_jsonl_lines(*datasets: SalesDataset | JobRunsDataset) -> list[bytes]:
    """Every record of the datasets in the order a producer sent them: by arrival time (stable for ties).

    Duplicates arrive after their original, late runs after later-ending runs, rejects sprinkled in time.
    """
    merged = [
        (line.arrival, dataset_index, line_index, line.data)
        for dataset_index, dataset in enumerate(datasets)
        for line_index, line in enumerate(dataset.lines)
    ]
    merged.sort(key=lambda entry: entry[:3])
    return [entry[3] for entry in merged]


def write_events_file(path: Path, lines: Iterable[bytes]) -> Path:
    """Write the payloads as EVENTS.jsonl for `local-run` (one per line; payloads never contain a newline)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        for line in lines:
            if b"\n" in line:
                raise ValueError("a Kinesis payload line must not contain a newline")
            handle.write(line + b"\n")
    return path
