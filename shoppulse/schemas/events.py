"""The storefront event contract (wire format v1) as pydantic models.

This module is the executable form of ``shared/EVENTS.md``. Every rule there is a
field constraint here; the reason codes a broken rule maps to live in
``shoppulse.schemas.validation``.

Models are strict: unknown fields are refused (a typo must not silently drop data),
JSON numbers are not accepted where the contract says string (money is a decimal
*string*) and strings are not accepted where it says integer. Money is ``Decimal``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    StringConstraints,
    TypeAdapter,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from shoppulse.schemas.currency import TooManyDecimals, decimal_places, minor_unit_exponent, minor_units

STORE_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"

Id = Annotated[str, StringConstraints(min_length=1, max_length=128)]
StoreId = Annotated[str, StringConstraints(pattern=STORE_ID_PATTERN)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Rating = Annotated[int, Field(ge=1, le=5)]
# Money travels as a decimal string ("49.90"); the exponent check against the
# currency happens in Order, which knows the currency.
MoneyString = Annotated[str, StringConstraints(pattern=r"^[0-9]+(\.[0-9]+)?$", max_length=32)]
# The largest order total accepted, in the currency's minor unit (10^13 cents is 100
# billion USD). Amounts travel through the stream workers as 64-bit integers of minor
# units; without this bound one order (quantity 1,000,000 at "99999999999999999999.99")
# would not fit and would stop a worker (docs/security.md).
MAX_ORDER_MINOR_UNITS = 10**13

# RFC 3339 date-time (section 5.6). The offset is optional in the pattern only so that
# a naive time is reported as such (the datetime step refuses it next). Without this
# shape check pydantic would also take epoch seconds in a string ("1777636800", even
# "2") and ISO forms RFC 3339 does not have ("12:00Z" without seconds, "+0200").
RFC3339_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})?$"
)


class _Rfc3339:
    """A string of RFC 3339 shape, then an aware datetime.

    Both steps run in pydantic-core (a Python validator here cost a quarter of the
    validation time of ``shoppulse report``). From Python, a datetime object is taken
    as it is.
    """

    @classmethod
    def __get_pydantic_core_schema__(cls, source: object, handler: GetCoreSchemaHandler) -> CoreSchema:
        shape = core_schema.custom_error_schema(
            core_schema.str_schema(pattern=RFC3339_PATTERN, strict=True),
            custom_error_type="rfc3339_shape",  # invalid_timestamp (schemas/validation.py)
            custom_error_message="Input should be an RFC 3339 date-time string such as 2026-05-01T12:00:00Z",
        )
        wire = core_schema.chain_schema(
            [shape, core_schema.datetime_schema(tz_constraint="aware", strict=False)]
        )
        python = core_schema.datetime_schema(tz_constraint="aware", strict=True)
        return core_schema.json_or_python_schema(
            json_schema=wire, python_schema=core_schema.union_schema([python, wire])
        )


# The published JSON Schema stays what it was: an RFC 3339 date-time string.
Timestamp = Annotated[datetime, _Rfc3339, WithJsonSchema({"type": "string", "format": "date-time"})]


class _Version:
    """The integer 1, and only an integer: pydantic's ``Literal[1]`` also takes ``true``
    and ``1.0`` from JSON, which equal 1 in Python. Anything but an integer is a wrong
    type; another integer is an unsupported version (``schemas/validation.py``)."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: object, handler: GetCoreSchemaHandler) -> CoreSchema:
        integer = core_schema.int_schema(strict=True)
        return core_schema.chain_schema([integer, core_schema.literal_schema([1])])


SchemaVersion = Annotated[Literal[1], _Version, WithJsonSchema({"const": 1, "type": "integer"})]


def _strict_config(title: str) -> ConfigDict:
    return ConfigDict(extra="forbid", strict=True, frozen=True, title=title)


