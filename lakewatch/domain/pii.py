"""PII handling shared by the stream transform and the point-of-sale Glue job.

A card number or a customer never reaches S3, logs, alerts or quarantine in clear. Every string of the wire
contract has one role, and the role decides what is stored:

=================  =============================================  ==========================================
role               fields                                         what is stored
=================  =============================================  ==========================================
customer           customer_id, customer_name                     never stored: hashed into `customer_key`
identifier         event_id, order_id, store, run_id, client,     as sent, unless it holds a card-like number
                   job_name                                       or an e-mail address: then a keyed token
                                                                  (`tok_…`), the same id always the same token,
                                                                  so joins and group-bys still work
free text          product, size, flavour, instance_size,         card-like numbers and e-mail addresses
                   error_message                                  masked (`[card]`, `[email]`)
structured         event_type, event_time, channel, status, ...   validated against a vocabulary, a time or a
                                                                  number; in quarantine, masked like free text
=================  =============================================  ==========================================

`card_number` is not a contract field: it is never decoded, so it is never stored. Alerts, logs and query
CSVs are built from clean rows, so they inherit this protection; POS baskets go through the same transform,
so `top_products` does too.

Card-like numbers: 13 digits or more (a card has 13 to 19; one run together with its expiry date is still one),
separated by up to two of any space, any dash, `.`, `/` or `_` between any two digits; text that is not ASCII is also
read as a person sees it (`_visible_form`: no invisible characters, fullwidth and superscript digits as digits). Luhn
validity is deliberately *not* required: a mistyped card number is still a card number to its owner, and masking an
ordinary 13+ digit number in free text costs little. Canonical UUIDs are identifiers and stay whole (see `_UUID`).
E-mail addresses: anything `local@domain`, with or without a dot in the domain (`root@localhost`), quoted local parts
and address literals, `%40`, and `(at)` / `[at]` spelt out.

Quarantined records are scrubbed by allowlist (`scrub_record`): only contract fields are kept, after the rules
above; any other key keeps its name (when plain) but not its value; the customer survives as `customer_key`.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from lakewatch.domain import events

# ------------------------------------------------------------------------------------------ field roles

CUSTOMER_FIELDS = frozenset({"customer_id", "customer_name"})
ID_FIELDS = frozenset({"event_id", "order_id", "store", "run_id", "client", "job_name"})
FREE_TEXT_FIELDS = frozenset({"product", "size", "flavour", "instance_size", "error_message"})
STRUCTURED_FIELDS = frozenset(
    {
        events.EVENT_TYPE_FIELD,
        "event_time",
        "schema_version",
        "customer_key",
        "channel",
        "payment_method",
        "items",
        "unit_price",
        "quantity",
        "line_total",
        "discount",
        "total_price",
        "currency",
        "status",
        "started_at",
        "ended_at",
        "duration_seconds",
        "data_processed_gb",
        "cost_usd",
    }
)
#: Every field name of the wire contract (sale, sale item, job run).
CONTRACT_FIELDS = frozenset(
    {
        events.EVENT_TYPE_FIELD,
        *events.Sale.__struct_fields__,
        *events.SaleItem.__struct_fields__,
        *events.JobRun.__struct_fields__,
    }
)
#: What a quarantined record keeps (by name, at any depth): the contract minus the customer.
QUARANTINE_FIELDS = CONTRACT_FIELDS - CUSTOMER_FIELDS
#: Fields removed outright by `scrub` (the POS job's diagnostic columns), wherever they appear.
PII_FIELDS = frozenset({"card_number", *CUSTOMER_FIELDS})

_ROLES = (CUSTOMER_FIELDS, ID_FIELDS, FREE_TEXT_FIELDS, STRUCTURED_FIELDS)
if sum(map(len, _ROLES)) != len(CONTRACT_FIELDS) or frozenset().union(*_ROLES) != CONTRACT_FIELDS:
    raise RuntimeError("every wire-contract field must have exactly one PII role in lakewatch.domain.pii")

# --------------------------------------------------------------------------------------------- patterns

#: What may stand between two digits of a card number as people and systems write them: any space (no-break,
#: thin and ideographic spaces, tabs and line breaks included), any dash (hyphen-minus, hyphen, non-breaking hyphen,
#: figure, en and em dash, horizontal bar, minus sign), `.`, `/`, `_`. Fullwidth forms and invisible characters
#: (zero-width spaces, soft hyphens) are seen through by `_visible_form`.
_CARD_SEPARATOR = r"[\s\-./_\u2010-\u2015\u2212]"
#: 13 digits or more, up to two separators between any two, masked whole. Cards have 13-19 digits, but a card
#: number run together with its expiry date or security code (`41111111111111111226`) is still a card number.
_CARD_LIKE = rf"(?<!\d)\d(?:{_CARD_SEPARATOR}{{0,2}}\d){{12,}}"
#: A UUID in its canonical 8-4-4-4-12 hex form. Event and run ids are often UUIDs, and about 1 in 45 random
#: UUIDs holds a run of 13+ digits and dashes that `_CARD_LIKE` alone would mask, breaking the very id
#: on-call searches quarantine and error messages by. A canonical UUID is an identifier, not a card number,
#: so it is kept whole; card-like runs anywhere else in the same text are still masked.
_UUID = r"(?<![0-9A-Fa-f-])[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}(?![0-9A-Fa-f-])"
_UUID_OR_CARD_LIKE = re.compile(f"(?P<uuid>{_UUID})|{_CARD_LIKE}")
#: Where an address is joined: `@`, its URL encoding `%40` (an address inside a link), or `(at)` / `[at]` as people
#: spell it out to fool harvesters (a person still reads an address). Addresses are found from here outwards, so
#: the time to mask a text grows with its length, not with its square (a regex starting with the local part tries
#: every position of a long word again).
_EMAIL_AT = re.compile(r"@|%40|\s?[(\[]at[)\]]\s?", re.IGNORECASE)
#: The local part of an address read backwards from its `@`: RFC 5322's unquoted characters (letters and digits of
#: any script too), at most 64, or a quoted string (`"jane doe"@example.com`).
_EMAIL_LOCAL_REVERSED = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]{1,64}|\"[^\"\r\n]{1,64}\"")
#: The domain after an `@`: names with or without dots (`root@localhost`) or an address literal (`[192.0.2.1]`,
#: `[IPv6:2001:db8::1]`; never a mask such as `[email]`, so masking twice changes nothing more).
_EMAIL_DOMAIN = re.compile(r"[\w-]+(?:\.[\w-]+)*|\[(?:[0-9.]{7,15}|IPv6:[0-9A-Fa-f:.]{2,45})\]", re.IGNORECASE)
#: The domain after a spelt-out `(at)`: it needs a dot (or a spelt-out `(dot)`), so "meet (at) noon" stays.
_SPELT_EMAIL_DOMAIN = re.compile(r"[\w-]+(?:(?:\.|\s?[(\[]dot[)\]]\s?)[\w-]+)+", re.IGNORECASE)
#: Characters every `_EMAIL_AT` match holds one of: text without any has no address to look for.
_EMAIL_MARKS = "@%)]"
#: What every card-like run is: a digit, then at least 12 more digits or separators. A necessary condition,
#: far cheaper to look for than the run itself (no backtracking).
_CARD_HINT = re.compile(rf"\d(?:\d|{_CARD_SEPARATOR}){{12}}")
_SHORTEST_CARD_LIKE = 13
CARD_MASK = "[card]"
EMAIL_MASK = "[email]"
#: A number this large may be a card number that lost its quotes: quarantine shows `NUMBER_MASK` instead.
_LARGE_NUMBER = 1e12
NUMBER_MASK = "[number]"
#: What a quarantined record shows for the value of a key outside the contract.
REDACTED = "[redacted]"
#: What a quarantined record shows where another field repeats its own customer's id or name (a producer that
#: shifted its columns, a name typed into a free-text field).
CUSTOMER_MASK = "[customer]"
#: A customer id or name this short is not looked for elsewhere in the record: it would match ordinary words.
_SHORTEST_ECHOED_CUSTOMER = 3
#: Quarantine keeps this much nesting (the contract has three levels); anything deeper is redacted.
_MAX_DEPTH = 8
#: A key outside the contract keeps its name in quarantine only if it looks like a field name.
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")

_CUSTOMER_KEY_BYTES = 16
_CUSTOMER_KEY_TEXT = re.compile(events.CUSTOMER_KEY_PATTERN)
_TOKEN_BYTES = 16
TOKEN_PREFIX = "tok_"  # noqa: S105 - a marker for tokenised ids, not a secret
#: BLAKE2b personalisation of id tokens: an id token never equals a customer_key of the same text.
_TOKEN_PERSON = b"lakewatch-id"
#: Customers `CustomerKeys` remembers per key before it starts afresh: about 5 MB at most, a few percent of
#: the transform Lambda's memory, and more regulars than a warm execution environment usually meets.
CUSTOMER_KEY_MEMO_CAPACITY = 16_384


# ------------------------------------------------------------------------------------------------ masking


def mask_text(text: str) -> str:
    """`text` with card-like numbers and e-mail addresses masked.

    Most field values are too short to hold a card number and hold nothing an address is joined by: they are
    returned unscanned. The rest are remembered (`_recent_masks`): catalogue text (products, sizes, stores) repeats
    in every batch.
    """
    if len(text) < _SHORTEST_CARD_LIKE and text.isascii() and not _may_hold_email(text):
        return text
    masked = _recent_masks.get(text)
    if masked is None:
        masked = _mask(text)
        if len(text) <= _REMEMBERED_TEXT_LENGTH:
            if len(_recent_masks) >= _REMEMBERED_TEXTS:
                _recent_masks.clear()
            _recent_masks[text] = masked
    return masked


def _mask(text: str) -> str:
    """Masked as a person reads it: text that is not plain ASCII may hide a card number or an address from a
    pattern but not from a reader (`_visible_form`: split by zero-width spaces or soft hyphens, written in
    superscript or fullwidth digits, a fullwidth at sign). Such text is stored in its visible form, masked; text
    without anything to mask is stored exactly as sent."""
    masked = _mask_as_written(text)
    if text.isascii():
        return masked
    visible = _visible_form(text)
    if visible == text:
        return masked
    visible_masked = _mask_as_written(visible)
    if visible_masked == visible:
        return masked
    # Both forms hold something to mask. Masking the visible form leaves no fragment of what the written form
    # only partly matched (`j<zero-width space>ane@…`); the written form, masked first, also keeps masked a run
    # that folding joined to a longer one (a lone combining mark between digits). The form with more masks wins.
    both = _mask_as_written(_visible_form(masked))
    return both if _mask_count(both) > _mask_count(visible_masked) else visible_masked


def _mask_count(text: str) -> int:
    return text.count(CARD_MASK) + text.count(EMAIL_MASK)


def _mask_as_written(text: str) -> str:
    if _CARD_HINT.search(text) is not None:
        text = _UUID_OR_CARD_LIKE.sub(_card_mask, text)
    if _may_hold_email(text):
        text = _mask_emails(text)
    return text


def _may_hold_email(text: str) -> bool:
    return "@" in text or "%" in text or ")" in text or "]" in text


def _mask_emails(text: str) -> str:
    """`text` with every e-mail address (`_EMAIL_AT` with a local part before it and a domain after) masked."""
    reversed_text = text[::-1]
    pieces: list[str] = []
    done = 0  # text before this index is in `pieces`
    for at in _EMAIL_AT.finditer(text):
        start, end = at.span()
        if end <= done:
            continue
        domain_pattern = _EMAIL_DOMAIN if at[0] in ("@", "%40") else _SPELT_EMAIL_DOMAIN
        domain = domain_pattern.match(text, end)
        local = _EMAIL_LOCAL_REVERSED.match(reversed_text, len(text) - start)
        if domain is None or local is None:
            continue
        pieces += (text[done : max(done, start - len(local[0]))], EMAIL_MASK)
        done = domain.end()
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def _visible_form(text: str) -> str:
    """`text` as a person reads it: Unicode compatibility form (NFKC: fullwidth and superscript digits and
    letters, the fullwidth at sign and punctuation become their plain forms) without invisible characters (format
    characters such as zero-width spaces, joiners and soft hyphens; combining marks left on their own)."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(char for char in text if unicodedata.category(char) not in _INVISIBLE_CATEGORIES)


