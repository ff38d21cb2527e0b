"""What the stream makes of a customer, for tests that hold the POS job to the same identity."""

from __future__ import annotations

import json
from datetime import datetime

from lakewatch.domain.transform import Clean, transform_record


def stream_customer_key(name: str, *, pii_key: bytes, ingested_at: datetime) -> str:
    """The `customer_key` the stream transform gives a web sale by `name` (the POS job must give the same)."""
    web = {
        "event_type": "sale",
        "event_id": "web-1",
        "event_time": "2022-06-10T12:00:00Z",
        "channel": "web",
        "customer_name": name,
        "payment_method": "card",
        "items": [{"product": "Latte", "unit_price": 2.45}],
        "total_price": 2.45,
    }
    result = transform_record(json.dumps(web).encode(), pii_key=pii_key, ingested_at=ingested_at)
    assert isinstance(result, Clean)
    return json.loads(result.payload)["customer_key"]
