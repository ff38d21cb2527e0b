"""Planted PII for the leak tests: what a card number looks like to a checksum, so planted ones are real."""

from __future__ import annotations


def luhn_complete(digits: str) -> str:
    """`digits` followed by the check digit that makes the whole a Luhn-valid number."""
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return digits + str((10 - total % 10) % 10)