_INVISIBLE_CATEGORIES = frozenset({"Cf", "Mn", "Me"})


def may_hold_pii(texts: Iterable[str]) -> bool:
    """False when none of these strings can hold what `mask_text` masks (true of nearly every row's strings).

    A necessary condition, checked in C on all the strings at once instead of string by string in Python: an
    e-mail address holds one of `_EMAIL_MARKS`, and a card-like run shows as 13 digits in a row once its common
    separators are dropped (a rare one, such as a line break, is looked at closer). Non-ASCII text (no-break spaces,
    zero-width characters, non-Latin digits, fullwidth forms) always makes the answer True, and the strings are then
    checked one by one. The strings are joined by a NUL, which is no separator, so no card-like run spans two.
    """
    joined = "\0".join(texts)
    if not joined.isascii():
        return True
    marks = joined.encode().translate(_PII_MARKS, _CARD_SEPARATOR_BYTES)
    # `find`, not `in`: on CPython 3.11 `needle in bytes` first tries the needle as an int and pays for the
    # TypeError (counted with callgrind).
    return marks.find(b"@") >= 0 or marks.find(_CARD_DIGITS) >= 0


#: The ASCII characters `_CARD_SEPARATOR` matches (derived, so the shortcut never disagrees with the pattern).
_ASCII_CARD_SEPARATORS = frozenset(chr(code) for code in range(128) if re.fullmatch(_CARD_SEPARATOR, chr(code)))
#: The separators `may_hold_pii` deletes: the common ones. The time `bytes.translate` takes grows with the number of
#: bytes it deletes, so the rare ones (line breaks, vertical tab, form feed, the C0 information separators) are marked
#: like `_EMAIL_MARKS` instead: a row holding one is checked string by string.
_CARD_SEPARATOR_BYTES = b" \t-./_"
#: The `may_hold_pii` translation: digits become `#`, `_EMAIL_MARKS` and the rare separators `@`, every other byte
#: `.` (the common card separators are deleted first).
_PII_MARKS = bytes(
    ord("#")
    if chr(byte) in "0123456789"
    else ord("@")
    if chr(byte) in _EMAIL_MARKS or (chr(byte) in _ASCII_CARD_SEPARATORS and byte not in _CARD_SEPARATOR_BYTES)
    else ord(".")
    for byte in range(256)
)
if not set(_CARD_SEPARATOR_BYTES.decode()) <= _ASCII_CARD_SEPARATORS:
    raise RuntimeError("may_hold_pii may only delete what _CARD_SEPARATOR matches")