class _Envelope(BaseModel):
    """Fields every event carries."""

    event_id: Id
    store_id: StoreId
    ts: Timestamp
    customer_id: Id | None = None
    visit_id: Id | None = None
    schema_version: SchemaVersion = 1


class Visit(_Envelope):
    model_config = _strict_config("visit")
    type: Literal["visit"]
    visit_id: Id


class ToolSession(_Envelope):
    model_config = _strict_config("tool_session")
    type: Literal["tool_session"]
    visit_id: Id
    duration_seconds: Annotated[float, Field(gt=0, le=21600, allow_inf_nan=False)]

    @field_validator("duration_seconds", mode="before")
    @classmethod
    def _number_not_bool(cls, value: object) -> object:
        # In strict mode a float field still takes a JSON integer (wanted) but we
        # also want an explicit refusal of booleans, which Python treats as ints.
        if isinstance(value, bool):
            raise PydanticCustomError("float_type", "Input should be a valid number")
        return value


class Consultation(_Envelope):
    model_config = _strict_config("consultation")
    type: Literal["consultation"]
    customer_id: Id
    consultation_id: Id


class LineItem(BaseModel):
    model_config = _strict_config("line_item")
    sku: Id
    category: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    quantity: Annotated[int, Field(ge=1, le=1_000_000)]
    unit_price: MoneyString
    personalized: bool = False
    service: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None


class Order(_Envelope):
    model_config = _strict_config("order")
    type: Literal["order"]
    order_id: Id
    currency: Currency
    items: Annotated[list[LineItem], Field(min_length=1, max_length=1000)]
    discount: MoneyString | None = None
    promised_delivery_at: Timestamp | None = None

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        minor_unit_exponent(value)  # raises invalid_currency for unknown codes
        return value

    @model_validator(mode="after")
    def _money_fits_currency(self) -> Order:
        # One pass: every order of a report comes through here, so the item's path is
        # only spelt out for an error, the total is summed along the way, the number of
        # decimals is checked by ``minor_units`` (one call per line), and fields are read
        # from the models' ``__dict__`` (cheaper, see ``kpis.facts``). The revenue is left
        # for the engine, which asks for it next (``validated_revenue``).
        global _validated
        fields = self.__dict__
        exponent = minor_unit_exponent(fields["currency"])
        gross = 0
        for index, item in enumerate(fields["items"]):
            line = item.__dict__
            price = line["unit_price"]
            try:
                gross += line["quantity"] * minor_units(price, exponent)
            except TooManyDecimals:
                _check_money(price, exponent, f"items.{index}.unit_price")  # raises, with the path
                raise
        if gross > MAX_ORDER_MINOR_UNITS:
            raise PydanticCustomError(
                "order_total_too_large",
                "{path}: the items' total exceeds the largest order accepted "
                "({limit} in the currency's minor unit)",
                {"path": "items", "limit": MAX_ORDER_MINOR_UNITS},
            )
        discount = fields["discount"]
        if discount is None:
            _validated = (self, gross)
            return self
        try:
            discount_units = minor_units(discount, exponent)
        except TooManyDecimals:
            _check_money(discount, exponent, "discount")  # raises, with the path
            raise
        if gross < discount_units:
            raise PydanticCustomError(
                "invalid_money", "{path}: the discount exceeds the items' total", {"path": "discount"}
            )
        _validated = (self, gross - discount_units)
        return self

    def revenue(self) -> Decimal:
        """Σ quantity * unit_price - discount (tax and shipping are not part of it)."""
        gross = sum((item.quantity * Decimal(item.unit_price) for item in self.items), Decimal(0))
        return gross - Decimal(self.discount or 0)

    def revenue_minor_units(self) -> int:
        """``revenue()`` in the currency's minor unit (cents), in integers: exact at any size,
        and several times cheaper than Decimal on the report's hot path."""
        exponent = minor_unit_exponent(self.currency)
        gross = sum(item.quantity * minor_units(item.unit_price, exponent) for item in self.items)
        return gross - minor_units(self.discount, exponent) if self.discount is not None else gross


