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

from collections.abc import Callable
from typing import Any, NamedTuple

from shoppulse.kpis.contributions import DEN, NUM, POINT, Steps
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
# Module-level aliases: an enum member read through its class costs a microsecond.
_SMART_HOME = Vertical.SMART_HOME
_ORDER, _CUSTOMER, _VISIT = Kind.ORDER, Kind.CUSTOMER, Kind.VISIT

# NamedTuple's generated __new__ is a Python-level call: on the report's hot path the
# messages and the result are built with tuple.__new__ directly (same objects).
_new = tuple.__new__

Parts = tuple[Steps, list[tuple[Address, Message]]]


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
    return _new(Routed, route_parts(event, vertical, service_categories, ts))


def route_parts(
    event: Event,
    vertical: Vertical,
    service_categories: frozenset[str] = DEFAULT_SERVICE_CATEGORIES,
    ts: int | None = None,
) -> Parts:
    """``route`` as a plain (points, messages) tuple, for the engine's hot path."""
    if ts is None:
        ts = seconds(event.ts)
    router = ROUTERS.get(type(event)) or ROUTERS[contract_type(event)]
    return router(event, vertical is _SMART_HOME, ts, service_categories)


def contract_type(event: Event) -> type[Event]:
    """The contract model ``event`` is an instance of.

    Validated events are instances of the models themselves, found by their type: an
    isinstance check that fails costs a microsecond on pydantic's model classes.
    """
    model = type(event)
    if model in ROUTERS:
        return model
    for candidate in ROUTERS:  # a subclass of a model
        if isinstance(event, candidate):
            return candidate
    raise TypeError(f"not an event of the contract: {model.__name__}")


# Events that count one at their minute in one store-level series and do nothing else,
# by (model, store is smart_home): that series' (kpi, part), or None where no KPI of the
# vertical reads the event. Half the events of a day are these: the engine applies them
# from this table without routing them (``Engine.apply``), and their routers are made
# from it too (``_counter``), so both read the same rule.
COUNTED: dict[tuple[type, bool], tuple[str, str] | None] = {
    (Visit, False): ("tool_time_per_visit", DEN),  # every visit, not only tool users
    (Visit, True): None,
    (ContentView, True): ("content_engagement", DEN),
    (ContentView, False): None,
    (ContentInteraction, True): ("content_engagement", NUM),  # a like, a share or a comment
    (ContentInteraction, False): None,
}


def _counter(model: type) -> Callable[[Any, bool, int, frozenset[str]], Parts]:
    """The router of a ``COUNTED`` model."""
    by_vertical = {smart: COUNTED[(model, smart)] for smart in (False, True)}

    def count(event: Event, smart: bool, ts: int, service_categories: frozenset[str]) -> Parts:
        series = by_vertical[smart]
        if series is None:
            return {}, []
        kpi, part = series
        return {(kpi, part, POINT, ts // 60): 1}, []

    return count


# One function per other event type: (event, is a smart_home store, ts, service categories).


def _order(event: Order, smart: bool, ts: int, service_categories: frozenset[str]) -> Parts:
    fields = event.__dict__  # several fields: cheaper than attributes (see facts)
    store, order_id = fields["store_id"], fields["order_id"]
    placed = _new(PlacedOrder, (order_id, order_fact(event, service_categories, ts)))
    messages: list[tuple[Address, Message]] = [((_ORDER, store, order_id), placed)]
    customer_id, visit_id = fields["customer_id"], fields["visit_id"]
    if customer_id is not None:
        messages.append(((_CUSTOMER, store, customer_id), placed))
    if visit_id is not None and not smart:
        in_visit = _new(OrderInVisit, (order_id, ts, fields["event_id"]))
        messages.append(((_VISIT, store, visit_id), in_visit))
    return {}, messages


def _tool_session(event: ToolSession, smart: bool, ts: int, service_categories: frozenset[str]) -> Parts:
    if smart:
        return {}, []
    fields = event.__dict__  # several fields: cheaper than attributes (see facts)
    store, customer_id = fields["store_id"], fields["customer_id"]
    points: Steps = {("tool_time_per_visit", NUM, POINT, ts // 60): round(fields["duration_seconds"] * 1000)}
    messages: list[tuple[Address, Message]] = [
        ((_VISIT, store, fields["visit_id"]), _new(UsedTool, (ts, customer_id)))
    ]
    if customer_id is not None:
        messages.append(((_CUSTOMER, store, customer_id), _new(UsedTool, (ts, None))))
    return points, messages


def _consultation(event: Consultation, smart: bool, ts: int, service_categories: frozenset[str]) -> Parts:
    if not smart:
        return {}, []
    return {}, [((_CUSTOMER, event.store_id, event.customer_id), _new(Consulted, (ts,)))]


def _delivery(event: Delivery, smart: bool, ts: int, service_categories: frozenset[str]) -> Parts:
    fields = event.__dict__  # several fields: cheaper than attributes (see facts)
    promised = fields["promised_at"]
    delivered = _new(Delivered, (ts, fields["event_id"], seconds(promised) if promised is not None else None))
    return {}, [((_ORDER, fields["store_id"], fields["order_id"]), delivered)]


def _support_rating(event: SupportRating, smart: bool, ts: int, service_categories: frozenset[str]) -> Parts:
    if not smart:
        return {}, []
    return _rating_points("support_satisfaction", ts // 60, event.rating), []


def _survey_response(
    event: SurveyResponse, smart: bool, ts: int, service_categories: frozenset[str]
) -> Parts:
    if smart:
        return {}, []
    return _rating_points("customer_satisfaction", ts // 60, event.rating), []


def _production_qc(event: ProductionQc, smart: bool, ts: int, service_categories: frozenset[str]) -> Parts:
    if smart:
        return {}, []
    minute = ts // 60
    points: Steps = {
        ("personalization_error_rate", NUM, POINT, minute): event.items_with_errors,
        ("personalization_error_rate", DEN, POINT, minute): event.items_checked,
    }
    return points, []


# By exact model: (event, its store is smart_home, ts, service categories) → its parts.
ROUTERS: dict[type, Callable[[Any, bool, int, frozenset[str]], Parts]] = {
    Visit: _counter(Visit),
    ToolSession: _tool_session,
    Consultation: _consultation,
    Order: _order,
    Delivery: _delivery,
    SupportRating: _support_rating,
    SurveyResponse: _survey_response,
    ContentView: _counter(ContentView),
    ContentInteraction: _counter(ContentInteraction),
    ProductionQc: _production_qc,
}


def _rating_points(kpi: str, minute: int, rating: int) -> Steps:
    if rating >= SATISFIED:
        return {(kpi, DEN, POINT, minute): 1, (kpi, NUM, POINT, minute): 1}
    return {(kpi, DEN, POINT, minute): 1}