_CARD_DIGITS = b"#" * _SHORTEST_CARD_LIKE


#: Text masked lately, and what it became. In process memory only, beside the PII key; bounded (it starts
#: afresh when full); never logged or written out.
_recent_masks: dict[str, str] = {}
_REMEMBERED_TEXTS = 16_384
_REMEMBERED_TEXT_LENGTH = 128


def _card_mask(match: re.Match[str]) -> str:
    """What a `_UUID_OR_CARD_LIKE` match becomes: a UUID stays as it is, a card-like run is masked."""
    return match[0] if match.lastgroup == "uuid" else CARD_MASK


def protect_id(value: str, key: bytes) -> str:
    """An identifier as it may be stored: itself, or its keyed token when it holds what `mask_text` masks.

    Masking part of an id would make different ids equal; a keyed token keeps each id distinct and the same id
    always the same, so joins and counts still hold, and without the key nobody can recover the id.
    """
    return value if mask_text(value) == value else token(value, key)


def token(value: str, key: bytes) -> str:
    """`tok_` + keyed BLAKE2b of `value`: stable under one key, meaningless without it.

    Spelt in the letters a-p instead of hex digits: one hex token in 25 holds a run of 13 digits, which
    `protect_id` would take for a card number and tokenise again, so a quarantined record re-driven with its token
    as its id would land in the lake under a different id than the producer's own retry of it.
    """
    hasher = _token_state(key).copy()
    hasher.update(value.encode("utf-8", "surrogatepass"))
    return TOKEN_PREFIX + hasher.hexdigest().translate(_HEX_AS_LETTERS)


