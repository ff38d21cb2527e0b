"""KPL de-aggregation: every user record back, in order; anything corrupt refused as a whole."""

from __future__ import annotations

import contextlib
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakewatch.domain import kpl
from lakewatch.domain.transform import KPL_MAGIC


def test_user_records_come_back_in_order() -> None:
    records = [(f"pk-{i % 3}", f'{{"n": {i}}}'.encode()) for i in range(10)]

    assert kpl.user_records(kpl.aggregate(records)) == [data for _, data in records]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1, max_size=20), st.binary(max_size=300)), min_size=1, max_size=40))
def test_any_aggregate_round_trips(records: list[tuple[str, bytes]]) -> None:
    assert kpl.user_records(kpl.aggregate(records)) == [data for _, data in records]


def _with_digest(message: bytes) -> bytes:
    return KPL_MAGIC + message + hashlib.md5(message).digest()


@pytest.mark.parametrize(
    ("blob", "why"),
    [
        (KPL_MAGIC + b"\x00" * 8, "too short"),
        (_with_digest(b""), "no records"),
        (_with_digest(b"\x0a\x02pk"), "no records"),
        (_with_digest(b"\x0a\x02pk\x1a\x04\x08\x05\x1a\x00"), "key index out of range"),
        (_with_digest(b"\x0a\x02pk\x1a\x02\x08\x00"), "record without partition key index or data"),
        (_with_digest(b"\x0a\x7fpk"), "length past the end"),
        (_with_digest(b"\x0a\x02pk\x1a\x03\x08\x00\x1a"), "truncated varint"),
        (_with_digest(b"\x0b"), "unsupported wire type"),
        (_with_digest(b"\x0a\x02pk\x1a\x06\x08\x00\x10\x00\x1a\x00"), "key index out of range"),
    ],
)
def test_a_corrupt_aggregate_is_refused_whole(blob: bytes, why: str) -> None:
    with pytest.raises(kpl.CorruptAggregate, match=why):
        kpl.user_records(blob)


def test_every_single_byte_corruption_is_refused() -> None:
    blob = kpl.aggregate([("pk", b'{"a": 1}'), ("pk2", b'{"b": 2}')])

    for position in range(len(KPL_MAGIC), len(blob)):
        corrupted = bytearray(blob)
        corrupted[position] ^= 0x01
        with pytest.raises(kpl.CorruptAggregate):
            kpl.user_records(bytes(corrupted))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_after_the_magic_never_raise_anything_but_corrupt(tail: bytes) -> None:
    for blob in (KPL_MAGIC + tail, _with_digest(tail)):
        with contextlib.suppress(kpl.CorruptAggregate):
            kpl.user_records(blob)


def test_only_the_magic_prefix_marks_an_aggregate() -> None:
    assert kpl.is_aggregate(kpl.aggregate([("pk", b"{}")]))
    assert not kpl.is_aggregate(b'{"event_type": "sale"}')
