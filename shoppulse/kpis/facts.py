"""Validated events → the compact facts the entities keep."""

from __future__ import annotations

from datetime import UTC, datetime

from shoppulse.kpis.messages import OrderFact
from shoppulse.schemas.currency import minor_unit_exponent, minor_units
from shoppulse.schemas.events import Order

DEFAULT_SERVICE_CATEGORIES = frozenset({"service"})

# Order flags, derived once from the line items.
PERSONALISED = 1  # holds at least one personalised item
CROSS_SELL = 2  # items of two or more distinct product categories
DEVICE = 4  # at least one product (non-service) line
INSTALLATION = 8  # includes professional installation


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def seconds(moment: datetime) -> int:
    """Whole seconds since the epoch (floored) of an aware time.

    Integer timedelta parts rather than ``timestamp()``: exact, and 40 % cheaper on the
    offsets pydantic parses (their ``utcoffset`` is a call back into pydantic-core); it
    runs once per event.
    """
    delta = moment - EPOCH
    return delta.days * 86_400 + delta.seconds


def order_flags(order: Order, service_categories: frozenset[str] = DEFAULT_SERVICE_CATEGORIES) -> int:
    """PERSONALISED, CROSS_SELL, DEVICE and INSTALLATION bits of an order.

    A line is a service when its category is a service category or it names a
    service; every other line is a product, and its category a product category.
    """
    return order_summary(order, service_categories)[0]


def revenue_minor_units(order: Order) -> int:
    """Order revenue in the currency's minor unit (cents), exact."""
    return order.revenue_minor_units()


def order_summary(
    order: Order, service_categories: frozenset[str] = DEFAULT_SERVICE_CATEGORIES
) -> tuple[int, int]:
    """``order_flags`` and ``revenue_minor_units`` from one pass over the lines (every order
    of a report comes through here)."""
    exponent = minor_unit_exponent(order.currency)
    flags = 0
    categories = set()
    revenue = 0
    for item in order.items:
        revenue += item.quantity * minor_units(item.unit_price, exponent)
        if item.personalized:
            flags |= PERSONALISED
        service = item.service
        if service is None:
            category = item.category
            if category not in service_categories:
                categories.add(category)
        elif service == "installation":
            flags |= INSTALLATION
    if categories:
        flags |= DEVICE
    if len(categories) >= 2:
        flags |= CROSS_SELL
    discount = order.discount
    if discount is not None:
        revenue -= minor_units(discount, exponent)
    return flags, revenue


def order_fact(
    order: Order, service_categories: frozenset[str] = DEFAULT_SERVICE_CATEGORIES, ts: int | None = None
) -> OrderFact:
    """The fact an order's entities keep (``ts``: ``seconds(order.ts)``, when known already)."""
    promised = order.promised_delivery_at
    flags, revenue = order_summary(order, service_categories)
    return (
        seconds(order.ts) if ts is None else ts,
        order.event_id,
        flags,
        revenue,
        seconds(promised) if promised is not None else None,
    )