# The order validated last and its revenue in minor units. ``shoppulse report`` hands each
# order to the engine right after validating it, and the engine needs the revenue the
# validator has just summed (``kpis.facts.order_fact``): taken from here, no line's price is
# converted twice. Keyed by the object itself (held, so its id cannot be reused) and replaced
# as a whole, so a reader gets this order's revenue or nothing, whatever the thread.
_validated: tuple[Order | None, int] = (None, 0)


def validated_revenue(order: Order) -> int | None:
    """``order.revenue_minor_units()`` if ``order`` is the order validated last, else None."""
    last, revenue = _validated
    return revenue if last is order else None


def _check_money(amount: str, exponent: int, path: str) -> None:
    # The money pattern already guarantees digits with an optional fraction: only the
    # number of decimals is left to check, on the string (a Decimal parse cost more).
    places = decimal_places(amount)
    if places > exponent:
        raise PydanticCustomError(
            "invalid_money",
            "{path}: {amount} has more than {exponent} decimals for this currency",
            {"path": path, "amount": amount, "exponent": exponent},
        )


class Delivery(_Envelope):
    model_config = _strict_config("delivery")
    type: Literal["delivery"]
    order_id: Id
    promised_at: Timestamp | None = None


class SupportRating(_Envelope):
    model_config = _strict_config("support_rating")
    type: Literal["support_rating"]
    ticket_id: Id
    rating: Rating


class SurveyResponse(_Envelope):
    model_config = _strict_config("survey_response")
    type: Literal["survey_response"]
    response_id: Id
    rating: Rating


class ContentView(_Envelope):
    model_config = _strict_config("content_view")
    type: Literal["content_view"]
    content_id: Id


class ContentInteraction(_Envelope):
    model_config = _strict_config("content_interaction")
    type: Literal["content_interaction"]
    content_id: Id
    interaction: Literal["like", "share", "comment"]


class ProductionQc(_Envelope):
    model_config = _strict_config("production_qc")
    type: Literal["production_qc"]
    order_id: Id
    items_checked: Annotated[int, Field(ge=1, le=1_000_000)]
    items_with_errors: Annotated[int, Field(ge=0, le=1_000_000)]

    @model_validator(mode="after")
    def _errors_within_checked(self) -> ProductionQc:
        if self.items_with_errors > self.items_checked:
            raise PydanticCustomError(
                "errors_exceed_checked",
                "items_with_errors ({errors}) exceeds items_checked ({checked})",
                {
                    "errors": self.items_with_errors,
                    "checked": self.items_checked,
                    "path": "items_with_errors",
                },
            )
        return self


EVENT_MODELS: tuple[type[_Envelope], ...] = (
    Visit,
    ToolSession,
    Consultation,
    Order,
    Delivery,
    SupportRating,
    SurveyResponse,
    ContentView,
    ContentInteraction,
    ProductionQc,
)

Event = Annotated[
    Union[  # noqa: UP007 - a Union reads better than a 10-line pipe chain here
        Visit,
        ToolSession,
        Consultation,
        Order,
        Delivery,
        SupportRating,
        SurveyResponse,
        ContentView,
        ContentInteraction,
        ProductionQc,
    ],
    Field(discriminator="type"),
]

# Only the keys' strings are cached while decoding: pydantic caches every short string by
# default, and an event's values (ids, times) are nearly all new, so the lookups were pure
# cost. Measured: 2.66 µs an event with the default, 2.31 µs with "keys".
_DECODING = ConfigDict(cache_strings="keys")
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event, config=_DECODING)
EVENTS_ADAPTER: TypeAdapter[list[Event]] = TypeAdapter(list[Event], config=_DECODING)

EVENT_TYPES: tuple[str, ...] = tuple(m.model_fields["type"].annotation.__args__[0] for m in EVENT_MODELS)  # type: ignore[union-attr]
