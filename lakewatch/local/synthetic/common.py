"""Building blocks every synthetic dataset shares: replay lines, names, card numbers, times and money.

Everything here draws from the `random.Random` it is given and nothing else, so a dataset generated twice
from the same seed is the same bytes on every machine.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

#: How a replay line came to be sent: a first delivery, a redelivery of the same bytes, a record planted to
#: be quarantined, or a run that reaches the stream after runs that ended later.
KIND_EVENT = "event"
KIND_DUPLICATE = "duplicate"
KIND_REJECT = "reject"
KIND_LATE = "late"


def words(text: str) -> tuple[str, ...]:
    """A whitespace-separated word list as a tuple (long lists stay readable in the source)."""
    return tuple(text.split())


FIRST_NAMES = words("""
Allen Nicole Arlen Delaine Daniel Traci Dante Hector Mary June Aisha Ben Chloe Dev Ella Finn Grace Harvey Isla
Jack Kiran Leah Mohammed Nadia Oliver Priya Quentin Rosa Sam Tara Usman Vera Will Yasmin Zoe Adele Bilal Carys
Declan Esme Farah Gareth Hannah Idris Jasmine Kwame Lola Marcus Niamh Owen Poppy Rhys Saoirse Tobias Uma Vikram
Wendy Xavier Yusuf Zara Alfie Bethan Callum Darcy Ethan Freya George Heidi Imran Jodie Kai Lucy Mason Nina Omar
Phoebe Reuben Sienna Theo Ursula Victor Willow Amir Beatrice Conor Dina Elliot Fatima Gemma Hamish Ivy Joel Keira
""")
LAST_NAMES = words("""
Ford Miles Calvert Crosby Pettrey Abeles Jackson Rosel Stanner Paulson Ahmed Baker Clarke Dhillon Evans Fletcher
Gill Hughes Iqbal Jones Khan Lewis Morgan Nowak Owusu Patel Quinn Roberts Singh Taylor Umar Vaughan Walsh Young
Ali Brennan Chowdhury Davies Edwards Fraser Green Hall Ingram Jenkins Kelly Lloyd Murphy Nash Osei Price Reid
Shah Thomas Turner Underwood Vance Ward Wright Yates Adeyemi Bowen Carter Doyle Ellis Foster Grant Harris Irwin
Jarvis Kaur Lawson Mensah Newman Oakley Palmer Rahman Sutton Townsend Varga Webb Whitaker Archer Begum Cole Dunn
Ewing Finch Goodwin Hart Iles Joyce Knight Lamb Marsh Noble Okafor Pope Rowe Sharp Tran Upton Vickers Wilde
""")


@dataclass(frozen=True, slots=True)
class ReplayLine:
    """One Kinesis record payload and when the producer sent it (`kind`: event, duplicate, reject or late)."""

    arrival: datetime
    data: bytes
    kind: str


def uk_utc_offset(day: date) -> timedelta:
    """Europe/London's UTC offset during opening hours of `day` (BST from the last Sunday of March to October)."""

    def last_sunday(month: int) -> date:
        last = date(day.year, month, 31)
        return last - timedelta(days=(last.weekday() - 6) % 7)

    return timedelta(hours=1) if last_sunday(3) <= day < last_sunday(10) else timedelta(0)


def utc_text(moment: datetime) -> str:
    """`2024-06-09T02:40:00Z` (whole seconds; isoformat is several times faster than strftime)."""
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def event_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def luhn_card(rng: random.Random) -> str:
    """A 16-digit card-like number with a valid Luhn check digit (fake issuer prefixes)."""
    body = (rng.choice(("4", "51", "52", "53", "54", "55")) + f"{rng.randrange(10**14):014d}")[:15]
    total = 0
    for index, char in enumerate(reversed(body)):
        digit = int(char)
        if index % 2 == 0:
            digit *= 2
            digit -= 9 if digit > 9 else 0
        total += digit
    return body + str((10 - total % 10) % 10)


@functools.cache
def _cumulative(weights: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(itertools.accumulate(weights))


def weighted_hour(rng: random.Random, weights: dict[int, float]) -> int:
    hours = tuple(weights)
    cumulative = _cumulative(tuple(weights.values()))
    return hours[bisect.bisect(cumulative, rng.random() * cumulative[-1])]


def dumps(record: Any) -> bytes:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()


def cents(amount: float) -> int:
    """Money as integer pence: sums of prices stay exact (and are much faster than Decimal)."""
    return round(amount * 100)


def pounds(amount_in_pence: int) -> float:
    return amount_in_pence / 100


class NameBook:
    """Customer names, fresh ones unique while the combinations last (then repeats, as real tills have)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def fresh(self) -> str:
        name = ""
        for _ in range(8):
            name = f"{self._rng.choice(FIRST_NAMES)} {self._rng.choice(LAST_NAMES)}"
            if name not in self._used:
                break
        self._used.add(name)
        return name
