"""An independent, deliberately naive reading of docs/kpis.md: recompute every KPI from
the full list of events for one window. Shares no KPI code with the engine; it only
reuses the schema models to parse events.

Quadratic and slow on purpose: it is the definition, written down, for small inputs.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from shoppulse.schemas.events import (
    EVENT_ADAPTER,
    Consultation,
    ContentInteraction,
    ContentView,
    Delivery,
    Order,
    ProductionQc,
    SupportRating,
    SurveyResponse,
    ToolSession,
    Visit,
)


def sec(moment: datetime) -> int:
    return math.floor(moment.timestamp())


def brute_force(
    raw_events: list[dict[str, Any]],
    store: str,
    vertical: str,
    at: datetime,
    width_minutes: int,
    attribution_seconds: int = 30 * 86400,
) -> dict[str, tuple[Fraction, Fraction]]:
    """KPI id → (numerator, denominator) in base units, for events strictly before ``at``."""
    cutoff = math.ceil(at.timestamp() / 60)
    in_window = lambda seconds: cutoff - width_minutes <= seconds // 60 < cutoff  # noqa: E731

    events, seen = [], set()
    for raw in raw_events:
        parsed = EVENT_ADAPTER.validate_python(raw, strict=False)
        if parsed.event_id in seen or parsed.store_id != store or sec(parsed.ts) >= at.timestamp():
            continue
        seen.add(parsed.event_id)
        events.append(parsed)

    first: dict[str, Order] = {}
    for e in events:
        if isinstance(e, Order) and (
            e.order_id not in first
            or (sec(e.ts), e.event_id) < (sec(first[e.order_id].ts), first[e.order_id].event_id)
        ):
            first[e.order_id] = e
    orders = list(first.values())
    deliveries: dict[str, Delivery] = {}
    for e in events:
        if isinstance(e, Delivery) and (
            e.order_id not in deliveries
            or (sec(e.ts), e.event_id) < (sec(deliveries[e.order_id].ts), deliveries[e.order_id].event_id)
        ):
            deliveries[e.order_id] = e

    def products(o: Order) -> set[str]:
        return {i.category for i in o.items if i.category != "service" and i.service is None}

    def ratio(pairs: list[tuple[int | Fraction, int]]) -> tuple[Fraction, Fraction]:
        return Fraction(sum(p[0] for p in pairs)), Fraction(sum(p[1] for p in pairs))

    def count_customers(orders_of: dict[str, list[Order]], at_least: int) -> int:
        return sum(1 for os in orders_of.values() if len(os) >= at_least)

    window_orders = [o for o in orders if in_window(sec(o.ts))]
    by_customer: dict[str, list[Order]] = defaultdict(list)
    for o in window_orders:
        if o.customer_id is not None:
            by_customer[o.customer_id].append(o)

    def converted(triggers: list[int], conversions: list[int]) -> bool:
        return any(
            in_window(k) and k <= o < k + attribution_seconds and o // 60 < cutoff
            for k in triggers
            for o in conversions
        )

    out: dict[str, tuple[Fraction, Fraction]] = {}
    revenue = sum((o.revenue() for o in window_orders), Decimal(0))
    out["aov"] = (Fraction(revenue), Fraction(len(window_orders)))
    if vertical == "smart_home":
        device = [o for o in window_orders if products(o)]
        out["installation_uptake"] = ratio(
            [(int(any(i.service == "installation" for i in o.items)), 1) for o in device]
        )
        out["support_satisfaction"] = ratio(
            [(int(e.rating >= 4), 1) for e in events if isinstance(e, SupportRating) and in_window(sec(e.ts))]
        )
        views = sum(1 for e in events if isinstance(e, ContentView) and in_window(sec(e.ts)))
        likes = sum(1 for e in events if isinstance(e, ContentInteraction) and in_window(sec(e.ts)))
        out["content_engagement"] = (Fraction(likes), Fraction(views))
        out["repeat_purchase_retention"] = (
            Fraction(count_customers(by_customer, 2)),
            Fraction(count_customers(by_customer, 1)),
        )
        crossed = sum(1 for os in by_customer.values() if any(len(products(o)) >= 2 for o in os))
        out["cross_sell"] = (Fraction(crossed), Fraction(len(by_customer)))
        consults: dict[str, list[int]] = defaultdict(list)
        for e in events:
            if isinstance(e, Consultation):
                consults[e.customer_id].append(sec(e.ts))
        consulted = [c for c, ks in consults.items() if any(in_window(k) for k in ks)]
        wins = sum(
            1 for c in consulted if converted(consults[c], [sec(o.ts) for o in orders if o.customer_id == c])
        )
        out["consultation_conversion"] = (Fraction(wins), Fraction(len(consulted)))
    else:
        personal: dict[str, list[Order]] = {
            c: [o for o in os if any(i.personalized for i in o.items)] for c, os in by_customer.items()
        }
        out["repeat_customer_rate"] = (
            Fraction(count_customers(personal, 2)),
            Fraction(count_customers(personal, 1)),
        )
        millis = sum(
            round(e.duration_seconds * 1000)
            for e in events
            if isinstance(e, ToolSession) and in_window(sec(e.ts))
        )
        visits = sum(1 for e in events if isinstance(e, Visit) and in_window(sec(e.ts)))
        out["tool_time_per_visit"] = (Fraction(millis, 1000), Fraction(visits))
        out["personalization_error_rate"] = ratio(
            [
                (e.items_with_errors, e.items_checked)
                for e in events
                if isinstance(e, ProductionQc) and in_window(sec(e.ts))
            ]
        )
        out["customer_satisfaction"] = ratio(
            [
                (int(e.rating >= 4), 1)
                for e in events
                if isinstance(e, SurveyResponse) and in_window(sec(e.ts))
            ]
        )
        sessions = [e for e in events if isinstance(e, ToolSession)]
        visitors: dict[tuple[str, str], list[int]] = defaultdict(list)
        for s in sessions:
            visitors[("c", s.customer_id) if s.customer_id else ("v", s.visit_id)].append(sec(s.ts))
        active = [v for v, ks in visitors.items() if any(in_window(k) for k in ks)]
        wins = 0
        for kind, ident in active:
            if kind == "c":
                tool_visits = {s.visit_id for s in sessions if s.customer_id == ident}
                mine = [o for o in orders if o.customer_id == ident or o.visit_id in tool_visits]
            else:
                mine = [o for o in orders if o.visit_id == ident]
            wins += converted(visitors[(kind, ident)], [sec(o.ts) for o in mine])
        out["personalization_conversion"] = (Fraction(wins), Fraction(len(active)))
        due_pairs = []
        for order_id in set(first) | set(deliveries):
            delivery = deliveries.get(order_id)
            promise = delivery.promised_at if delivery is not None and delivery.promised_at else None
            if promise is None and order_id in first:
                promise = first[order_id].promised_delivery_at
            if promise is not None and in_window(sec(promise)):
                due_pairs.append((int(delivery is not None and sec(delivery.ts) <= sec(promise)), 1))
        out["on_time_delivery"] = ratio(due_pairs)
    return out
