"""PII handling shared by the stream transform and the point-of-sale Glue job.

Rules (design.md, "Principles"): card numbers are dropped; a customer becomes `customer_key`, a keyed
hash, so returning customers can still be counted without anyone being able to reverse it; free text
that may carry PII (error messages, quarantined records) is masked before it is stored anywhere.
"""

from __future__ import annotations

import functools
import hashlib
import re
from typing import Any

from lakewatch.domain import events

#: Fields that must never leave the transform in clear, wherever they appear in a record.
PII_FIELDS = frozenset({"card_number", "customer_name", "customer_id"})

_CUSTOMER_KEY_BYTES = 16
#: Customers `CustomerKeys` remembers per key before it starts afresh: about 5 MB at most, a few percent of
#: the transform Lambda's memory, and more regulars than a warm execution environment usually meets.
CUSTOMER_KEY_MEMO_CAPACITY = 16_384
# 13-19 digits, optionally grouped by spaces or dashes: every card number format we accept on input.
_CARD_LIKE = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
#: A UUID in its canonical 8-4-4-4-12 hex form. Event and run ids are often UUIDs, and about 1 in 45 random
#: UUIDs holds a run of 13+ digits and dashes that `_CARD_LIKE` alone would mask, breaking the very id
#: on-call search quarantine and error messages by. A canonical UUID is an identifier, not a card number,
#: so it is kept whole; card-like runs anywhere else in the same text are still masked.
_UUID = r"(?<![0-9A-Fa-f-])[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}(?![0-9A-Fa-f-])"
_UUID_OR_CARD_LIKE = re.compile(f"(?P<uuid>{_UUID})|{_CARD_LIKE.pattern}")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
#: What any card-like run starts with (a digit, then 12 more digits or separators): a necessary condition that
#: is several times cheaper to look for than running `_CARD_LIKE.sub` on text that has none.
_CARD_HINT = re.compile(r"\d[\d -]{12}")
#: The shortest text `_CARD_HINT` can match: shorter text (most field values) skips the search altogether.
_CARD_HINT_LENGTH = 13
#: A number this large may be a card number that lost its quotes; `scrub` replaces it with `_NUMBER_MASK`.
_LARGE_NUMBER = 1e12
_NUMBER_MASK = "[number]"
#: Field names of the wire contract: constant text without PII (checked below), so `scrub` need not mask them.
_CONTRACT_KEYS = frozenset(
    {
        events.EVENT_TYPE_FIELD,
        *events.Sale.__struct_fields__,
        *events.SaleItem.__struct_fields__,
        *events.JobRun.__struct_fields__,
    }
)


def normalise_customer_identity(customer_id: str | None, customer_name: str | None) -> str | None:
    """The identity a customer_key is computed from, or None when the sale is anonymous.

    The name wins over the id because store tills (seed 002) only know names: keying on the name makes
    a customer seen in a store and online the same key. Case and spacing never split a customer.
    """
    if customer_name is not None:
        name = " ".join(customer_name.split()).casefold()
        if name:
            return "name:" + name
    if customer_id is not None:
        identifier = customer_id.strip()
        if identifier:
            return "id:" + identifier
    return None


def customer_key(identity: str | None, key: bytes) -> str | None:
    """Keyed BLAKE2b of a normalised identity (see `normalise_customer_identity`).

    BLAKE2b in keyed mode is a MAC by construction (no HMAC wrapper needed) and is the fastest keyed hash
    in the standard library, which matters on the transform's hot path.
    """
    if identity is None:
        return None
    hasher = keyed_state(key).copy()
    hasher.update(identity.encode())
    return hasher.hexdigest()


@functools.lru_cache(maxsize=4)
def keyed_state(key: bytes) -> Any:
    """The keyed BLAKE2b state before any data, never to be updated itself.

    `customer_key` is `keyed_state(key).copy()` + `update(identity.encode())` + `hexdigest()`: copying skips
    re-keying (one compression) per customer.
    """
    return hashlib.blake2b(key=key, digest_size=_CUSTOMER_KEY_BYTES)


