"""PII helpers: masking free text, scrubbing records, keyed customer hashes."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

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
        ("12345678-1234-1234-1234-1234567890123", "[card]"),  # one digit too many: not a UUID
        ("card 41111111111111111226 declined", "card [card] declined"),  # with its expiry date run on
        ("card 4111 1111 1111 1111 1226 737", "card [card]"),  # with its expiry date and security code
    ],
)
def test_mask_text_masks_card_numbers_and_emails_but_not_ordinary_numbers(text: str, expected: str) -> None:
    assert pii.mask_text(text) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789 -@._abc+%()[]t\u0663\u200b\uff20", max_size=60))
def test_mask_text_shortcuts_never_change_the_result(text: str) -> None:
    # Given text dense in digits, separators and what addresses are joined by (where the cheap pre-checks matter)
    # When it is masked, Then the result is what masking without the shortcuts and the memo gives
    assert pii.mask_text(text) == pii._mask(text)


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
    assert "4111 1111 1111 1111" not in masked  # (a UUID may hold "4111" itself)


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


def test_a_fingerprint_keeps_only_the_length_and_a_keyed_hash() -> None:
    # Keyed: a plain hash of a record that is only a card number is reversed by hashing every card number
    fingerprint = pii.fingerprint(b"4111111111111111", KEY)
    assert set(fingerprint) == pii.FINGERPRINT_FIELDS and fingerprint["length"] == 16
    assert fingerprint == pii.fingerprint(b"4111111111111111", KEY) != pii.fingerprint(b"4111111111111111", b"k2")
    assert hashlib.sha256(b"4111111111111111").hexdigest() not in json.dumps(fingerprint)
    assert pii.fingerprint(b"4111111111111111", None) == {"length": 16}


# ------------------------------------------------------------------------- card separators, e-mails, tokens

SEPARATED_CARDS = [
    "4111 1111 1111 1111",
    "4111  1111  1111  1111",
    "4111-1111-1111-1111",
    "4111.1111.1111.1111",
    "4111/1111/1111/1111",
    "4111_1111_1111_1111",
    "4111\u20131111\u20131111\u20131111",
    "4111\u20141111\u20141111\u20141111",
    "4111\t1111\t1111\t1111",
    "4111 -1111._1111/ 1111",
    "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
    "378282246310005",
    "4222222222222",
    "6011 0009 9013 9424 000",
]


@pytest.mark.parametrize("card", SEPARATED_CARDS)
def test_card_numbers_with_any_separators_are_masked(card: str) -> None:
    assert pii.mask_text(f"paid with {card} today") == "paid with [card] today"


@pytest.mark.parametrize("address", ["ops@example.com", "user@localhost", "first.last+tag@sub.example.co.uk"])
def test_email_addresses_with_or_without_a_dotted_domain_are_masked(address: str) -> None:
    assert pii.mask_text(f"mail {address} now") == "mail [email] now"


@pytest.mark.parametrize("text", ["2024-05-01 12:00:00 took 3600 s", "v1.2.3", "192.168.100.200", "order 123456789012"])
def test_ordinary_numbers_are_not_masked(text: str) -> None:
    assert pii.mask_text(text) == text


def test_an_id_with_a_card_or_email_becomes_a_stable_keyed_token_and_a_clean_id_stays() -> None:
    assert pii.protect_id("ord-1001", KEY) == "ord-1001"
    assert pii.protect_id("7f3e0c12-9d4b-4e1a-8c2f-0123456789ab", KEY) == "7f3e0c12-9d4b-4e1a-8c2f-0123456789ab"
    token = pii.protect_id("acme 4111.1111.1111.1111", KEY)
    assert token == pii.protect_id("acme 4111.1111.1111.1111", KEY) != pii.protect_id("acme 4111.1111.1111.1112", KEY)
    assert token.startswith(pii.TOKEN_PREFIX) and "4111" not in token
    assert pii.protect_id("acme 4111.1111.1111.1111", b"another key") != token
    # an id token is not the customer_key of the same text (BLAKE2b personalisation)
    assert token[len(pii.TOKEN_PREFIX) :] != pii.customer_key("acme 4111.1111.1111.1111", KEY)


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_a_token_is_kept_as_it_is_when_protected_again(value: str) -> None:
    # A re-driven record carries its id's token as its id: protecting it again must not change it
    token = pii.token(value, KEY)
    assert pii.protect_id(token, KEY) == token
    assert not any(char.isdigit() for char in token)


def test_every_contract_field_has_exactly_one_pii_role() -> None:
    roles = (pii.CUSTOMER_FIELDS, pii.ID_FIELDS, pii.FREE_TEXT_FIELDS, pii.STRUCTURED_FIELDS)
    assert sorted(name for role in roles for name in role) == sorted(pii.CONTRACT_FIELDS)


# -------------------------------------------------------------------------------------- allowlist quarantine


def test_quarantine_keeps_only_contract_fields_in_clear_and_the_customer_as_a_key() -> None:
    # Given a rejected record with PII under names the contract does not know, at several depths
    record = {
        "event_id": "e-1",
        "channel": "phone",
        "customer_name": "Jane Doe",
        "customerName": "Jane Doe",
        "CUSTOMER_NAME": "Jane Doe",
        "name": "Jane Doe",
        "customer": {"name": "Jane Doe", "id": "c-9"},
        "cardNumber": "4111111111111111",
        "Jane Doe": "a map keyed by a name",
        "4111 1111 1111 1111": 1,
        "items": [{"product": "Mocha for jo@example.com", "buyer": "Jane Doe", "unit_price": 4111111111111111}],
        "store": "Leeds",
        "order_id": "4111-1111-1111-1111",
    }

    # When it is scrubbed for quarantine
    scrubbed = pii.scrub_record(record, KEY)

    # Then contract fields survive (masked or tokenised), others keep a plain name but not their value
    assert scrubbed["event_id"] == "e-1" and scrubbed["channel"] == "phone" and scrubbed["store"] == "Leeds"
    assert scrubbed["order_id"] == pii.protect_id("4111-1111-1111-1111", KEY)
    assert scrubbed["items"] == [{"product": "Mocha for [email]", "buyer": pii.REDACTED, "unit_price": "[number]"}]
    for name in ("customerName", "CUSTOMER_NAME", "name", "customer", "cardNumber"):
        assert scrubbed[name] == pii.REDACTED
    assert scrubbed["customer_key"] == pii.customer_key(pii.normalise_customer_identity(None, "Jane Doe"), KEY)
    assert "customer_name" not in scrubbed
    text = json.dumps(scrubbed)
    assert "Jane" not in text and "4111" not in text and "c-9" not in text and "jo@" not in text


def test_quarantine_masks_the_records_own_customer_where_another_field_repeats_it() -> None:
    # Given a rejected sale whose producer shifted its columns: the customer's name and id in other fields
    record = {
        "event_type": "sale",
        "customer_name": "Jane  Doe",
        "customer_id": "cust-4817",
        "payment_method": "jane doe",
        "order_id": "CUST-4817/7",
        "items": [{"product": "Latte for Jane Doe", "size": "Janet's", "flavour": "Doe"}],
    }
    # When it is scrubbed for quarantine
    scrubbed = pii.scrub_record(record, KEY)
    # Then free text shows the mask, an id its keyed token (still joinable), and words that merely contain it stay
    assert scrubbed["payment_method"] == pii.CUSTOMER_MASK
    assert scrubbed["order_id"] == pii.token("CUST-4817/7", KEY)
    assert scrubbed["items"] == [{"product": "Latte for [customer]", "size": "Janet's", "flavour": "Doe"}]
    text = json.dumps(scrubbed).casefold()
    assert "jane doe" not in text and "4817" not in text


def test_quarantine_looks_for_no_customer_too_short_to_tell_from_a_word() -> None:
    scrubbed = pii.scrub_record({"customer_name": "Al", "items": [{"product": "Al fresco latte"}]}, KEY)
    assert scrubbed["items"] == [{"product": "Al fresco latte"}]


def test_quarantine_keeps_no_customer_key_when_the_customer_fields_are_not_text() -> None:
    assert "customer_key" not in pii.scrub_record({"customer_id": 42, "customer_name": None}, KEY)


def test_quarantine_redacts_what_nests_deeper_than_the_contract() -> None:
    deep: Any = "4111 1111 1111 1111 Jane"
    for _ in range(20):
        deep = {"items": [deep]}
    assert "Jane" not in json.dumps(pii.scrub_record(deep, KEY))


# ----------------------------------------------------------------------------------- customer normalisation


@pytest.mark.parametrize(
    "spelling",
    [
        "Zo\u00eb Quux",  # NFC
        "Zoe\u0308 Quux",  # NFD
        "\uff3a\uff4f\u00eb\u3000\uff31\uff55\uff55\uff58",  # fullwidth letters and ideographic space
        "Zo\u200b\u00eb Qu\u200dux\ufeff",  # zero-width space, joiner, BOM
        "  ZO\u00cb   quux ",
    ],
)
def test_customer_keys_agree_across_unicode_spellings(spelling: str) -> None:
    expected = pii.customer_key(pii.normalise_customer_identity(None, "zo\u00eb quux"), KEY)
    assert pii.customer_key(pii.normalise_customer_identity(None, spelling), KEY) == expected


def test_customer_ids_normalise_unicode_but_keep_their_case() -> None:
    assert pii.normalise_customer_identity("\uff23\uff35\uff33\uff34-42\u200b", None) == "id:CUST-42"
    assert pii.normalise_customer_identity("CUST-42", None) != pii.normalise_customer_identity("cust-42", None)


# ------------------------------------------------------------------------------------ the all-at-once shortcut


@settings(max_examples=500, deadline=None)
@given(
    st.text(alphabet='0123456789 \t-./_@\u2013\u2014\u0663\uff14ab\\"\n', max_size=40),
    st.lists(st.sampled_from(["sale-00000001", "Isle of Wight", "Flat white", "", "4111", "1111 1111"]), max_size=3),
)
def test_may_hold_pii_is_never_false_for_a_string_mask_text_would_change(text: str, neighbours: list[str]) -> None:
    # Given any string among the other strings of a row (short digit runs included, which must not join up)
    texts = [*neighbours, text, *reversed(neighbours)]
    # Then the shortcut only says "nothing to check" when checking each string would indeed change nothing
    if not pii.may_hold_pii(texts):
        assert all(pii.mask_text(each) == each for each in texts)


def test_may_hold_pii_clears_ordinary_strings_and_flags_cards_and_addresses() -> None:
    ordinary = ["sale-00000001", "Isle of Wight", "ord-3", "Flat white", "Large", "Vanilla", "client-068"]
    assert not pii.may_hold_pii(ordinary)
    for planted in ("4111.1111.1111.1111", "4111\u20131111\u20131111\u20131111", "jane@example.com", "root@localhost"):
        assert pii.may_hold_pii([*ordinary, f"note {planted} here"])
    # Digits of neighbouring strings never add up to a card-like run
    assert not pii.may_hold_pii(["1234567", "123456"])
