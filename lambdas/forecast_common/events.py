"""The scheduled event's time: "now" for a forecast run, so the local runner can replay any moment."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def parse_event_time(event: dict[str, Any]) -> datetime:
    text = event.get("time")
    if not isinstance(text, str):
        raise ValueError("scheduled event has no `time`")
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("scheduled event `time` has no offset")
    return moment