_HEX_AS_LETTERS = str.maketrans("0123456789abcdef", "abcdefghijklmnop")


@functools.lru_cache(maxsize=4)
def _token_state(key: bytes) -> Any:
    return hashlib.blake2b(key=key, digest_size=_TOKEN_BYTES, person=_TOKEN_PERSON)


# ----------------------------------------------------------------------------------------------- customers


def normalise_text(text: str) -> str:
    """How a customer's name is compared: Unicode compatibility form (NFKC: fullwidth letters, ligatures),
    no invisible format characters (zero-width spaces and joiners, BOM, bidi marks), case folded, runs of
    whitespace as one space. ASCII text only needs the last two, which keeps the common case fast.
    """
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
        text = "".join(char for char in text if unicodedata.category(char) != "Cf")
        text = unicodedata.normalize("NFKC", text.casefold())
    return " ".join(text.split()).casefold()


def normalise_identifier(text: str) -> str:
    """How a customer id is compared: like `normalise_text` but case is kept (ids may be case-sensitive)."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
        text = "".join(char for char in text if unicodedata.category(char) != "Cf")
    return " ".join(text.split())


def normalise_customer_identity(customer_id: str | None, customer_name: str | None) -> str | None:
    """The identity a customer_key is computed from, or None when the sale is anonymous.

    The name wins over the id because store tills only know names: keying on the name makes a customer seen
    in a store and online the same key. Spelling never splits a customer: case, spacing, Unicode forms (NFC or
    NFD `Zoë`, fullwidth letters) and zero-width characters all normalise away. The stream and the POS job
    both get here through `transform_record`, so one function decides for both.
    """
    if customer_name is not None:
        name = normalise_text(customer_name)
        if name:
            return "name:" + name
    if customer_id is not None:
        identifier = normalise_identifier(customer_id)
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
    hasher.update(identity.encode("utf-8", "surrogatepass"))
    return hasher.hexdigest()


@functools.lru_cache(maxsize=4)
def keyed_state(key: bytes) -> Any:
    """The keyed BLAKE2b state before any data, never to be updated itself: copying it skips re-keying."""
    return hashlib.blake2b(key=key, digest_size=_CUSTOMER_KEY_BYTES)


#: What `CustomerKeys` finds for a pair it has not seen yet (None is the key of an anonymous sale).
_NOT_SEEN: Any = object()


class CustomerKeys:
    """`customer_key` under one PII key, remembered by the raw (customer_id, customer_name) pair.

    Regulars come back (the same names at the same tills every day), and a warm execution environment sees
    them again and again: looking a pair up is several times cheaper than normalising and hashing it. The
    memo is bounded (it starts afresh when full) and lives in process memory only, beside the key itself;
    nothing in it is ever logged or written out.
    """

    __slots__ = ("_capacity", "_key", "_memo")

    def __init__(self, key: bytes, capacity: int = CUSTOMER_KEY_MEMO_CAPACITY) -> None:
        self._key = key
        self._capacity = capacity
        self._memo: dict[tuple[str | None, str | None], str | None] = {}

    def key_for(self, customer_id: str | None, customer_name: str | None) -> str | None:
        """The customer_key of this pair (None for an anonymous sale)."""
        pair = (customer_id, customer_name)
        key = self._memo.get(pair, _NOT_SEEN)
        if key is not _NOT_SEEN:
            return key
        key = customer_key(normalise_customer_identity(customer_id, customer_name), self._key)
        if len(self._memo) >= self._capacity:
            self._memo.clear()
        self._memo[pair] = key
        return key

    def forget(self) -> None:
        """Start afresh, as a new execution environment would (the bench measures cold memos)."""
        self._memo.clear()

    def __len__(self) -> int:
        return len(self._memo)


@functools.lru_cache(maxsize=4)
def customer_keys(key: bytes) -> CustomerKeys:
    """The process's `CustomerKeys` for `key` (one per key: a rotated secret starts a fresh memo)."""
    return CustomerKeys(key)


