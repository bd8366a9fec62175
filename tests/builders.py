"""Event builders for tests: wire-format dicts (what a storefront sends), not models."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

T0 = datetime(2026, 5, 1, tzinfo=UTC)
_ids = itertools.count()

SMART_STORE = "hometech-haven"
PARTY_STORE = "fiesta-favors"

STORES_YAML = f"""\
stores:
  - id: {SMART_STORE}
    vertical: smart_home
    currency: USD
    timezone: America/New_York
  - id: {PARTY_STORE}
    vertical: party_favors
    currency: EUR
    timezone: Europe/Paris
"""

Event = dict[str, Any]


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def event(kind: str, store: str, at: datetime, **fields: Any) -> Event:
    return {"event_id": f"ev-{next(_ids)}", "type": kind, "store_id": store, "ts": iso(at), **fields}


def item(category: str = "hub", price: str = "10.00", quantity: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "sku": f"SKU-{category}",
        "category": category,
        "quantity": quantity,
        "unit_price": price,
        **extra,
    }


def order(
    store: str,
    at: datetime,
    *,
    order_id: str | None = None,
    currency: str | None = None,
    items: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> Event:
    return event(
        "order",
        store,
        at,
        order_id=order_id or f"o-{next(_ids)}",
        currency=currency or ("USD" if store == SMART_STORE else "EUR"),
        items=items or [item()],
        **fields,
    )


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def write_jsonl(path: Path, events: list[Event]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return path
