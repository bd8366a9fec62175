"""Bytes in, a valid event or a rejection out.

Every way an event can break the contract maps to one stable, machine-readable
reason code (the ``Reason`` enum) and the path of the offending field
(``items.0.unit_price``). Producers, the dead-letter topic, the HTTP collector and
``shoppulse report`` all speak these codes, so they are part of the public contract:
add codes, never rename them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

import orjson
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from shoppulse.schemas.events import EVENT_ADAPTER, EVENT_MODELS, EVENT_TYPES, EVENTS_ADAPTER, Event, Order
from shoppulse.schemas.stores import Store


class Reason(StrEnum):
    INVALID_JSON = "invalid_json"  # not UTF-8 JSON at all
    NOT_AN_OBJECT = "not_an_object"  # JSON, but not an object
    UNKNOWN_TYPE = "unknown_type"  # `type` is not one of the contract's types
    MISSING_FIELD = "missing_field"
    UNKNOWN_FIELD = "unknown_field"
    WRONG_TYPE = "wrong_type"  # e.g. a string where an integer belongs
    INVALID_VALUE = "invalid_value"  # right type, breaks a format or length rule
    OUT_OF_RANGE = "out_of_range"  # a number outside its bounds (rating 6, quantity 0)
    NAIVE_TIMESTAMP = "naive_timestamp"  # a time without an offset
    INVALID_TIMESTAMP = "invalid_timestamp"  # not an RFC 3339 time
    INVALID_CURRENCY = "invalid_currency"  # not an ISO 4217 code
    INVALID_MONEY = "invalid_money"  # not a decimal string, or too many decimals
    UNSUPPORTED_SCHEMA_VERSION = "unsupported_schema_version"
    UNKNOWN_STORE = "unknown_store"  # store_id not in the stores file
    CURRENCY_MISMATCH = "currency_mismatch"  # order currency is not its store's
    LATE_EVENT = "late_event"  # older than every window it could still change
    FUTURE_EVENT = "future_event"  # event time too far ahead of the clock
    INTERNAL_ERROR = "internal_error"  # the worker failed on it (a bug): kept to replay once fixed


# A path or message longer than this is cut: both travel as dead-letter headers and in
# HTTP answers, and an unknown field's name can be as long as the message itself.
MAX_PATH_CHARS = 256
MAX_MESSAGE_CHARS = 512


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Rejection(NamedTuple):
    """Why an event was refused: a stable reason code, the field path, and prose."""

    reason: Reason
    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"reason": self.reason.value, "path": self.path, "message": self.message}


_MONEY_FIELDS = frozenset({"unit_price", "discount"})

# pydantic's error types, grouped into our reason codes. Anything not listed is
# INVALID_VALUE: a wrong value of the right type.
_REASON_BY_ERROR: dict[str, Reason] = {
    "json_invalid": Reason.INVALID_JSON,
    "json_type": Reason.INVALID_JSON,
    "model_type": Reason.NOT_AN_OBJECT,
    "model_attributes_type": Reason.NOT_AN_OBJECT,
    "dict_type": Reason.NOT_AN_OBJECT,
    "union_tag_invalid": Reason.UNKNOWN_TYPE,
    "union_tag_not_found": Reason.MISSING_FIELD,
    "missing": Reason.MISSING_FIELD,
    "extra_forbidden": Reason.UNKNOWN_FIELD,
    "timezone_aware": Reason.NAIVE_TIMESTAMP,
    "datetime_parsing": Reason.INVALID_TIMESTAMP,
    "datetime_type": Reason.INVALID_TIMESTAMP,
    "datetime_from_date_parsing": Reason.INVALID_TIMESTAMP,
    "datetime_object_invalid": Reason.INVALID_TIMESTAMP,
    "rfc3339_shape": Reason.INVALID_TIMESTAMP,
    "invalid_currency": Reason.INVALID_CURRENCY,
    "invalid_money": Reason.INVALID_MONEY,
    "greater_than": Reason.OUT_OF_RANGE,
    "greater_than_equal": Reason.OUT_OF_RANGE,
    "less_than": Reason.OUT_OF_RANGE,
    "less_than_equal": Reason.OUT_OF_RANGE,
    "finite_number": Reason.OUT_OF_RANGE,
    "errors_exceed_checked": Reason.OUT_OF_RANGE,
    "order_total_too_large": Reason.OUT_OF_RANGE,
    "int_type": Reason.WRONG_TYPE,
    "int_from_float": Reason.WRONG_TYPE,
    "int_parsing": Reason.WRONG_TYPE,
    "float_type": Reason.WRONG_TYPE,
    "float_parsing": Reason.WRONG_TYPE,
    "string_type": Reason.WRONG_TYPE,
    "bool_type": Reason.WRONG_TYPE,
    "list_type": Reason.WRONG_TYPE,
}


def _path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def rejection_from_error(error: ErrorDetails) -> Rejection:
    """Map one pydantic error to our reason code and field path."""
    kind = error["type"]
    loc = error["loc"]
    # A discriminated union puts the tag first (`order.items.0.sku`); the producer
    # knows the type already, so the path starts at the event's own field.
    if loc and loc[0] in EVENT_TYPES:
        loc = loc[1:]
    ctx = error.get("ctx") or {}
    path = str(ctx.get("path") or _path(loc))
    field = path.rsplit(".", 1)[-1]
    reason = _REASON_BY_ERROR.get(kind, Reason.INVALID_VALUE)
    if field in _MONEY_FIELDS and reason in (Reason.WRONG_TYPE, Reason.INVALID_VALUE):
        reason = Reason.INVALID_MONEY
    elif field == "currency" and reason is Reason.INVALID_VALUE:
        reason = Reason.INVALID_CURRENCY
    elif field == "schema_version" and reason is Reason.INVALID_VALUE:
        reason = Reason.UNSUPPORTED_SCHEMA_VERSION
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        path = "type"
    return Rejection(reason, _clip(path, MAX_PATH_CHARS), _clip(error["msg"], MAX_MESSAGE_CHARS))


_NO_VALUE = Rejection(Reason.INVALID_JSON, "", "the message has no value (a Kafka record with a null value)")


_BOM = b"\xef\xbb\xbf"


def _without_bom(raw: bytes | str) -> bytes | str:
    """JSON texts may start with a UTF-8 byte-order mark (some Windows tools write one)."""
    return raw.removeprefix(_BOM) if isinstance(raw, bytes) else raw.removeprefix("\ufeff")


_VALIDATE_JSON = EVENT_ADAPTER.validator.validate_json
_MODELS = frozenset(EVENT_MODELS)
_NOT_ORDERS = _MODELS - {Order}  # by exact type: no currency to check


class EventValidator:
    """Validates events against the contract and the configured stores."""

    def __init__(self, stores: dict[str, Store]) -> None:
        self._stores = stores

    def validate_json(self, raw: bytes | str | None) -> Event | Rejection:
        """Decode one JSON document holding one event."""
        if raw is None:
            return _NO_VALUE
        try:
            # The adapter's core validator, without TypeAdapter's keyword-argument wrapper,
            # and bytes' BOM removed in line: ``shoppulse report`` calls this once per line.
            event = _VALIDATE_JSON(raw.removeprefix(_BOM) if type(raw) is bytes else _without_bom(raw))
        except ValidationError as exc:
            return rejection_from_error(exc.errors(include_url=False)[0])
        except UnicodeDecodeError as exc:
            return Rejection(Reason.INVALID_JSON, "", f"not UTF-8: {exc.reason}")
        # check_context's answer for valid events, without the call: an event of a configured
        # store is valid as it is if it is not an order, or an order in its store's currency.
        model = type(event)
        if model in _NOT_ORDERS:
            if event.store_id in self._stores:
                return event
        elif model is Order:
            fields = event.__dict__  # two fields: cheaper than attributes (see kpis.facts)
            store = self._stores.get(fields["store_id"])
            if store is not None and fields["currency"] == store.currency:
                return event
        return self.check_context(event)

    def validate_message(self, raw: bytes | str | None) -> list[Event | Rejection]:
        """Decode one message: a single event, or a JSON array of events (a batch).

        Each element of a batch stands alone: one bad event is rejected, the rest
        of the batch is kept. Never raises: a Kafka record without a value (None) and
        elements nested too deeply to re-encode are rejections too.
        """
        if raw is None:
            return [_NO_VALUE]
        raw = _without_bom(raw)
        if raw.lstrip()[:1] not in (b"[", "["):
            return [self.validate_json(raw)]
        try:
            events = EVENTS_ADAPTER.validate_json(raw)
        except ValidationError:
            pass  # at least one element is bad: validate them one by one below
        except UnicodeDecodeError as exc:
            return [Rejection(Reason.INVALID_JSON, "", f"not UTF-8: {exc.reason}")]
        else:
            return [self.check_context(event) for event in events]
        try:
            elements = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return [Rejection(Reason.INVALID_JSON, "", str(exc))]
        return [self._validate_element(element) for element in elements]

    def _validate_element(self, element: object) -> Event | Rejection:
        try:
            encoded = orjson.dumps(element)
        except orjson.JSONEncodeError as exc:  # nests deeper than orjson writes (255 levels)
            return Rejection(Reason.INVALID_JSON, "", f"the event nests too deeply: {exc}")
        return self.validate_json(encoded)

    def check_context(self, event: Event) -> Event | Rejection:
        """The rules that need the stores file: a known store, the store's currency."""
        store = self._stores.get(event.store_id)
        if store is None:
            return Rejection(Reason.UNKNOWN_STORE, "store_id", f"store {event.store_id!r} is not configured")
        # By type first: an isinstance check that fails costs a microsecond on pydantic's
        # model classes, and four events in five are not orders.
        model = type(event)
        is_order = model is Order or (model not in _MODELS and isinstance(event, Order))
        if is_order and event.currency != store.currency:  # type: ignore[union-attr]
            return Rejection(
                Reason.CURRENCY_MISMATCH,
                "currency",
                f"order in {event.currency} for store {store.id!r}, which sells in {store.currency}",
            )
        return event
