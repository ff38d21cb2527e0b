"""Clean lake records, shaped exactly as the transform emits them (DEVELOPERS.md, "Clean records")."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from lakewatch.domain.tables import CLEAN_TIMESTAMP_FORMAT, PARTITION_DATE_FORMAT

INGESTED_AT = datetime(2024, 6, 15, 11, 0)


def clean_time(value: datetime) -> str:
    return value.strftime(CLEAN_TIMESTAMP_FORMAT)


def sale(
    event_id: str,
    event_time: datetime,
    *,
    items: list[tuple[str, float, int]],
    store: str | None = None,
    customer_key: str | None = None,
    discount: float = 0.0,
    ingested_at: datetime = INGESTED_AT,
) -> dict[str, Any]:
    """A clean sale; `store=None` makes it a web order. Items are (product, unit_price, quantity)."""
    lines = [
        {
            "product": product,
            "size": None,
            "flavour": None,
            "unit_price": unit_price,
            "quantity": quantity,
            "line_total": round(unit_price * quantity, 2),
        }
        for product, unit_price, quantity in items
    ]
    return {
        "event_id": event_id,
        "event_time": clean_time(event_time),
        "channel": "web" if store is None else "store",
        "store": store,
        "order_id": f"order-{event_id}",
        "customer_key": customer_key,
        "payment_method": "CARD",
        "items": lines,
        "item_count": sum(line["quantity"] for line in lines),
        "discount": discount,
        "total_price": round(sum(line["line_total"] for line in lines) - discount, 2),
        "currency": "GBP",
        "source": "stream" if store is None else "pos_csv",
        "ingested_at": clean_time(ingested_at),
        "dt": event_time.strftime(PARTITION_DATE_FORMAT),
    }


def job_run(
    client: str,
    job_name: str,
    started_at: datetime,
    duration_seconds: float,
    *,
    status: str = "SUCCEEDED",
    cost_usd: float | None = 1.0,
    data_processed_gb: float | None = 1.0,
    run_id: str | None = None,
    event_id: str | None = None,
    ingested_at: datetime = INGESTED_AT,
) -> dict[str, Any]:
    """A clean job run; run_id and event_id default to one derived from the client, job and start day."""
    ended_at = started_at + timedelta(seconds=duration_seconds)
    run_id = run_id or f"{client}-{job_name}-{started_at:%Y-%m-%d}"
    return {
        "event_id": event_id or f"evt-{run_id}",
        "run_id": run_id,
        "client": client,
        "job_name": job_name,
        "status": status,
        "started_at": clean_time(started_at),
        "ended_at": clean_time(ended_at),
        "duration_seconds": float(duration_seconds),
        "data_processed_gb": data_processed_gb,
        "cost_usd": cost_usd,
        "instance_size": "m5.xlarge",
        "error_message": None if status == "SUCCEEDED" else "stage 3 failed",
        "ingested_at": clean_time(ingested_at),
        "dt": ended_at.strftime(PARTITION_DATE_FORMAT),
    }
