"""Deterministic synthetic data for `python -m lakewatch demo` and the end-to-end tests.

Three generators, each returning plain data plus a *manifest* of what was planted, so a test can assert exact
outcomes (how many lake rows, which quarantine reasons, which alerts) instead of "something happened":

- `generate_sales` (`sales.py`): wire-contract `sale` events of a café chain (`cafe.py`: menu, sizes, flavours
  and prices) from a few stores and a web channel, with opening hours, a morning rush, a web evening peak,
  weekends, regulars who come back, card payments carrying a card number and a name (which the pipeline must
  strip), and the adversarial records the transform must quarantine (one or more per reason code) or
  de-duplicate;
- `generate_job_runs` (`job_runs.py`): daily batches of ~100 clients (instance size, data volume, durations
  growing slowly as history accumulates, day-to-day noise, cost per run from the instance's hourly price) with
  failures, duration spikes, clients that stop running, late and redelivered events;
- `generate_pos_csv` (`pos_csv.py`): headerless till CSV drops with blank lines, bad rows and a re-dropped file.

Everything is pure stdlib and driven by `random.Random` seeded from the caller's seed (per-series generators
are seeded from text, which Python hashes with SHA-512, so results do not depend on PYTHONHASHSEED): the same
arguments give the same bytes on every machine. `to_jsonl_lines` (`replay.py`) orders the records of one or
more datasets as a Kinesis producer would have sent them (by arrival time), ready for `write_events_file`.

Manifests count what the pipeline is expected to produce, not what the generator happened to do on the way,
and hold every planted PII string (names, card numbers, customer ids, e-mail addresses) for leak checks.
"""

from lakewatch.local.synthetic.cafe import DEFAULT_STORES, SalesSummary, summarise_sales
from lakewatch.local.synthetic.common import (
    KIND_DUPLICATE,
    KIND_EVENT,
    KIND_LATE,
    KIND_REJECT,
    ReplayLine,
    uk_utc_offset,
)
from lakewatch.local.synthetic.job_runs import (
    HEALTHY_MAX_GAP,
    INSTANCE_TYPES,
    MAIN_JOB,
    SECOND_JOBS,
    JobRunsDataset,
    JobRunsManifest,
    LateInfo,
    SeriesInfo,
    SpikeInfo,
    StoppedInfo,
    generate_job_runs,
)
from lakewatch.local.synthetic.pos_csv import (
    PlantedCsvReject,
    PosCsvDataset,
    PosCsvManifest,
    generate_pos_csv,
    write_pos_files,
)
from lakewatch.local.synthetic.replay import to_jsonl_lines, write_events_file
from lakewatch.local.synthetic.sales import (
    RECORD_LIMIT_BYTES,
    PlantedReject,
    SalesDataset,
    SalesManifest,
    generate_sales,
)

__all__ = [
    "DEFAULT_STORES",
    "HEALTHY_MAX_GAP",
    "INSTANCE_TYPES",
    "KIND_DUPLICATE",
    "KIND_EVENT",
    "KIND_LATE",
    "KIND_REJECT",
    "MAIN_JOB",
    "RECORD_LIMIT_BYTES",
    "SECOND_JOBS",
    "JobRunsDataset",
    "JobRunsManifest",
    "LateInfo",
    "PlantedCsvReject",
    "PlantedReject",
    "PosCsvDataset",
    "PosCsvManifest",
    "ReplayLine",
    "SalesDataset",
    "SalesManifest",
    "SalesSummary",
    "SeriesInfo",
    "SpikeInfo",
    "StoppedInfo",
    "generate_job_runs",
    "generate_pos_csv",
    "generate_sales",
    "summarise_sales",
    "to_jsonl_lines",
    "uk_utc_offset",
    "write_events_file",
    "write_pos_files",
]
