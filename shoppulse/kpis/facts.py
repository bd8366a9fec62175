"""Validated events → the compact facts the entities keep."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic_core import TzInfo

from shoppulse.kpis.messages import OrderFact
from shoppulse.schemas.currency import minor_unit_exponent, minor_units
from shoppulse.schemas.events import Order, validated_revenue

DEFAULT_SERVICE_CATEGORIES = frozenset({"service"})

# Order flags, derived once from the line items.
PERSONALISED = 1  # holds at least one personalised item
CROSS_SELL = 2  # items of two or more distinct product categories
DEVICE = 4  # at least one product (non-service) line
INSTALLATION = 8  # includes professional installation


# The hot paths read an event's fields from its ``__dict__`` (``fields = event.__dict__``)
# when they read several: pydantic's BaseModel defines ``__getattr__``, so CPython cannot
# specialise an attribute read on a model, and each costs about as much as fetching the
# ``__dict__`` once, several times a dict subscript.

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DAY = EPOCH.toordinal()


def seconds(moment: datetime) -> int:
    """Whole seconds since the epoch (floored) of an aware time; it runs once per event.

    Integer parts rather than ``timestamp()``: exact. A time parsed by pydantic carries a
    fixed offset of whole seconds (``TzInfo``): it is asked of the tzinfo and taken off the
    naive fields, a fifth of the cost of subtracting the epoch, which asks the datetime for
    its offset (a slower path into pydantic-core) and builds three timedeltas. Any other
    tzinfo, whose offset may depend on the time, takes the subtraction.
    """
    tz = moment.tzinfo
    if type(tz) is TzInfo:
        offset = tz.utcoffset(None)
        # Days and seconds summed apart: only the last step works on an integer past 2**30,
        # the size CPython adds and multiplies on its fast path (a time in seconds is past it).
        days = moment.toordinal() - _EPOCH_DAY - offset.days
        return days * 86_400 + (moment.hour * 3600 + moment.minute * 60 + moment.second - offset.seconds)
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
    """``order_flags`` and ``revenue_minor_units`` from one pass over the lines."""
    _, _, flags, revenue, _ = order_fact(order, service_categories)
    return flags, revenue


def order_fact(
    order: Order, service_categories: frozenset[str] = DEFAULT_SERVICE_CATEGORIES, ts: int | None = None
) -> OrderFact:
    """The fact an order's entities keep (``ts``: ``seconds(order.ts)``, when known already).

    The flags and the revenue are summed here, in one pass over the lines, rather than
    by a call to ``order_summary``: every order of a report comes through here. So the
    fields are read from the models' ``__dict__`` (see the note at the top), the revenue is the
    validator's when it has just validated this order (``validated_revenue``), and two product
    categories are told apart by comparing with the first rather than by collecting them.
    """
    fields = order.__dict__
    revenue = validated_revenue(order)
    exponent = None
    if revenue is None:  # not the order validated last: summed along the lines
        exponent, revenue = minor_unit_exponent(fields["currency"]), 0
    flags = 0
    first_category = None  # of the product lines
    for item in fields["items"]:
        line = item.__dict__
        if exponent is not None:
            revenue += line["quantity"] * minor_units(line["unit_price"], exponent)
        if line["personalized"]:
            flags |= PERSONALISED
        service = line["service"]
        if service is None:
            category = line["category"]
            if category not in service_categories:
                if first_category is None:
                    first_category = category
                    flags |= DEVICE
                elif category != first_category:
                    flags |= CROSS_SELL
        elif service == "installation":
            flags |= INSTALLATION
    discount = fields["discount"]
    if exponent is not None and discount is not None:
        revenue -= minor_units(discount, exponent)
    promised = fields["promised_delivery_at"]
    return (
        seconds(fields["ts"]) if ts is None else ts,
        fields["event_id"],
        flags,
        revenue,
        seconds(promised) if promised is not None else None,
    )
