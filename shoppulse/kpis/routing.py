"""Which state an event touches: store-level points, and messages to entities.

Routing is the first step of the data path and needs no state. An event either adds
*points* to its store's series (a visit, a rating, a content view…) or becomes
*messages* to the entities that join events: an order, a customer, a visit. The
engine delivers them in-process; the stream workers send each message to the
partition that owns its entity key. Both run this same function.

Messages are idempotent: delivering one twice changes nothing (order versions and
deliveries keep the smallest ``(ts, event_id)``, times are sets). That is what lets a
stream worker replay after a crash without counting twice.
"""

from __future__ import annotations

from typing import NamedTuple

from shoppulse.kpis.contributions import DEN, NUM, Steps, add_point
from shoppulse.kpis.facts import DEFAULT_SERVICE_CATEGORIES, order_fact, seconds
from shoppulse.kpis.messages import (
    Address,
    Consulted,
    Delivered,
    Kind,
    Message,
    OrderInVisit,
    PlacedOrder,
    UsedTool,
)
from shoppulse.schemas.events import (
    Consultation,
    ContentInteraction,
    ContentView,
    Delivery,
    Event,
    Order,
    ProductionQc,
    SupportRating,
    SurveyResponse,
    ToolSession,
    Visit,
)
from shoppulse.schemas.stores import Vertical

SATISFIED = 4  # ratings of 4 or 5 on a 1-5 scale are satisfied / positive


class Routed(NamedTuple):
    points: Steps  # store-level points of the event's own store
    messages: list[tuple[Address, Message]]


def route(
    event: Event,
    vertical: Vertical,
    service_categories: frozenset[str] = DEFAULT_SERVICE_CATEGORIES,
    ts: int | None = None,
) -> Routed:
    """The points and entity messages one valid event makes (``ts``: ``seconds(event.ts)``,
    when the caller has it already; it costs half a microsecond)."""
    store = event.store_id
    if ts is None:
        ts = seconds(event.ts)
    minute = ts // 60
    points: Steps = {}
    messages: list[tuple[Address, Message]] = []
    smart = vertical is Vertical.SMART_HOME
    match event:
        case Order():
            fact = order_fact(event, service_categories)
            messages.append(((Kind.ORDER, store, event.order_id), PlacedOrder(event.order_id, fact)))
            if event.customer_id is not None:
                messages.append(
                    ((Kind.CUSTOMER, store, event.customer_id), PlacedOrder(event.order_id, fact))
                )
            if event.visit_id is not None and not smart:
                in_visit = OrderInVisit(event.order_id, ts, event.event_id)
                messages.append(((Kind.VISIT, store, event.visit_id), in_visit))
        case Delivery():
            promised = seconds(event.promised_at) if event.promised_at is not None else None
            messages.append(((Kind.ORDER, store, event.order_id), Delivered(ts, event.event_id, promised)))
        case Consultation():
            if smart:
                messages.append(((Kind.CUSTOMER, store, event.customer_id), Consulted(ts)))
        case ToolSession():
            if not smart:
                add_point(points, "tool_time_per_visit", NUM, minute, round(event.duration_seconds * 1000))
                messages.append(((Kind.VISIT, store, event.visit_id), UsedTool(ts, event.customer_id)))
                if event.customer_id is not None:
                    messages.append(((Kind.CUSTOMER, store, event.customer_id), UsedTool(ts, None)))
        case Visit():
            if not smart:
                add_point(points, "tool_time_per_visit", DEN, minute, 1)
        case SupportRating():
            if smart:
                _add_rating(points, "support_satisfaction", minute, event.rating)
        case SurveyResponse():
            if not smart:
                _add_rating(points, "customer_satisfaction", minute, event.rating)
        case ContentView():
            if smart:
                add_point(points, "content_engagement", DEN, minute, 1)
        case ContentInteraction():
            if smart:
                add_point(points, "content_engagement", NUM, minute, 1)
        case ProductionQc():
            if not smart:
                add_point(points, "personalization_error_rate", NUM, minute, event.items_with_errors)
                add_point(points, "personalization_error_rate", DEN, minute, event.items_checked)
    return Routed(points, messages)


def _add_rating(steps: Steps, kpi: str, minute: int, rating: int) -> None:
    add_point(steps, kpi, DEN, minute, 1)
    if rating >= SATISFIED:
        add_point(steps, kpi, NUM, minute, 1)


def earliest_time(event: Event, ts: int | None = None) -> int:
    """The earliest moment an event can move a KPI (a promise may lie before ``ts``)."""
    if ts is None:
        ts = seconds(event.ts)
    if isinstance(event, Delivery) and event.promised_at is not None:
        return min(ts, seconds(event.promised_at))
    if isinstance(event, Order) and event.promised_delivery_at is not None:
        return min(ts, seconds(event.promised_delivery_at))
    return ts
