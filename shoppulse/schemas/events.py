"""The storefront event contract (wire format v1) as pydantic models.

This module is the executable form of ``shared/EVENTS.md``. Every rule there is a
field constraint here; the reason codes a broken rule maps to live in
``shoppulse.schemas.validation``.

Models are strict: unknown fields are refused (a typo must not silently drop data),
JSON numbers are not accepted where the contract says string (money is a decimal
*string*) and strings are not accepted where it says integer. Money is ``Decimal``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal, Union

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from shoppulse.schemas.currency import minor_unit_exponent

STORE_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"

Id = Annotated[str, StringConstraints(min_length=1, max_length=128)]
StoreId = Annotated[str, StringConstraints(pattern=STORE_ID_PATTERN)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Rating = Annotated[int, Field(ge=1, le=5)]
# Money travels as a decimal string ("49.90"); the exponent check against the
# currency happens in Order, which knows the currency.
MoneyString = Annotated[str, StringConstraints(pattern=r"^[0-9]+(\.[0-9]+)?$", max_length=32)]


def _strict_config(title: str) -> ConfigDict:
    return ConfigDict(extra="forbid", strict=True, frozen=True, title=title)


class _Envelope(BaseModel):
    """Fields every event carries."""

    event_id: Id
    store_id: StoreId
    ts: AwareDatetime
    customer_id: Id | None = None
    visit_id: Id | None = None
    schema_version: Literal[1] = 1


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
    promised_delivery_at: AwareDatetime | None = None

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        minor_unit_exponent(value)  # raises invalid_currency for unknown codes
        return value

    @model_validator(mode="after")
    def _money_fits_currency(self) -> Order:
        exponent = minor_unit_exponent(self.currency)
        for index, item in enumerate(self.items):
            _check_money(item.unit_price, exponent, f"items.{index}.unit_price")
        if self.discount is not None:
            _check_money(self.discount, exponent, "discount")
            if self.revenue() < 0:
                raise PydanticCustomError(
                    "invalid_money", "{path}: the discount exceeds the items' total", {"path": "discount"}
                )
        return self

    def revenue(self) -> Decimal:
        """Σ quantity * unit_price - discount (tax and shipping are not part of it)."""
        gross = sum((item.quantity * Decimal(item.unit_price) for item in self.items), Decimal(0))
        return gross - Decimal(self.discount or 0)


def _check_money(amount: str, exponent: int, path: str) -> None:
    try:
        value = Decimal(amount)
    except InvalidOperation:  # pragma: no cover - the pattern already guarantees digits
        raise PydanticCustomError("invalid_money", "{path}: not a decimal", {"path": path}) from None
    places = -value.as_tuple().exponent if "." in amount else 0
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
    promised_at: AwareDatetime | None = None


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

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
EVENTS_ADAPTER: TypeAdapter[list[Event]] = TypeAdapter(list[Event])

EVENT_TYPES: tuple[str, ...] = tuple(m.model_fields["type"].annotation.__args__[0] for m in EVENT_MODELS)  # type: ignore[union-attr]
