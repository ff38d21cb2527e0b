"""A rejected record's quarantine verdict (reason, field path, event_id, scrubbed record) holds no PII, for every
way a record can fail: a key a producer filled with a customer's name, an address or a card number is named in the
field path exactly as the scrubbed record names it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from lakewatch.domain import pii, transform
from lakewatch.domain.transform import Rejected

KEY = b"k" * 32
NOW = datetime(2024, 6, 10, 12, 0, tzinfo=UTC)
SALE: dict[str, Any] = {
    "event_type": "sale",
    "event_id": "s-1",
    "event_time": "2024-06-09T10:00:00Z",
    "channel": "store",
    "store": "Leeds",
    "payment_method": "CARD",
    "items": [{"product": "Latte", "unit_price": 2.45}],
    "total_price": 2.45,
}
NAME = "Mary Smith"
EMAIL = "mary.smith@example.com"
CARD = "4111 1111 1111 1111"


def _rejected(record: dict[str, Any]) -> Rejected:
    verdict = transform.transform_record(json.dumps(record).encode(), pii_key=KEY, ingested_at=NOW)
    assert isinstance(verdict, Rejected)
    return verdict


def _quarantine_text(verdict: Rejected) -> str:
    row = transform.quarantine_row(verdict, sequence_number="1", source="stream", quarantined_at=NOW)
    return json.dumps(row, ensure_ascii=False)


@pytest.mark.parametrize("secret", [NAME, EMAIL, CARD, f"{NAME}\u0000"])
@pytest.mark.parametrize(
    "where",
    ["top level", "in an item", "nested in an unknown object"],
)
def test_a_nul_under_a_key_holding_pii_is_quarantined_without_naming_the_key(secret: str, where: str) -> None:
    # Given a valid sale but for a NUL character under a key a producer filled with PII
    if where == "top level":
        record = {**SALE, secret: "x\u0000"}
    elif where == "in an item":
        record = {**SALE, "items": [{"product": "Latte", "unit_price": 2.45, secret: "\u0000"}]}
    else:
        record = {**SALE, "notes": {secret: ["\u0000"]}}

    # When it is quarantined
    verdict = _rejected(record)

    # Then the field path names the key by its token, as the scrubbed record does, and nowhere in clear
    assert verdict.field is not None
    assert pii.token(secret, KEY) in verdict.field
    quarantined = _quarantine_text(verdict)
    assert secret.rstrip("\u0000") not in quarantined
    assert "mary" not in quarantined.casefold()
    assert "4111" not in quarantined


def test_a_nul_under_a_plain_or_contract_key_keeps_the_path_people_search_by() -> None:
    assert _rejected({**SALE, "store": "Lee\u0000ds"}).field == "store"
    assert _rejected({**SALE, "items": [{"product": "La\u0000tte", "unit_price": 2.45}]}).field == "items[0].product"
    assert _rejected({**SALE, "notes": "\u0000"}).field == "notes"


def test_quarantine_key_names_agree_between_the_record_and_the_field_path() -> None:
    record = {**SALE, NAME: "\u0000"}
    verdict = _rejected(record)
    assert verdict.field in verdict.record
