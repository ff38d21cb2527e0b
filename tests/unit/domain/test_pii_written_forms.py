"""Card numbers and e-mail addresses as the world writes them, not only as tests usually do: every form a person
reads as the card or the address must come out masked (`pii.mask_text`), in free text and, tokenised, in ids."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakewatch.domain import pii
from tests.pii_samples import luhn_complete

KEY = b"k" * 32
CARD = luhn_complete("411111111111111")
GROUPS = [CARD[start : start + 4] for start in range(0, 16, 4)]
SUPERSCRIPT = "⁰¹²³⁴⁵⁶⁷⁸⁹"
SUBSCRIPT = "₀₁₂₃₄₅₆₇₈₉"
#: `jane@example.com` in fullwidth letters.
FULLWIDTH_ADDRESS = "".join(chr(ord(char) + 0xFEE0) for char in "jane@example.com")

#: (name, separator between groups of four): spaces, dashes and invisible characters people and systems put there.
SEPARATORS = [
    ("no-break space", "\u00a0"),
    ("narrow no-break space", "\u202f"),
    ("thin space", "\u2009"),
    ("figure space", "\u2007"),
    ("ideographic space", "\u3000"),
    ("line feed", "\n"),
    ("CR LF", "\r\n"),
    ("hyphen", "\u2010"),
    ("non-breaking hyphen", "\u2011"),
    ("figure dash", "\u2012"),
    ("horizontal bar", "\u2015"),
    ("minus sign", "\u2212"),
    ("fullwidth hyphen-minus", "\uff0d"),
    ("fullwidth full stop", "\uff0e"),
    ("fullwidth solidus", "\uff0f"),
    ("zero-width space", "\u200b"),
    ("zero-width joiner", "\u200d"),
    ("soft hyphen", "\u00ad"),
    ("word joiner", "\u2060"),
    ("byte-order mark", "\ufeff"),
    ("left-to-right mark", "\u200e"),
    ("space and zero-width space", " \u200b"),
    ("no-break space and en dash", "\u00a0\u2013"),
]


def _digits_a_reader_sees(text: str) -> str:
    """The digits of `text` as a person reads them (any script, superscripts, fullwidth), nothing else."""
    return "".join(str(unicodedata.digit(char)) for char in unicodedata.normalize("NFKC", text) if char.isdigit())


def _assert_card_masked(text: str) -> None:
    masked = pii.mask_text(text)
    assert pii.CARD_MASK in masked
    assert CARD[4:] not in _digits_a_reader_sees(masked)


@pytest.mark.parametrize(("name", "separator"), SEPARATORS, ids=[name for name, _ in SEPARATORS])
def test_a_card_grouped_by_any_space_dash_or_invisible_character_is_masked(name: str, separator: str) -> None:
    _assert_card_masked(f"paid with {separator.join(GROUPS)} today")


@pytest.mark.parametrize(
    "separator", ["\u200b", "\u00ad", "\u200c", "\u2060"], ids=["zero-width space", "soft hyphen", "ZWNJ", "WJ"]
)
def test_a_card_with_an_invisible_character_between_every_two_digits_is_masked(separator: str) -> None:
    _assert_card_masked(f"card{separator.join(CARD)}x")


@pytest.mark.parametrize(
    "written",
    [
        "".join(SUPERSCRIPT[int(digit)] for digit in CARD),
        "".join(SUBSCRIPT[int(digit)] for digit in CARD),
        "".join(chr(0xFF10 + int(digit)) for digit in CARD),
        "\uff0d".join("".join(chr(0xFF10 + int(digit)) for digit in group) for group in GROUPS),
        " ".join("".join(chr(0x0660 + int(digit)) for digit in group) for group in GROUPS),
        CARD[:8] + "".join(SUPERSCRIPT[int(digit)] for digit in CARD[8:]),
    ],
    ids=["superscript", "subscript", "fullwidth", "fullwidth dashes", "Arabic-Indic", "half superscript"],
)
def test_a_card_in_digits_a_person_reads_as_digits_is_masked(written: str) -> None:
    _assert_card_masked(f"ref {written} end")


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ('write to "jane doe"@example.com today', "jane doe"),
        ("write to jane@[192.0.2.1] today", "192.0.2.1"),
        ("write to jane@[IPv6:2001:db8::1] today", "2001:db8"),
        ("write to o'brien@example.com today", "o'brien"),
        ("write to a!b#c$d@example.com today", "a!b#c$d"),
        ("write to jane(at)example.com today", "jane"),
        ("write to jane (at) example (dot) com today", "jane"),
        ("write to jane [AT] example [DOT] co [dot] uk today", "jane"),
        ("see https://shop.example/unsubscribe?to=jane%40example.com&x=1", "jane"),
        ("write to jane\uff20example.com today", "jane"),
        ("write to jane\ufe6bexample.com today", "jane"),
        ("write to j\u200bane@example.com today", "ane"),
        ("write to jane\u200b@example.com today", "jane"),
        ("write to jane@\u200bexample.com today", "example"),
        (f"write to {FULLWIDTH_ADDRESS} today", FULLWIDTH_ADDRESS[:4]),
    ],
)
def test_an_address_in_any_form_a_person_reads_as_one_is_masked(text: str, hidden: str) -> None:
    masked = pii.mask_text(text)
    assert pii.EMAIL_MASK in masked
    assert hidden not in masked
    assert masked.startswith(("write to ", "see ")) and masked.endswith((" today", "&x=1"))


@pytest.mark.parametrize(
    "text",
    [
        "meet (at) noon",
        "Flat white [at] half price",
        "100% Arabica (decaf)",
        "Crème brûlée",
        "ﬁne 12 ½",
        "order 123456789012 (12 digits)",
        "Zoë's cake",
    ],
)
def test_text_without_a_card_or_an_address_is_kept_exactly_as_sent(text: str) -> None:
    # A visible form is only stored when there was something to mask: other text keeps its exact spelling
    assert pii.mask_text(text) == text


@pytest.mark.parametrize(
    "value",
    [f"order-{chr(0x200B).join(GROUPS)}", "jane\uff20example.com", f"cust-{'¹'.join(GROUPS)}", "ops(at)example.com"],
)
def test_an_id_holding_a_card_or_an_address_in_a_hidden_form_is_tokenised(value: str) -> None:
    assert pii.protect_id(value, KEY) == pii.token(value, KEY)


def test_the_shortcut_sees_every_ascii_separator_and_address_mark() -> None:
    # Given ASCII rows whose only PII is written with a line break between groups, or as a spelt-out address
    ordinary = ["sale-00000001", "Leeds", "Latte"]
    for planted in ("\n".join(GROUPS), "\r\n".join(GROUPS), "jane%40example.com", "jane(at)example.com"):
        # Then the all-at-once shortcut sends them to the per-string check, which masks them
        assert pii.may_hold_pii([*ordinary, planted])
        assert pii.mask_text(planted) != planted


def test_a_long_word_before_an_at_sign_is_masked_in_one_pass() -> None:
    # Given free text the size of a whole record: one long word, then an address (a regex that starts at the local
    # part tries every position of the word again, about 10**10 steps here: minutes for one record)
    text = "x" * 200_000 + " write to jane@example.com"

    # When it is masked, Then it is masked (in milliseconds: the search starts from the `@`)
    assert pii.mask_text(text) == "x" * 200_000 + " write to [email]"


def test_addresses_are_found_between_other_addresses_and_marks() -> None:
    assert pii.mask_text("a@b@c") == "[email][email]"
    assert pii.mask_text("jane@example.com, joe@example.org.") == "[email], [email]."
    assert pii.mask_text("@@@ %40 (at) [at]") == "@@@ %40 (at) [at]"
    assert re.fullmatch(r"\[email\] and \[email\]", pii.mask_text("jane(at)example.com and joe@localhost"))


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet='0123456789 -@._at()[]%"IPv6:\u200b\u00a0\uff20\u00b9\u0301\u2011\n', max_size=50))
def test_masking_twice_changes_nothing_more(text: str) -> None:
    # Alerts mask an error message the lake row already holds masked: a mask must not look like something to mask
    once = pii.mask_text(text)
    assert pii.mask_text(once) == once
