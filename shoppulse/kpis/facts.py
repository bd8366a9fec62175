"""Validated events → the compact facts the entities keep."""

from __future__ import annotations

from datetime import datetime

from shoppulse.kpis.messages import OrderFact
from shoppulse.schemas.currency import minor_unit_exponent
from shoppulse.schemas.events import Order

DEFAULT_SERVICE_CATEGORIES = frozenset({"service"})

# Order flags, derived once from the line items.
PERSONALISED = 1  # holds at least one personalised item
CROSS_SELL = 2  # items of two or more distinct product categories
DEVICE = 4  # at least one product (non-service) line
INSTALLATION = 8  # includes professional installation


def seconds(moment: datetime) -> int:
    """Whole seconds since the epoch (floored)."""
    return int(moment.timestamp() // 1)


def order_flags(order: Order, service_categories: frozenset[str] = DEFAULT_SERVICE_CATEGORIES) -> int:
    """PERSONALISED, CROSS_SELL, DEVICE and INSTALLATION bits of an order.

    A line is a service when its category is a service category or it names a
    service; every other line is a product, and its category a product category.
    """
    flags = 0
    categories = set()
    for item in order.items:
        if item.personalized:
            flags |= PERSONALISED
        if item.service == "installation":
            flags |= INSTALLATION
        if item.category not in service_categories and item.service is None:
            categories.add(item.category)
    if categories:
        flags |= DEVICE
    if len(categories) >= 2:
        flags |= CROSS_SELL
    return flags


def revenue_minor_units(order: Order) -> int:
    """Order revenue in the currency's minor unit (cents), exact."""
    return int(order.revenue().scaleb(minor_unit_exponent(order.currency)))


def order_fact(order: Order, service_categories: frozenset[str] = DEFAULT_SERVICE_CATEGORIES) -> OrderFact:
    promised = order.promised_delivery_at
    return (
        seconds(order.ts),
        order.event_id,
        order_flags(order, service_categories),
        revenue_minor_units(order),
        seconds(promised) if promised is not None else None,
    )