class CustomerKeys:
    """`customer_key` under one PII key, remembered by the raw (customer_id, customer_name) pair.

    Regulars come back (seed 002: the same names at the same tills every day), and a warm execution
    environment sees them again and again: looking a pair up in `memo` is several times cheaper than
    normalising and hashing it, and the transform's hot path does exactly that, calling `remember` on a
    miss. The memo is bounded (it starts afresh when full) and lives in process memory only, beside the key
    itself; nothing in it is ever logged or written out.
    """

    __slots__ = ("_capacity", "_key", "memo")

    def __init__(self, key: bytes, capacity: int = CUSTOMER_KEY_MEMO_CAPACITY) -> None:
        self._key = key
        self._capacity = capacity
        self.memo: dict[tuple[str | None, str | None], str | None] = {}

    def remember(self, customer_id: str | None, customer_name: str | None) -> str | None:
        """The pair's customer_key, computed and remembered."""
        key = customer_key(normalise_customer_identity(customer_id, customer_name), self._key)
        if len(self.memo) >= self._capacity:
            self.memo.clear()
        self.memo[customer_id, customer_name] = key
        return key


@functools.lru_cache(maxsize=4)
def customer_keys(key: bytes) -> CustomerKeys:
    """The process's `CustomerKeys` for `key` (one per key: a rotated secret starts a fresh memo)."""
    return CustomerKeys(key)


def mask_text(text: str) -> str:
    """Mask card-number-like digit runs and e-mail addresses in free text."""
    if len(text) >= _CARD_HINT_LENGTH and _CARD_HINT.search(text) is not None:
        text = _UUID_OR_CARD_LIKE.sub(_card_mask, text)
    if "@" in text:  # every e-mail address has one; most text has none, so the substitution is skipped
        text = _EMAIL.sub("[email]", text)
    return text


def _card_mask(match: re.Match[str]) -> str:
    """What a `_UUID_OR_CARD_LIKE` match becomes: a UUID stays as it is, a card-like run is masked."""
    return match[0] if match.lastgroup == "uuid" else "[card]"


def scrub(value: Any) -> Any:
    """A deep copy of a decoded JSON value with PII fields removed and free text masked.

    Used for quarantine rows: enough of the record survives to diagnose it, nothing that identifies a
    person or a card does. Exact JSON types are dispatched first (what a decoder produces); anything else
    takes the general isinstance checks.
    """
    cls = type(value)
    if cls is str:
        return mask_text(value)
    if value is None or cls is bool:
        return value
    if cls is dict:
        return _scrub_dict(value)
    if cls is list:
        return [scrub(item) for item in value]
    if cls is int or cls is float:
        return _NUMBER_MASK if abs(value) >= _LARGE_NUMBER else value
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {mask_text(key): scrub(item) for key, item in value.items() if key not in PII_FIELDS}
    if isinstance(value, list):
        return [scrub(item) for item in value]
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) >= _LARGE_NUMBER:
        return _NUMBER_MASK
    return value


def _scrub_dict(value: dict[str, Any]) -> dict[str, Any]:
    """`scrub` of a dict, with the common leaves (short text, numbers, null, booleans) handled in the loop."""
    scrubbed = {}
    for key, item in value.items():
        if key in PII_FIELDS:
            continue
        # Keys are free text too: a map may be keyed by card number or e-mail address.
        clean_key = key if key in _CONTRACT_KEYS else mask_text(key)
        cls = type(item)
        if cls is str:
            scrubbed[clean_key] = mask_text(item) if len(item) >= _CARD_HINT_LENGTH or "@" in item else item
        elif cls is int or cls is float:
            scrubbed[clean_key] = _NUMBER_MASK if abs(item) >= _LARGE_NUMBER else item
        elif cls is dict:
            scrubbed[clean_key] = _scrub_dict(item)
        elif item is None or cls is bool:
            scrubbed[clean_key] = item
        else:
            scrubbed[clean_key] = scrub(item)
    return scrubbed


if any(mask_text(key) != key for key in _CONTRACT_KEYS):
    raise RuntimeError("a wire-contract field name looks like PII to mask_text; drop it from _CONTRACT_KEYS")


def fingerprint(data: bytes) -> dict[str, Any]:
    """What is kept of a record whose bytes cannot be safely stored: its length and a hash."""
    return {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}
