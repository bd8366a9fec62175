"""The fourteen worked examples of the seed documents, through `shoppulse report`.

Each case writes the events the example describes as JSON lines, runs the command as
a subprocess and checks value, numerator and denominator exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.builders import PARTY_STORE, SMART_STORE, T0, Event, event, item, minutes, order
from tests.conftest import kpi


def smart_aov() -> list[Event]:
    # $10,000 from 200 orders: 100 orders of $30 and 100 of $70.
    return [
        order(SMART_STORE, T0 + minutes(i), items=[item(price="30.00" if i % 2 else "70.00")])
        for i in range(200)
    ]


def consultation_conversion() -> list[Event]:
    events = [
        event("consultation", SMART_STORE, T0 + minutes(i), customer_id=f"c{i}", consultation_id=f"q{i}")
        for i in range(150)
    ]
    # 50 of them order afterwards; 10 others ordered only *before* consulting (not converted).
    events += [order(SMART_STORE, T0 + minutes(200 + i), customer_id=f"c{i}") for i in range(50)]
    events += [order(SMART_STORE, T0 - minutes(5), customer_id=f"c{i}") for i in range(50, 60)]
    return events


def repeat_purchase_retention() -> list[Event]:
    events = [order(SMART_STORE, T0 + minutes(i), customer_id=f"c{i}") for i in range(500)]
    events += [order(SMART_STORE, T0 + minutes(600 + i), customer_id=f"c{i}") for i in range(300)]
    return events


def installation_uptake() -> list[Event]:
    install = item("service", "79.00", service="installation")
    return [
        order(SMART_STORE, T0 + minutes(i), items=[item("camera"), install] if i < 200 else [item("camera")])
        for i in range(500)
    ]


def support_satisfaction() -> list[Event]:
    ratings = [5] * 50 + [4] * 30 + [3] * 10 + [1] * 10
    return [
        event("support_rating", SMART_STORE, T0 + minutes(i), ticket_id=f"t{i}", rating=r)
        for i, r in enumerate(ratings)
    ]


def content_engagement() -> list[Event]:
    events = [
        event("content_view", SMART_STORE, T0 + minutes(i % 600), content_id=f"guide-{i % 7}")
        for i in range(10_000)
    ]
    for count, interaction in ((500, "like"), (150, "share"), (100, "comment")):
        events += [
            event(
                "content_interaction",
                SMART_STORE,
                T0 + minutes(i),
                content_id="guide-1",
                interaction=interaction,
            )
            for i in range(count)
        ]
    return events


def cross_sell() -> list[Event]:
    events = []
    for i in range(500):
        items = (
            [item("hub"), item("lighting")] if i < 200 else [item("hub"), item("service", service="setup")]
        )
        events.append(order(SMART_STORE, T0 + minutes(i), customer_id=f"c{i}", items=items))
    return events


def party_aov() -> list[Event]:
    return [
        order(PARTY_STORE, T0 + minutes(i), items=[item("favor", "12.50", quantity=4, personalized=True)])
        for i in range(200)
    ]


def personalization_conversion() -> list[Event]:
    events = []
    for i in range(500):
        signed_in = {"customer_id": f"c{i}"} if i % 2 else {}
        events.append(
            event(
                "tool_session",
                PARTY_STORE,
                T0 + minutes(i),
                visit_id=f"v{i}",
                duration_seconds=90,
                **signed_in,
            )
        )
    # 100 convert: half by customer (on a later visit), half by the same visit (guest checkout).
    for i in range(100):
        link = {"customer_id": f"c{i}", "visit_id": f"later-{i}"} if i % 2 else {"visit_id": f"v{i}"}
        events.append(order(PARTY_STORE, T0 + minutes(600 + i), **link))
    return events


def repeat_customer_rate() -> list[Event]:
    personal = [item("favor", "3.00", quantity=10, personalized=True)]
    events = [order(PARTY_STORE, T0 + minutes(i), customer_id=f"c{i}", items=personal) for i in range(100)]
    events += [
        order(PARTY_STORE, T0 + minutes(200 + i), customer_id=f"c{i}", items=personal) for i in range(40)
    ]
    # A plain (not personalised) second order does not make a repeat personalised customer.
    events += [
        order(PARTY_STORE, T0 + minutes(300 + i), customer_id=f"c{i}", items=[item("balloon")])
        for i in range(40, 60)
    ]
    return events


def tool_time_per_visit() -> list[Event]:
    # 20,000 minutes of tool time over 10,000 visits = 2 minutes (120 s) per visit.
    events = [event("visit", PARTY_STORE, T0 + minutes(i % 1000), visit_id=f"v{i}") for i in range(10_000)]
    events += [
        event("tool_session", PARTY_STORE, T0 + minutes(i % 1000), visit_id=f"v{i}", duration_seconds=240)
        for i in range(5_000)
    ]
    return events


def personalization_error_rate() -> list[Event]:
    return [
        event(
            "production_qc",
            PARTY_STORE,
            T0 + minutes(i),
            order_id=f"o{i}",
            items_checked=50,
            items_with_errors=3 if i < 5 else (2 if i < 10 else 0),
        )
        for i in range(10)
    ]


def customer_satisfaction() -> list[Event]:
    ratings = [5] * 60 + [4] * 20 + [2] * 20
    return [
        event("survey_response", PARTY_STORE, T0 + minutes(i), response_id=f"r{i}", rating=r)
        for i, r in enumerate(ratings)
    ]


def on_time_delivery() -> list[Event]:
    events = []
    for i in range(100):
        promised = T0 + minutes(1000 + i)
        events.append(
            order(PARTY_STORE, T0 + minutes(i), order_id=f"o{i}", promised_delivery_at=promised.isoformat())
        )
        if i < 80:
            events.append(event("delivery", PARTY_STORE, promised - minutes(30), order_id=f"o{i}"))
        elif i < 90:
            events.append(event("delivery", PARTY_STORE, promised + minutes(90), order_id=f"o{i}"))
        # the last 10 are never delivered: late from their promised time on
    return events


CASES: list[tuple[str, str, Callable[[], list[Event]], float, float, float]] = [
    # (store, kpi, events, numerator, denominator, value)
    (SMART_STORE, "aov", smart_aov, 10_000, 200, 50),
    (SMART_STORE, "consultation_conversion", consultation_conversion, 50, 150, 50 / 150),
    (SMART_STORE, "repeat_purchase_retention", repeat_purchase_retention, 300, 500, 0.6),
    (SMART_STORE, "installation_uptake", installation_uptake, 200, 500, 0.4),
    (SMART_STORE, "support_satisfaction", support_satisfaction, 80, 100, 0.8),
    (SMART_STORE, "content_engagement", content_engagement, 750, 10_000, 0.075),
    (SMART_STORE, "cross_sell", cross_sell, 200, 500, 0.4),
    (PARTY_STORE, "aov", party_aov, 10_000, 200, 50),
    (PARTY_STORE, "personalization_conversion", personalization_conversion, 100, 500, 0.2),
    (PARTY_STORE, "repeat_customer_rate", repeat_customer_rate, 40, 100, 0.4),
    (PARTY_STORE, "tool_time_per_visit", tool_time_per_visit, 1_200_000, 10_000, 120),
    (PARTY_STORE, "personalization_error_rate", personalization_error_rate, 25, 500, 0.05),
    (PARTY_STORE, "customer_satisfaction", customer_satisfaction, 80, 100, 0.8),
    (PARTY_STORE, "on_time_delivery", on_time_delivery, 80, 100, 0.8),
]


@pytest.mark.parametrize(
    ("store", "kpi_id", "build", "numerator", "denominator", "value"),
    CASES,
    ids=[f"{c[0]}-{c[1]}" for c in CASES],
)
def test_seed_worked_example(
    report: Callable[..., dict[str, Any]],
    store: str,
    kpi_id: str,
    build: Callable[[], list[Event]],
    numerator: float,
    denominator: float,
    value: float,
) -> None:
    result = report(build(), "--at", "2026-05-03T00:00:00Z")
    found = kpi(result, store, kpi_id)
    assert (found["numerator"], found["denominator"], found["value"]) == (numerator, denominator, value)
    assert result["rejected"] == {}


def test_default_at_is_end_of_latest_events_hour(report: Callable[..., dict[str, Any]]) -> None:
    result = report(smart_aov())
    # the last order is at 03:19 on May 1st: the window ends at 04:00
    assert result["at"] == "2026-05-01T04:00:00Z"
    assert kpi(result, SMART_STORE, "aov")["value"] == 50