# ---------------------------------------------------------------------------------------------- scrubbing


def scrub_record(record: dict[str, Any], key: bytes) -> dict[str, Any]:
    """The quarantine form of a decoded record that broke the contract: an allowlist, not a blocklist.

    Contract fields (other than the customer's) keep their values after the field-role rules (ids protected,
    text masked, huge numbers masked), at any depth. Any other key (a misspelt `customerName`, a nested
    `customer.name`, a `cardNumber`) keeps its name when it looks like a field name (else a keyed token) and
    loses its value. The customer survives as `customer_key`, computed exactly as for a clean row, so a record
    re-driven after a fix keeps its identity. Where another string repeats the record's own customer id or name
    (as a word, in any case), it is masked as `CUSTOMER_MASK`, or tokenised in an id: names cannot be recognised
    in general, but a rejected record often carries its own in the wrong field.
    """
    scrubbed = _scrub_object(record, key, 0, _customer_echo(record))
    if "customer_key" in record:  # a key as the lake stores it is no PII; anything else in its place may be
        given = record["customer_key"]
        valid = isinstance(given, str) and _CUSTOMER_KEY_TEXT.fullmatch(given) is not None
        scrubbed["customer_key"] = given if valid else REDACTED
    identity_fields = [record.get(name) for name in ("customer_id", "customer_name")]
    if any(isinstance(value, str) for value in identity_fields):
        customer_id, customer_name = (value if isinstance(value, str) else None for value in identity_fields)
        scrubbed["customer_key"] = customer_key(normalise_customer_identity(customer_id, customer_name), key)
    return scrubbed


