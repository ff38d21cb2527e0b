"""The time of a scheduled (EventBridge) invocation, which the scheduled Lambdas take as "now"."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def parse_event_time(event: dict[str, Any]) -> datetime:
    """The scheduled event's `time`, not the clock: a late or retried invocation still answers for the moment
    it was scheduled, and the local runner can replay any moment."""
    text = event.get("time")
    if not isinstance(text, str):
        raise ValueError("scheduled event has no `time`")
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("scheduled event `time` has no offset")
    return moment
