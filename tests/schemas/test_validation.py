"""Every rule of the event contract, broken one at a time: reason code and field path."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import orjson
import pytest
import yaml

from shoppulse.schemas.events import Order
from shoppulse.schemas.stores import Stores
from shoppulse.schemas.validation import EventValidator, Reason, Rejection
from tests.builders import PARTY_STORE, SMART_STORE, STORES_YAML, T0, Event, event, item, minutes, order

VALIDATOR = EventValidator(Stores.model_validate(yaml.safe_load(STORES_YAML)).by_id())

VALID: dict[str, Event] = {
    "visit": event("visit", PARTY_STORE, T0, visit_id="v1"),
    "tool_session": event("tool_session", PARTY_STORE, T0, visit_id="v1", duration_seconds=90.5),
    "consultation": event("consultation", SMART_STORE, T0, customer_id="c1", consultation_id="q1"),
    "order": order(
        SMART_STORE,
        T0,
        customer_id="c1",
        discount="5.00",
        promised_delivery_at="2026-05-04T12:00:00+02:00",
        items=[item("hub", "129.00"), item("service", "79.00", service="installation")],
    ),
    "delivery": event("delivery", PARTY_STORE, T0, order_id="o1", promised_at="2026-05-02T00:00:00Z"),
    "support_rating": event("support_rating", SMART_STORE, T0, ticket_id="t1", rating=5),
    "survey_response": event("survey_response", PARTY_STORE, T0, response_id="r1", rating=1),
    "content_view": event("content_view", SMART_STORE, T0, content_id="guide"),
    "content_interaction": event(
        "content_interaction", SMART_STORE, T0, content_id="guide", interaction="share"
    ),
    "production_qc": event(
        "production_qc", PARTY_STORE, T0, order_id="o1", items_checked=3, items_with_errors=3
    ),
}


def mutate(kind: str, change: Callable[[Event], Any]) -> Event:
    broken = copy.deepcopy(VALID[kind])
    change(broken)
    return broken


def setter(path: str, value: Any) -> Callable[[Event], None]:
    def change(target: Event) -> None:
        *parents, last = path.split(".")
        node: Any = target
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return change


def deleter(field: str) -> Callable[[Event], None]:
    return lambda target: target.pop(field)


CASES: list[tuple[str, str, Callable[[Event], Any], Reason, str]] = [
    # (id, event type, change, reason, path)
    ("event_id-missing", "visit", deleter("event_id"), Reason.MISSING_FIELD, "event_id"),
    ("event_id-empty", "visit", setter("event_id", ""), Reason.INVALID_VALUE, "event_id"),
    ("event_id-too-long", "visit", setter("event_id", "x" * 129), Reason.INVALID_VALUE, "event_id"),
    ("event_id-number", "visit", setter("event_id", 7), Reason.WRONG_TYPE, "event_id"),
    ("type-missing", "visit", deleter("type"), Reason.MISSING_FIELD, "type"),
    ("type-unknown", "visit", setter("type", "pageview"), Reason.UNKNOWN_TYPE, "type"),
    ("store_id-pattern", "visit", setter("store_id", "Fiesta Favors"), Reason.INVALID_VALUE, "store_id"),
    ("store_id-unknown", "visit", setter("store_id", "no-such-store"), Reason.UNKNOWN_STORE, "store_id"),
    ("ts-missing", "visit", deleter("ts"), Reason.MISSING_FIELD, "ts"),
    ("ts-naive", "visit", setter("ts", "2026-05-01T12:00:00"), Reason.NAIVE_TIMESTAMP, "ts"),
    ("ts-garbage", "visit", setter("ts", "yesterday"), Reason.INVALID_TIMESTAMP, "ts"),
    ("ts-date-only", "visit", setter("ts", "2026-05-01"), Reason.INVALID_TIMESTAMP, "ts"),
    ("ts-epoch-number", "visit", setter("ts", 1777636800), Reason.INVALID_TIMESTAMP, "ts"),
    ("customer_id-empty", "visit", setter("customer_id", ""), Reason.INVALID_VALUE, "customer_id"),
    ("visit_id-too-long", "order", setter("visit_id", "v" * 129), Reason.INVALID_VALUE, "visit_id"),
    (
        "schema_version-2",
        "visit",
        setter("schema_version", 2),
        Reason.UNSUPPORTED_SCHEMA_VERSION,
        "schema_version",
    ),
    # An integer, not what equals 1 in Python: JSON's true and 1.0 are not versions.
    ("schema_version-true", "visit", setter("schema_version", True), Reason.WRONG_TYPE, "schema_version"),
    ("schema_version-float", "visit", setter("schema_version", 1.0), Reason.WRONG_TYPE, "schema_version"),
    ("schema_version-string", "visit", setter("schema_version", "1"), Reason.WRONG_TYPE, "schema_version"),
    ("unknown-field", "visit", setter("page", "/home"), Reason.UNKNOWN_FIELD, "page"),
    ("typo-field", "order", lambda e: e.update(order_ID=e.pop("order_id")), Reason.MISSING_FIELD, "order_id"),
    ("visit-needs-visit_id", "visit", deleter("visit_id"), Reason.MISSING_FIELD, "visit_id"),
    ("tool-needs-visit_id", "tool_session", deleter("visit_id"), Reason.MISSING_FIELD, "visit_id"),
    ("duration-zero", "tool_session", setter("duration_seconds", 0), Reason.OUT_OF_RANGE, "duration_seconds"),
    (
        "duration-too-long",
        "tool_session",
        setter("duration_seconds", 21601),
        Reason.OUT_OF_RANGE,
        "duration_seconds",
    ),
    (
        "duration-string",
        "tool_session",
        setter("duration_seconds", "90"),
        Reason.WRONG_TYPE,
        "duration_seconds",
    ),
    (
        "duration-bool",
        "tool_session",
        setter("duration_seconds", True),
        Reason.WRONG_TYPE,
        "duration_seconds",
    ),
    (
        "consultation-needs-customer",
        "consultation",
        deleter("customer_id"),
        Reason.MISSING_FIELD,
        "customer_id",
    ),
    (
        "consultation-needs-id",
        "consultation",
        deleter("consultation_id"),
        Reason.MISSING_FIELD,
        "consultation_id",
    ),
    ("currency-lowercase", "order", setter("currency", "usd"), Reason.INVALID_CURRENCY, "currency"),
    ("currency-not-iso", "order", setter("currency", "XYZ"), Reason.INVALID_CURRENCY, "currency"),
    ("currency-withdrawn", "order", setter("currency", "DEM"), Reason.INVALID_CURRENCY, "currency"),
    ("currency-no-minor-unit", "order", setter("currency", "XAU"), Reason.INVALID_CURRENCY, "currency"),
    ("currency-mixed", "order", setter("currency", "EUR"), Reason.CURRENCY_MISMATCH, "currency"),
    ("items-empty", "order", setter("items", []), Reason.INVALID_VALUE, "items"),
    ("items-not-list", "order", setter("items", {"sku": "x"}), Reason.WRONG_TYPE, "items"),
    ("item-no-sku", "order", lambda e: e["items"][0].pop("sku"), Reason.MISSING_FIELD, "items.0.sku"),
    (
        "item-no-category",
        "order",
        lambda e: e["items"][1].pop("category"),
        Reason.MISSING_FIELD,
        "items.1.category",
    ),
    ("item-quantity-zero", "order", setter("items.0.quantity", 0), Reason.OUT_OF_RANGE, "items.0.quantity"),
    ("item-quantity-float", "order", setter("items.0.quantity", 1.5), Reason.WRONG_TYPE, "items.0.quantity"),
    ("item-quantity-string", "order", setter("items.0.quantity", "2"), Reason.WRONG_TYPE, "items.0.quantity"),
    (
        "price-number",
        "order",
        setter("items.0.unit_price", 129.0),
        Reason.INVALID_MONEY,
        "items.0.unit_price",
    ),
    (
        "price-negative",
        "order",
        setter("items.0.unit_price", "-1.00"),
        Reason.INVALID_MONEY,
        "items.0.unit_price",
    ),
    (
        "price-three-decimals",
        "order",
        setter("items.1.unit_price", "79.001"),
        Reason.INVALID_MONEY,
        "items.1.unit_price",
    ),
    (
        "price-exponent",
        "order",
        setter("items.0.unit_price", "1e3"),
        Reason.INVALID_MONEY,
        "items.0.unit_price",
    ),
    (
        "price-comma",
        "order",
        setter("items.0.unit_price", "129,00"),
        Reason.INVALID_MONEY,
        "items.0.unit_price",
    ),
    (
        "personalized-string",
        "order",
        setter("items.0.personalized", "yes"),
        Reason.WRONG_TYPE,
        "items.0.personalized",
    ),
    ("item-unknown-field", "order", setter("items.0.colour", "red"), Reason.UNKNOWN_FIELD, "items.0.colour"),
    ("discount-negative", "order", setter("discount", "-5.00"), Reason.INVALID_MONEY, "discount"),
    ("discount-above-total", "order", setter("discount", "500.00"), Reason.INVALID_MONEY, "discount"),
    (
        "promise-naive",
        "order",
        setter("promised_delivery_at", "2026-05-04T12:00:00"),
        Reason.NAIVE_TIMESTAMP,
        "promised_delivery_at",
    ),
    ("delivery-needs-order", "delivery", deleter("order_id"), Reason.MISSING_FIELD, "order_id"),
    (
        "delivery-promise-garbage",
        "delivery",
        setter("promised_at", "soon"),
        Reason.INVALID_TIMESTAMP,
        "promised_at",
    ),
    ("rating-zero", "support_rating", setter("rating", 0), Reason.OUT_OF_RANGE, "rating"),
    ("rating-six", "survey_response", setter("rating", 6), Reason.OUT_OF_RANGE, "rating"),
    ("rating-string", "support_rating", setter("rating", "5"), Reason.WRONG_TYPE, "rating"),
    ("rating-float", "survey_response", setter("rating", 4.5), Reason.WRONG_TYPE, "rating"),
    ("support-needs-ticket", "support_rating", deleter("ticket_id"), Reason.MISSING_FIELD, "ticket_id"),
    ("survey-needs-response", "survey_response", deleter("response_id"), Reason.MISSING_FIELD, "response_id"),
    ("view-needs-content", "content_view", deleter("content_id"), Reason.MISSING_FIELD, "content_id"),
    (
        "interaction-unknown",
        "content_interaction",
        setter("interaction", "clap"),
        Reason.INVALID_VALUE,
        "interaction",
    ),
    ("qc-checked-zero", "production_qc", setter("items_checked", 0), Reason.OUT_OF_RANGE, "items_checked"),
    (
        "qc-errors-negative",
        "production_qc",
        setter("items_with_errors", -1),
        Reason.OUT_OF_RANGE,
        "items_with_errors",
    ),
    (
        "qc-errors-above-checked",
        "production_qc",
        setter("items_with_errors", 4),
        Reason.OUT_OF_RANGE,
        "items_with_errors",
    ),
]


def test_valid_examples_are_valid() -> None:
    for kind, valid in VALID.items():
        result = VALIDATOR.validate_json(orjson.dumps(valid))
        assert not isinstance(result, Rejection), (kind, result)


@pytest.mark.parametrize(
    ("kind", "change", "reason", "path"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_broken_rule_is_rejected_with_reason_and_path(
    kind: str, change: Callable[[Event], Any], reason: Reason, path: str
) -> None:
    result = VALIDATOR.validate_json(orjson.dumps(mutate(kind, change)))
    assert isinstance(result, Rejection)
    assert (result.reason, result.path) == (reason, path), result.message
    assert result.message


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", Reason.INVALID_JSON),
        (b'{"event_id": "x", "type": "visit"', Reason.INVALID_JSON),
        (b"\xff\xfe{}", Reason.INVALID_JSON),
        (b"[1, 2]", Reason.NOT_AN_OBJECT),
        (b'"a string"', Reason.NOT_AN_OBJECT),
        (b"null", Reason.NOT_AN_OBJECT),
    ],
)
def test_undecodable_input_is_rejected(raw: bytes, reason: Reason) -> None:
    result = VALIDATOR.validate_json(raw)
    assert isinstance(result, Rejection)
    assert result.reason is reason


def test_money_is_decimal_and_exact() -> None:
    result = VALIDATOR.validate_json(orjson.dumps(VALID["order"]))
    assert isinstance(result, Order)
    assert str(result.revenue()) == "203.00"  # 129.00 + 79.00 - 5.00, no float on the way


def test_batch_message_keeps_good_events_and_rejects_bad_ones() -> None:
    batch = [VALID["visit"], mutate("visit", setter("ts", "2026-05-01T12:00:00")), VALID["order"]]
    results = VALIDATOR.validate_message(orjson.dumps(batch))
    assert [type(r).__name__ for r in results] == ["Visit", "Rejection", "Order"]
    assert results[1].reason is Reason.NAIVE_TIMESTAMP  # type: ignore[union-attr]


def test_rejected_events_change_no_kpi(report: Callable[..., dict[str, Any]]) -> None:
    """All broken events beside a valid baseline: KPIs equal the baseline's, each reason counted."""
    baseline = [order(SMART_STORE, T0 + minutes(i), customer_id=f"c{i % 3}") for i in range(6)]
    baseline += [dict(VALID[kind], event_id=f"valid-{kind}") for kind in VALID]
    broken = [mutate(kind, change) for _, kind, change, _, _ in CASES]
    expected = report(baseline, "--at", "2026-05-02T00:00:00Z")
    result = report(baseline + broken, "--at", "2026-05-02T00:00:00Z")
    assert result["kpis"] == expected["kpis"]
    counts: dict[str, int] = {}
    for *_, reason, _ in CASES:
        counts[reason.value] = counts.get(reason.value, 0) + 1
    assert result["rejected"] == dict(sorted(counts.items()))


@pytest.mark.parametrize("prefix", [b" ", b"\n\t ", b"\xef\xbb\xbf"])
def test_batch_is_recognised_after_whitespace_or_bom(prefix: bytes) -> None:
    results = VALIDATOR.validate_message(prefix + orjson.dumps([VALID["visit"], VALID["order"]]))
    assert [type(r).__name__ for r in results] == ["Visit", "Order"]