def _customer_echo(record: dict[str, Any]) -> re.Pattern[str] | None:
    """What finds the record's own customer id or name elsewhere in it, as a word, in any case and spacing."""
    spellings = [
        r"\s+".join(map(re.escape, value.split()))
        for value in (record.get(name) for name in sorted(CUSTOMER_FIELDS))
        if isinstance(value, str) and len(value.strip()) >= _SHORTEST_ECHOED_CUSTOMER
    ]
    if not spellings:
        return None
    return re.compile(rf"(?<!\w)(?:{'|'.join(spellings)})(?!\w)", re.IGNORECASE)


def _scrub_object(record: dict[str, Any], key: bytes, depth: int, customer: re.Pattern[str] | None) -> dict[str, Any]:
    scrubbed: dict[str, Any] = {}
    for name, value in record.items():
        if name in QUARANTINE_FIELDS:
            scrubbed[name] = _scrub_value(value, key, as_id=name in ID_FIELDS, depth=depth + 1, customer=customer)
        elif name not in PII_FIELDS:
            scrubbed[quarantine_name(name, key)] = REDACTED
    return scrubbed


def quarantine_name(name: str, key: bytes) -> str:
    """How quarantine shows a key outside the contract: its name when it looks like a field name, else a token."""
    return name if is_plain_field_name(name) else token(name, key)


def is_plain_field_name(name: str) -> bool:
    """Whether a key outside the contract may be kept by name: it reads as a field name and holds nothing to mask."""
    return _PLAIN_KEY.fullmatch(name) is not None and mask_text(name) == name


def _scrub_value(value: Any, key: bytes, *, as_id: bool, depth: int, customer: re.Pattern[str] | None) -> Any:
    if isinstance(value, str):
        if customer is not None and customer.search(value) is not None:
            return token(value, key) if as_id else customer.sub(CUSTOMER_MASK, mask_text(value))
        return protect_id(value, key) if as_id else mask_text(value)
    if isinstance(value, dict | list) and depth > _MAX_DEPTH:
        return REDACTED
    if isinstance(value, dict):
        return _scrub_object(value, key, depth, customer)
    if isinstance(value, list):
        return [_scrub_value(item, key, as_id=as_id, depth=depth + 1, customer=customer) for item in value]
    return _scrub_number(value)


def _scrub_number(value: Any) -> Any:
    """Numbers stay (they are what a reject is usually about) unless large enough to be a card number."""
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) >= _LARGE_NUMBER:
        return NUMBER_MASK
    return value


def scrub(value: Any) -> Any:
    """A deep copy of a decoded JSON value with `PII_FIELDS` removed and all text (keys too) masked.

    For diagnostic columns whose names are fixed (the POS job's CSV columns); records of the wire contract are
    quarantined through `scrub_record`, whose allowlist also catches PII under unexpected names.
    """
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {mask_text(name): scrub(item) for name, item in value.items() if name not in PII_FIELDS}
    if isinstance(value, list):
        return [scrub(item) for item in value]
    return _scrub_number(value)


def fingerprint(data: bytes, key: bytes | None) -> dict[str, Any]:
    """What is kept of a record whose bytes cannot be safely stored: its length and its keyed hash.

    Keyed (BLAKE2b under the PII key), because a plain hash of a short record, such as a card number alone on a
    line, is reversed by hashing every card number; whoever holds the key can still tell whether a record in hand
    is this one. Without a key only the length is kept: `job_monitor` holds none, and its input is the
    transform's own clean rows, so what it cannot read is a fault to locate by sequence number, not a record.
    """
    if key is None:
        return {"length": len(data)}
    hasher = _fingerprint_state(key).copy()
    hasher.update(data)
    return {"length": len(data), FINGERPRINT_HASH: hasher.hexdigest()}


#: The keyed hash's name in a fingerprint (`fingerprint`).
FINGERPRINT_HASH = "keyed_hash"
#: What a fingerprint holds, and nothing else: a quarantined record that is only this has nothing to re-drive.
FINGERPRINT_FIELDS = frozenset({"length", FINGERPRINT_HASH})
#: BLAKE2b personalisation of fingerprints: a record's fingerprint never equals a token or key of the same bytes.
_FINGERPRINT_PERSON = b"lakewatch-raw"


@functools.lru_cache(maxsize=4)
def _fingerprint_state(key: bytes) -> Any:
    return hashlib.blake2b(key=key, person=_FINGERPRINT_PERSON)


if any(mask_text(name) != name for name in CONTRACT_FIELDS):
    raise RuntimeError("a wire-contract field name looks like PII to mask_text")
