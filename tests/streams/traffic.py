"""Generated traffic for stream tests: realistic joins, out of order, with duplicates and
invalid events, and every time placed away from the window edges.

A worker's windows end when it is scraped; ``shoppulse report --at`` ends them a few
seconds later. Events never fall within a quarter of an hour of a window's edge, as it
stands at ``now`` or up to 15 minutes later, so both agree to the event whatever the
exact minute of a test that ends within 15 minutes. Every window holds events of its own:
the last hour, the last day, the last week and the weeks before.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.builders import event, item, order

SMART = ("smart-a", "smart-b")
PARTY = ("party-a", "party-b")
STORES_YAML = "stores:\n" + "".join(
    f"  - {{id: {s}, vertical: {v}, currency: {c}}}\n"
    for s, v, c in [
        (SMART[0], "smart_home", "USD"),
        (SMART[1], "smart_home", "USD"),
        (PARTY[0], "party_favors", "EUR"),
        (PARTY[1], "party_favors", "EUR"),
    ]
)


def safe_time(rng: random.Random, now: datetime) -> datetime:
    """A time in [now - 29d, now - 8d], [now - 6d, now - 25h], [now - 23h, now - 2h] or
    [now - 45m, now - 15m]: inside the 30d, 7d, 24h and 1h windows, away from their edges."""
    pick = rng.random()
    if pick < 0.2:
        return now - timedelta(days=rng.uniform(8, 29))
    if pick < 0.5:
        return now - timedelta(hours=rng.uniform(25, 6 * 24))
    if pick < 0.9:
        return now - timedelta(hours=rng.uniform(2, 23))
    return now - timedelta(minutes=rng.uniform(15, 45))


def traffic(
    count: int, seed: int, now: datetime | None = None
) -> tuple[list[dict[str, Any]], list[bytes], int]:
    """(valid events, messages to send with duplicates and invalid ones, valid unique count)."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    events: list[dict[str, Any]] = []
    for number in range(count):
        at = safe_time(rng, now)
        customer = f"c{rng.randrange(count // 20 + 1)}"
        visit = f"v{rng.randrange(count // 10 + 1)}"
        pick = rng.random()
        smart = rng.choice(SMART)
        party = rng.choice(PARTY)
        if pick < 0.15:
            events.append(event("visit", party, at, visit_id=visit))
        elif pick < 0.25:
            signed_in = {"customer_id": customer} if rng.random() < 0.5 else {}
            events.append(
                event(
                    "tool_session",
                    party,
                    at,
                    visit_id=visit,
                    duration_seconds=round(rng.uniform(5, 900), 1),
                    **signed_in,
                )
            )
        elif pick < 0.33:
            events.append(
                event("consultation", smart, at, customer_id=customer, consultation_id=f"q{number}")
            )
        elif pick < 0.53:
            store = rng.choice([smart, party])
            promise = safe_time(rng, now)
            extra: dict[str, Any] = {"promised_delivery_at": promise.isoformat()} if promise > at else {}
            if rng.random() < 0.8:
                extra["customer_id"] = customer
            if rng.random() < 0.5:
                extra["visit_id"] = visit
            lines = [
                item(
                    rng.choice(["hub", "camera", "lighting", "favor"]),
                    f"{rng.randrange(100, 30000) / 100:.2f}",
                    quantity=rng.randrange(1, 4),
                    personalized=rng.random() < 0.5,
                )
            ]
            if rng.random() < 0.4:
                lines.append(
                    item(
                        rng.choice(["sensor", "service"]),
                        "19.00",
                        **({"service": "installation"} if rng.random() < 0.5 else {}),
                    )
                )
            order_id = f"o{rng.randrange(count // 6 + 1)}"
            currency = "USD" if store in SMART else "EUR"
            events.append(order(store, at, order_id=order_id, currency=currency, items=lines, **extra))
            if rng.random() < 0.7:
                delivered = safe_time(rng, now)
                if delivered > at:
                    events.append(event("delivery", store, delivered, order_id=order_id))
        elif pick < 0.6:
            events.append(
                event("support_rating", smart, at, ticket_id=f"t{number}", rating=rng.randint(1, 5))
            )
        elif pick < 0.67:
            events.append(
                event("survey_response", party, at, response_id=f"r{number}", rating=rng.randint(1, 5))
            )
        elif pick < 0.85:
            events.append(event("content_view", smart, at, content_id=f"g{rng.randrange(9)}"))
        elif pick < 0.93:
            events.append(
                event(
                    "content_interaction",
                    smart,
                    at,
                    content_id="g1",
                    interaction=rng.choice(["like", "share", "comment"]),
                )
            )
        else:
            checked = rng.randrange(1, 30)
            events.append(
                event(
                    "production_qc",
                    party,
                    at,
                    order_id=f"o{rng.randrange(999)}",
                    items_checked=checked,
                    items_with_errors=rng.randrange(0, checked // 4 + 1),
                )
            )
    events = events[:count]
    return events, _messages(events, rng), len(events)


def _messages(events: list[dict[str, Any]], rng: random.Random) -> list[bytes]:
    """Out of order, 1 % duplicated, 1 % invalid, some batched."""
    import orjson

    shuffled = list(events)
    rng.shuffle(shuffled)
    shuffled += [rng.choice(events) for _ in range(len(events) // 100)]  # duplicates
    broken = []
    for _ in range(len(events) // 100):  # invalid: one rule broken each
        bad = dict(rng.choice(events), event_id=f"bad-{rng.random()}")
        breakage = rng.choice(["naive", "store", "field", "type"])
        if breakage == "naive":
            bad["ts"] = bad["ts"].replace("+00:00", "").replace("Z", "")
        elif breakage == "store":
            bad["store_id"] = "nobody"
        elif breakage == "field":
            bad["colour"] = "red"
        else:
            bad["type"] = "page_view"
        broken.append(bad)
    shuffled += broken
    rng.shuffle(shuffled)
    messages, index = [], 0
    while index < len(shuffled):
        size = 1 if rng.random() < 0.5 else rng.randrange(2, 200)
        chunk = shuffled[index : index + size]
        messages.append(orjson.dumps(chunk[0] if size == 1 else chunk))
        index += size
    return messages
