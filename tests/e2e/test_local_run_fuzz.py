"""Acceptance: thousands of mangled records through `local-run` end in the lake or in quarantine, none lost.

The records are valid sales and job runs mutated the ways real producers and networks break them (bit flips,
truncation, splices of two records, invalid UTF-8 inside strings, deep nesting, wrong encodings) plus random
bytes, from a fixed seed so a failure replays exactly. Nothing may reach the on-failure destination: a
record that cannot be processed is quarantined with a reason, and its batch carries on.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

from lakewatch.local.runner import LocalRunOptions, local_run
from tests.e2e.test_local_run import _job_run, _sale

SEED = 20240610
RECORDS = 3000
NOW = datetime(2024, 6, 10, 12, 0, tzinfo=UTC)


def _valid_records(rng: random.Random) -> list[bytes]:
    records = []
    for index in range(40):
        day, hour = rng.randint(1, 9), rng.randint(0, 23)
        store = rng.choice(["Leeds", "Chesterfield", None])
        records.append(json.dumps(_sale(f"s-{index}", day=day, hour=hour, store=store)).encode())
        records.append(json.dumps(_job_run(f"r-{index}", status=rng.choice(["SUCCEEDED", "FAILED"]))).encode())
    return records


def _flip(rng: random.Random, data: bytes) -> bytes:
    mutable = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        position = rng.randrange(len(mutable))
        mutable[position] ^= 1 << rng.randrange(8)
    return bytes(mutable)


def _truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(1, len(data))]


def _splice(rng: random.Random, data: bytes, other: bytes) -> bytes:
    return data[: rng.randrange(len(data))] + other[rng.randrange(len(other)) :]


def _invalid_utf8_in_a_string(rng: random.Random, data: bytes) -> bytes:
    quotes = [index for index, byte in enumerate(data) if byte == ord('"')]
    position = rng.choice(quotes) + 1
    return data[:position] + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf0\x28\x8c"]) + data[position:]


def _deep_nesting(rng: random.Random, data: bytes) -> bytes:
    depth = rng.choice([500, 1000, 5000, 20000])
    nested = b'{"x":' * depth + b"1" + b"}" * depth if rng.random() < 0.5 else b"[" * depth + b"]" * depth
    return data[:-1] + b', "extra": ' + nested + b"}"


def _other_encoding(rng: random.Random, data: bytes) -> bytes:
    text = data.decode().replace("Latte", "Café Crème")
    return text.encode(rng.choice(["utf-16", "utf-32", "latin-1", "cp1252"]), errors="replace")


def _random_bytes(rng: random.Random, _data: bytes) -> bytes:
    return rng.randbytes(rng.randint(1, 400))


def fuzz_lines(seed: int = SEED, count: int = RECORDS) -> list[bytes]:
    """`count` mutated records, one per line: newlines inside a record would split it, so they become spaces."""
    rng = random.Random(seed)
    valid = _valid_records(rng)
    mutations = [_flip, _truncate, _invalid_utf8_in_a_string, _deep_nesting, _other_encoding, _random_bytes]
    lines = []
    for _ in range(count):
        data = rng.choice(valid)
        if rng.random() < 0.1:
            mutated = _splice(rng, data, rng.choice(valid))
        elif rng.random() < 0.05:
            mutated = data
        else:
            mutated = rng.choice(mutations)(rng, data)
        mutated = mutated.replace(b"\n", b" ").removesuffix(b"\r")
        lines.append(mutated or b"?")
    return lines


def test_fuzzed_records_all_end_in_the_lake_or_quarantine(tmp_path: Path) -> None:
    lines = fuzz_lines()
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")

    report = local_run(LocalRunOptions(events=events, out=tmp_path / "out", now=NOW))

    accounting = report.accounting
    assert accounting.input_lines == RECORDS
    assert accounting.on_failure_records == {}, "no record may reach the on-failure destination"
    assert accounting.stream_lake_rows + accounting.quarantine_rows.get("stream", 0) == RECORDS
    assert accounting.balanced
