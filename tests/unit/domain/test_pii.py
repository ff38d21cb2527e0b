"""PII helpers: masking free text, scrubbing records, keyed customer hashes."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakewatch.domain import pii

KEY = b"k" * 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 4111111111111111 declined", "card [card] declined"),
        ("card 4111 1111 1111 1111 declined", "card [card] declined"),
        ("card 4111-1111-1111-1111", "card [card]"),
        ("amex 3782 822463 10005", "amex [card]"),
        ("mail ops@example.co.uk now", "mail [email] now"),
        ("run 123456789012 rows", "run 123456789012 rows"),
        ("2024-05-01 12:00:00 took 3600 s", "2024-05-01 12:00:00 took 3600 s"),
        ("run 12345678-1234-1234-1234-123456789012 failed", "run 12345678-1234-1234-1234-123456789012 failed"),
        ("4111111111111111 on 7f3e0c12-9d4b-4e1a-8c2f-0123456789ab", "[card] on 7f3e0c12-9d4b-4e1a-8c2f-0123456789ab"),
        ("12345678-1234-1234-1234-1234567890123", "[card]-[card]"),  # one digit too many: not a UUID
    ],
)
def test_mask_text_masks_card_numbers_and_emails_but_not_ordinary_numbers(text: str, expected: str) -> None:
    assert pii.mask_text(text) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789 -@._abc+\u0663", max_size=60))
def test_mask_text_shortcuts_never_change_the_result(text: str) -> None:
    # Given text dense in digits, separators and @ (where the cheap pre-checks matter most)
    # When it is masked, Then the result is exactly both substitutions applied in order
    assert pii.mask_text(text) == pii._EMAIL.sub("[email]", pii._UUID_OR_CARD_LIKE.sub(pii._card_mask, text))


@settings(max_examples=300, deadline=None)
@given(st.uuids(), st.sampled_from(["", "run ", "card 4111 1111 1111 1111, id "]), st.sampled_from(["", " failed"]))
def test_a_uuid_survives_masking_whole_while_a_card_beside_it_does_not(
    identifier: uuid.UUID, before: str, after: str
) -> None:
    # Given a UUID (any: about 1 in 45 holds a card-length run of digits and dashes), alone or in text
    text = f"{before}{identifier}{after}"

    # When it is masked
    masked = pii.mask_text(text)

    # Then the UUID is intact and a card number next to it is not
    assert str(identifier) in masked
    assert "4111" not in masked


def test_scrub_masks_unknown_keys_and_keeps_contract_keys() -> None:
    # Given a record with a wire-contract key and free-text keys holding an e-mail address and a card number
    record = {"event_id": "e-1", "ops@example.com": 1, "items": [{"product": "x", "4111111111111111": None}]}

    # When it is scrubbed
    scrubbed = pii.scrub(record)

    # Then only the free-text keys are masked
    assert scrubbed == {"event_id": "e-1", "[email]": 1, "items": [{"product": "x", "[card]": None}]}


def test_scrub_drops_pii_fields_at_any_depth_and_masks_text() -> None:
    # Given a record with PII fields at several depths, free text and a quote-less card number
    record = {
        "card_number": "4111111111111111",
        "customer_name": "Jane",
        "nested": [{"customer_id": "c-1", "note": "jane@example.com", "4111 1111 1111 1111": "keyed by card"}],
        "bare": 4111111111111111,
        "total": 12.5,
        "ok": True,
    }

    # When it is scrubbed
    scrubbed = pii.scrub(record)

    # Then nothing identifying survives and the rest is kept
    assert scrubbed == {
        "nested": [{"note": "[email]", "[card]": "keyed by card"}],
        "bare": "[number]",
        "total": 12.5,
        "ok": True,
    }
    assert record["card_number"] == "4111111111111111"


def test_customer_key_is_a_keyed_blake2b_that_depends_on_the_key() -> None:
    identity = pii.normalise_customer_identity("c-1", None)
    expected = hashlib.blake2b(b"id:c-1", key=KEY, digest_size=16).hexdigest()
    assert pii.customer_key(identity, KEY) == expected
    assert pii.customer_key(identity, b"another key") != expected
    assert pii.customer_key(identity, KEY) == expected  # the cached keyed state is never mutated


def test_customer_identity_prefers_a_normalised_name_and_ignores_blanks() -> None:
    assert pii.normalise_customer_identity("c-1", "  Jane   DOE ") == "name:jane doe"
    assert pii.normalise_customer_identity(" c-1 ", "   ") == "id:c-1"
    assert pii.normalise_customer_identity(None, None) is None
    assert pii.customer_key(None, KEY) is None


def test_customer_keys_remembers_exactly_what_customer_key_computes() -> None:
    keys = pii.CustomerKeys(KEY)
    pairs = [("c-1", None), (None, "Jane Doe"), ("c-2", "  jane   DOE"), (" ", "  "), ("c-1", None)]

    remembered = [keys.key_for(customer_id, name) for customer_id, name in pairs]

    expected = [pii.customer_key(pii.normalise_customer_identity(*pair), KEY) for pair in pairs]
    assert remembered == expected
    assert remembered[1] == remembered[2] and remembered[3] is None
    assert len(keys) == 4  # the repeated pair was remembered, not recomputed
    assert pii.CustomerKeys(b"another key").key_for("c-1", None) != remembered[0]


def test_customer_keys_starts_afresh_when_full() -> None:
    keys = pii.CustomerKeys(KEY, capacity=2)
    keys.key_for("c-1", None)
    keys.key_for("c-2", None)

    keys.key_for("c-3", None)

    assert len(keys) == 1


def test_each_pii_key_has_its_own_customer_keys() -> None:
    assert pii.customer_keys(KEY) is pii.customer_keys(KEY)
    assert pii.customer_keys(KEY) is not pii.customer_keys(b"another key")


def test_fingerprint_keeps_only_length_and_hash() -> None:
    assert pii.fingerprint(b"abc") == {"length": 3, "sha256": hashlib.sha256(b"abc").hexdigest()}
