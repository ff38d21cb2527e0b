"""Fuzzing transform_records: arbitrary bytes and mutations of valid records, in batches with valid neighbours.

Whatever the bytes, every record gets exactly one verdict, nothing raises, a valid neighbour in the same batch
still comes out clean, and no verdict is `transform_error`: the catch-all is a last line of defence, and these
inputs must be handled by the rules themselves.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakewatch.domain.reasons import Reason
from lakewatch.domain.transform import Clean, Rejected, transform_records
from tests.fixtures import encode, load_event

KEY = b"fuzz-test-pii-key"
INGESTED_AT = datetime(2024, 5, 2, 9, tzinfo=UTC)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID = [
    encode(load_event("sale_web")),
    encode(load_event("sale_store")),
    encode(load_event("job_run")),
    encode(load_event("sale_store", customer_name="Zo\u00eb Caf\u00e9")),
]


def transform_beside_a_valid_neighbour(records: list[bytes], neighbour: bytes, position: int) -> None:
    """The shared assertion: one verdict each, the neighbour clean, no transform_error."""
    batch = [*records[:position], neighbour, *records[position:]]
    verdicts = transform_records(batch, pii_key=KEY, ingested_at=INGESTED_AT)
    assert len(verdicts) == len(batch)
    assert all(type(verdict) in (Clean, Rejected) for verdict in verdicts)
    assert isinstance(verdicts[position], Clean)
    assert not any(isinstance(verdict, Rejected) and verdict.reason is Reason.TRANSFORM_ERROR for verdict in verdicts)


@FUZZ
@given(st.lists(st.binary(max_size=600), max_size=6), st.sampled_from(VALID), st.integers(0, 6))
def test_arbitrary_bytes_never_take_a_valid_neighbour_down(records: list[bytes], neighbour: bytes, where: int) -> None:
    transform_beside_a_valid_neighbour(records, neighbour, min(where, len(records)))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid record after one of the mutations real pipelines produce."""
    data = draw(st.sampled_from(VALID))
    kind = draw(st.sampled_from(["flip", "truncate", "splice", "latin1", "utf16", "nest", "bad_utf8", "nest_field"]))
    if kind == "flip":
        position = draw(st.integers(0, len(data) - 1))
        return data[:position] + bytes([data[position] ^ (1 << draw(st.integers(0, 7)))]) + data[position + 1 :]
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))]
    if kind == "splice":
        other = draw(st.sampled_from(VALID))
        return data[: draw(st.integers(0, len(data)))] + other[draw(st.integers(0, len(other))) :]
    if kind == "latin1":
        return json.dumps(json.loads(data), ensure_ascii=False).encode("latin-1", "replace")
    if kind == "utf16":
        return data.decode().encode(draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32"])))
    if kind == "nest":
        depth = draw(st.integers(1, 3000))
        return b"[" * depth + data + b"]" * depth
    if kind == "nest_field":
        depth = draw(st.integers(1, 3000))
        return data[:-1] + b', "extra": ' + b"[" * depth + b"]" * depth + b"}"
    # invalid UTF-8 inside a string value
    position = data.index(b'"', data.index(b":") + 1) + 1
    return data[:position] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe9"])) + data[position:]


@FUZZ
@given(st.lists(mutated(), min_size=1, max_size=5), st.sampled_from(VALID), st.integers(0, 5))
def test_mutated_records_never_take_a_valid_neighbour_down(records: list[bytes], neighbour: bytes, where: int) -> None:
    transform_beside_a_valid_neighbour(records, neighbour, min(where, len(records)))


def test_the_reported_repros_get_one_verdict_each_beside_valid_records() -> None:
    latin1_name = encode(load_event("sale_store", customer_name="Caf\u00e9 Royal")).replace(b"Caf\\u00e9", b"Caf\xe9")
    repros = [b'{"a":"\xff"}', b"[" * 1000 + b"]" * 1000, latin1_name]
    transform_beside_a_valid_neighbour(repros, VALID[0], 1)
    verdicts = transform_records(repros, pii_key=KEY, ingested_at=INGESTED_AT)
    assert [(verdict.reason, verdict.field) for verdict in verdicts if isinstance(verdict, Rejected)] == [
        (Reason.INVALID_JSON, "encoding"),
        (Reason.INVALID_JSON, "nesting"),
        (Reason.INVALID_JSON, "encoding"),
    ]
