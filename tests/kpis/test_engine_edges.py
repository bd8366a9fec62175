"""Exact edges of the documented semantics (docs/kpis.md), one case each."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
import yaml

from shoppulse.kpis.engine import Engine, EngineSettings, Outcome
from shoppulse.kpis.windows import WINDOWS, Window
from shoppulse.report import run_report
from shoppulse.schemas.events import EVENT_ADAPTER
from shoppulse.schemas.stores import Stores
from tests.builders import PARTY_STORE, SMART_STORE, STORES_YAML, T0, Event, event, item, minutes, order
from tests.kpis.bruteforce import brute_force

STORES = Stores.model_validate(yaml.safe_load(STORES_YAML))


def figures(
    events: list[Event], at: datetime, window: Window = Window.H1, settings: EngineSettings | None = None
) -> dict[tuple[str, str], tuple[float, float]]:
    result = run_report(
        iter(orjson.dumps(e) for e in events), STORES, at=at, window=window, settings=settings
    )
    return {(k.store_id, k.kpi.id): (k.numerator, k.denominator) for k in result.kpis}


@pytest.mark.parametrize(
    ("at_offset", "counted"),
    [
        (minutes(0), False),  # the window [T - 1h, T) ends before the event
        (timedelta(seconds=1), True),  # a window ending inside the event's minute holds that minute
        (minutes(60), True),  # the event sits exactly on the window's start: inside (half-open)
        (minutes(60) + timedelta(seconds=1), False),
    ],
)
def test_windows_are_half_open_at_minute_resolution(at_offset: timedelta, counted: bool) -> None:
    visit = event("visit", PARTY_STORE, T0, visit_id="v")
    assert figures([visit], T0 + at_offset)[(PARTY_STORE, "tool_time_per_visit")][1] == (1 if counted else 0)


@pytest.mark.parametrize(
    ("at", "repeat"),
    [
        (T0 + minutes(60), 1),  # 10:00 and 10:30 both inside [10:00, 11:00)
        (T0 + minutes(61), 0),  # [10:01, 11:01) holds only the second order
    ],
)
def test_repeat_customer_needs_both_orders_inside_the_window(at: datetime, repeat: int) -> None:
    orders = [order(SMART_STORE, T0, customer_id="c"), order(SMART_STORE, T0 + minutes(30), customer_id="c")]
    assert figures(orders, at)[(SMART_STORE, "repeat_purchase_retention")] == (repeat, 1)


@pytest.mark.parametrize(
    ("gap", "converted"),
    [
        (timedelta(0), 1),  # an order in the same second as the consultation is "at or after" it
        (timedelta(seconds=-1), 0),  # an order before the consultation does not convert it
        (timedelta(minutes=10) - timedelta(seconds=1), 1),
        (timedelta(minutes=10), 0),  # attribution is half-open too: [k, k + A)
    ],
)
def test_conversion_attribution_edges(gap: timedelta, converted: int) -> None:
    settings = EngineSettings(attribution=timedelta(minutes=10))
    history = [
        event("consultation", SMART_STORE, T0 + minutes(5), customer_id="c", consultation_id="q"),
        order(SMART_STORE, T0 + minutes(5) + gap, customer_id="c"),
    ]
    at = T0 + minutes(30)
    assert figures(history, at, settings=settings)[(SMART_STORE, "consultation_conversion")] == (converted, 1)


@pytest.mark.parametrize(("delivered", "on_time"), [(minutes(0), 1), (timedelta(seconds=1), 0), (None, 0)])
def test_on_time_means_at_or_before_the_promise(delivered: timedelta | None, on_time: int) -> None:
    promise = T0 + minutes(20)
    history = [order(PARTY_STORE, T0, order_id="o", promised_delivery_at=promise.isoformat())]
    if delivered is not None:
        history.append(event("delivery", PARTY_STORE, promise + delivered, order_id="o"))
    assert figures(history, T0 + minutes(50))[(PARTY_STORE, "on_time_delivery")] == (on_time, 1)


def test_undelivered_order_counts_late_from_its_promise_not_before() -> None:
    promise = T0 + minutes(20)
    history = [order(PARTY_STORE, T0, order_id="o", promised_delivery_at=promise.isoformat())]
    assert figures(history, promise)[(PARTY_STORE, "on_time_delivery")] == (0, 0)  # not due yet
    assert figures(history, promise + minutes(1))[(PARTY_STORE, "on_time_delivery")] == (0, 1)


def test_delivery_promise_overrides_the_orders() -> None:
    history = [
        order(PARTY_STORE, T0, order_id="o", promised_delivery_at=(T0 + minutes(10)).isoformat()),
        event(
            "delivery",
            PARTY_STORE,
            T0 + minutes(30),
            order_id="o",
            promised_at=(T0 + minutes(40)).isoformat(),
        ),
    ]
    assert figures(history, T0 + minutes(45))[(PARTY_STORE, "on_time_delivery")] == (1, 1)


def test_second_order_with_known_order_id_is_the_same_order() -> None:
    first = order(SMART_STORE, T0, order_id="o", items=[item(price="10.00")])
    again = order(SMART_STORE, T0 + minutes(1), order_id="o", items=[item(price="99.00")])
    for history in ([first, again], [again, first]):
        assert figures(history, T0 + minutes(30))[(SMART_STORE, "aov")] == (10, 1)


def test_duplicate_and_late_events_are_reported_and_ignored() -> None:
    engine = Engine(STORES.by_id())
    visit = EVENT_ADAPTER.validate_python(
        event("visit", PARTY_STORE, T0 + timedelta(days=40), visit_id="v"), strict=False
    )
    old = EVENT_ADAPTER.validate_python(
        event("visit", PARTY_STORE, T0 + timedelta(days=9), visit_id="w"), strict=False
    )
    assert engine.apply(visit) is Outcome.APPLIED
    assert engine.apply(visit) is Outcome.DUPLICATE
    assert engine.apply(old) is Outcome.LATE  # 31 days older than the newest event


@pytest.mark.parametrize("arrival", ["newest first", "newest last"])
def test_an_order_is_late_by_its_own_time_not_by_a_promise_behind_the_windows(arrival: str) -> None:
    """An order placed inside the windows counts there, in whatever order it arrives,
    even when its promise lies more than the longest window behind the newest event."""
    now = T0 + timedelta(days=40)
    recent = order(SMART_STORE, now, order_id="new", items=[item(price="100.00")])
    odd = order(
        SMART_STORE,
        now - minutes(5),
        order_id="odd",
        items=[item(price="40.00")],
        promised_delivery_at=T0.isoformat(),  # 40 days before it was placed
    )
    history = [recent, odd] if arrival == "newest first" else [odd, recent]
    assert figures(history, now + minutes(1), Window.H24)[(SMART_STORE, "aov")] == (140, 2)


def test_a_delivery_promising_behind_the_windows_takes_its_order_out_of_them() -> None:
    """A delivery's promise overrides its order's, even one that no window reaches any
    more: the order is then due there, not inside the windows, and is counted nowhere."""
    now = T0 + timedelta(days=40)
    history = [
        order(
            PARTY_STORE, now - minutes(50), order_id="o", promised_delivery_at=(now - minutes(30)).isoformat()
        ),
        event("delivery", PARTY_STORE, now - minutes(20), order_id="o", promised_at=T0.isoformat()),
    ]
    assert figures(history[:1], now)[(PARTY_STORE, "on_time_delivery")] == (0, 1)  # due, undelivered
    assert figures(history, now)[(PARTY_STORE, "on_time_delivery")] == (0, 0)


def test_quiet_store_windows_move_on() -> None:
    engine = Engine(STORES.by_id())
    engine.apply(EVENT_ADAPTER.validate_python(order(SMART_STORE, T0), strict=False))
    by_window = {
        k.window: k.denominator
        for k in engine.snapshot(T0 + timedelta(days=1, minutes=1))
        if k.kpi.id == "aov" and k.store_id == SMART_STORE
    }
    assert by_window == {Window.H1: 0, Window.H24: 0, Window.D7: 1, Window.D30: 1}


def test_long_history_with_daily_sweeps_matches_brute_force() -> None:
    """90 days arriving up to 25 days late, with live snapshots on the way: old state is
    folded and pruned, late arrivals land behind snapshots, the last 30 days stay exact."""
    rng = random.Random(7)
    history: list[dict[str, Any]] = []
    for day in range(90, 180):
        for _ in range(12):
            at = T0 + timedelta(days=day, minutes=rng.randrange(24 * 60))
            c = f"c{rng.randrange(15)}"
            store = rng.choice([SMART_STORE, PARTY_STORE])
            pick = rng.random()
            if pick < 0.4:
                history.append(
                    order(
                        store,
                        at,
                        customer_id=c,
                        visit_id=f"v{rng.randrange(15)}",
                        items=[item(rng.choice(["hub", "camera"]), personalized=rng.random() < 0.5)],
                        promised_delivery_at=(at + timedelta(days=rng.randrange(3))).isoformat(),
                    )
                )
            elif pick < 0.6:
                history.append(event("consultation", SMART_STORE, at, customer_id=c, consultation_id="q"))
            elif pick < 0.8:
                history.append(
                    event(
                        "tool_session",
                        PARTY_STORE,
                        at,
                        visit_id=f"v{rng.randrange(15)}",
                        duration_seconds=60,
                        **({"customer_id": c} if rng.random() < 0.5 else {}),
                    )
                )
            else:
                history.append(event("visit", PARTY_STORE, at, visit_id=f"v{rng.randrange(15)}"))
    # Arrival order: event time plus a delay of up to 25 days (inside the 30-day lateness).
    delays = {id(e): timedelta(days=rng.random() * 25 if rng.random() < 0.3 else 0) for e in history}
    arrival = sorted(history, key=lambda e: datetime.fromisoformat(e["ts"]) + delays[id(e)])
    end = T0 + timedelta(days=180, minutes=1)
    engine = Engine(STORES.by_id())
    for number, raw in enumerate(arrival):
        assert engine.apply(EVENT_ADAPTER.validate_python(raw, strict=False)) is Outcome.APPLIED
        if number % 50 == 0:  # a scrape at the newest event time folds every series up to it
            assert engine.watermark is not None
            engine.snapshot(datetime.fromtimestamp(engine.watermark, T0.tzinfo))
    assert engine.size()["customers"] <= 30  # swept: bounded by the pool, not the 90 days
    got = {(k.store_id, k.kpi.id, k.window): (k.numerator, k.denominator) for k in engine.snapshot(end)}
    for store, vertical in ((SMART_STORE, "smart_home"), (PARTY_STORE, "party_favors")):
        for window in WINDOWS:
            for kpi_id, (num, den) in brute_force(history, store, vertical, end, window.minutes).items():
                assert got[(store, kpi_id, window)] == (pytest.approx(float(num)), float(den)), (
                    kpi_id,
                    window,
                )
