"""Entities' fast paths against their reference: ``receive`` must give exactly the change
``receive_full`` gives (steps after minus steps before), whatever the arrival order.

Hypothesis draws short histories of messages for one order, customer or visit, on a
grid of times that falls on window edges (an hour, a day, a week, 30 days apart) and
shares minutes and seconds, so ties and edges are frequent. Each message goes to the
entity and to a copy that takes the full recompute; changes, forwards and the state
that follows must agree, and the changes must add up to ``steps`` of the final state.
"""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoppulse.kpis.contributions import DEN, NUM, Steps, merge_into
from shoppulse.kpis.entities import Context, CustomerState, OrderState, VisitState, _Entity
from shoppulse.kpis.messages import Consulted, Delivered, Message, OrderInVisit, PlacedOrder, UsedTool
from shoppulse.kpis.store_series import StoreSeries
from shoppulse.schemas.stores import Vertical

T0 = 1_777_593_600  # 2026-05-01T00:00:00Z
HOUR = 3600
# Hours an hour, a day, a week and 30 days apart (the windows), and seconds around a
# minute apart (the attribution of 60 s, and minutes shared or not).
times = st.builds(
    lambda h, s: T0 + h * HOUR + s,
    st.sampled_from([0, 1, 24, 25, 168, 169, 720, 721]),
    st.sampled_from([0, 1, 59, 60, 61, 119, 120]),
)
order_ids = st.sampled_from(["o1", "o2", "o3", "o4"])
event_ids = st.sampled_from(["e1", "e2", "e3", "e4", "e5", "e6"])
contexts = st.builds(
    Context,
    st.sampled_from(list(Vertical)),
    st.sampled_from([60, HOUR, 24 * HOUR, 30 * 24 * HOUR]),  # attribution seconds, on the grid
)


placed = st.builds(
    lambda oid, ts, eid, flags, revenue, promised: PlacedOrder(
        oid, (ts, eid, flags, revenue, None if promised is None else ts + promised)
    ),
    order_ids,
    times,
    event_ids,
    st.integers(0, 15),
    st.integers(0, 10_000),
    st.one_of(st.none(), st.sampled_from([-HOUR, 0, HOUR, 3 * 24 * HOUR])),
)
in_visit = st.builds(OrderInVisit, order_ids, times, event_ids)
consulted = st.builds(Consulted, times)
delivered = st.builds(Delivered, times, event_ids, st.one_of(st.none(), times))
used_tool = st.builds(UsedTool, times, st.one_of(st.none(), st.sampled_from(["c1", "c2", "c3"])))

MESSAGES: dict[type[_Entity], st.SearchStrategy[Message]] = {
    OrderState: st.one_of(placed, delivered),
    CustomerState: st.one_of(placed, in_visit, consulted, st.builds(UsedTool, times, st.none())),
    VisitState: st.one_of(in_visit, used_tool),
}


def message_time(message: Message) -> int:
    return message.fact[0] if isinstance(message, PlacedOrder) else message.ts


def nonzero(steps: Steps) -> Steps:
    return {key: amount for key, amount in steps.items() if amount}


def state(entity: _Entity) -> dict[str, Any]:
    return {name: getattr(entity, name) for name in type(entity).__slots__}


def replay(kind: type[_Entity], messages: list[Message], ctx: Context) -> tuple[int, int]:
    """Deliver ``messages`` through ``receive`` and, on a copy, ``receive_full``; check they
    agree at every step. Returns (fast path taken, messages)."""
    entity, reference = kind(), kind()
    total: Steps = {}
    fast = 0
    for message in messages:
        fast += type(entity)._receive_fast(copy.deepcopy(entity), message, ctx) is not None
        change = entity.receive(message, ctx)
        expected = reference.receive_full(message, ctx)
        assert change.changed == expected.changed, message
        assert nonzero(change.steps) == nonzero(expected.steps), message
        assert change.forwards == expected.forwards, message
        assert state(entity) == state(reference), message
        merge_into(total, change.steps)
    assert nonzero(total) == nonzero(entity.steps(ctx))
    return fast, len(messages)


SETTINGS = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def histories(draw: st.DrawFn) -> tuple[type[_Entity], list[Message], Context]:
    kind = draw(st.sampled_from([OrderState, CustomerState, VisitState]))
    messages = draw(st.lists(MESSAGES[kind], min_size=1, max_size=20))
    rng = draw(st.randoms(use_true_random=False))
    arrival = draw(st.sampled_from(["time", "nearly", "random"]))
    messages += [rng.choice(messages) for _ in range(rng.randrange(3))]  # replays
    if arrival == "time":
        messages.sort(key=message_time)
    elif arrival == "nearly":
        messages.sort(key=lambda m: message_time(m) + rng.choice([0, 0, 0, -HOUR, 24 * HOUR]))
    else:
        rng.shuffle(messages)
    return kind, messages, draw(contexts)


@SETTINGS
@given(histories())
def test_receive_gives_the_full_recompute(case: tuple[type[_Entity], list[Message], Context]) -> None:
    replay(*case)


@pytest.mark.parametrize("vertical", list(Vertical))
@pytest.mark.parametrize("kind", [CustomerState, VisitState])
def test_time_ordered_messages_take_the_fast_path(kind: type[_Entity], vertical: Vertical) -> None:
    """In time order, with distinct times and one version per order, no full recompute."""
    rng = random.Random(1)
    stamps = sorted(rng.sample(range(T0, T0 + 40 * 24 * HOUR, 37), 300))
    messages: list[Message] = []
    for i, ts in enumerate(stamps):
        choice = rng.randrange(4)
        if choice == 0 and kind is CustomerState:
            messages.append(PlacedOrder(f"o{i}", (ts, f"e{i}", rng.randrange(16), 100, None)))
        elif choice == 1:
            messages.append(OrderInVisit(f"o{i}", ts, f"e{i}"))
        elif choice == 2 and kind is CustomerState:
            messages.append(Consulted(ts))
        else:
            messages.append(UsedTool(ts, rng.choice([None, "c1"]) if kind is VisitState else None))
    fast, count = replay(kind, messages, Context(vertical, 30 * 24 * HOUR))
    assert fast == count


@pytest.mark.parametrize("kind", [CustomerState, VisitState])
def test_conversions_at_any_time_take_the_fast_path(kind: type[_Entity]) -> None:
    """A visit tells a signed-in tool user of its earlier orders (a guest checkout): those
    arrive after newer sessions and orders, and still need no full recompute."""
    ctx = Context(Vertical.PARTY_FAVORS, 30 * 24 * HOUR)
    tools = [UsedTool(T0 + h * HOUR, None) for h in (0, 30, 200)]
    late = [OrderInVisit(f"v{h}", T0 + h * HOUR + 5, f"e{h}") for h in (250, 100, 2, 40, 31, 700, 1)]
    fast, count = replay(kind, [*tools, *late], ctx)
    assert (fast, count) == (len(tools) + len(late), len(tools) + len(late))


@pytest.mark.parametrize("vertical", list(Vertical))
@pytest.mark.parametrize(
    "promised",
    [None, T0 + HOUR, T0 + 30],  # the order's promise kept, moved later, or moved before delivery
)
def test_new_orders_and_their_first_delivery_take_the_fast_path(
    vertical: Vertical, promised: int | None
) -> None:
    ctx = Context(vertical, 30 * 24 * HOUR)
    order = PlacedOrder("o", (T0, "e1", 0, 100, T0 + HOUR))
    fast, count = replay(OrderState, [order, Delivered(T0 + 60, "e2", promised)], ctx)
    assert (fast, count) == (2, 2)
    fast, count = replay(
        OrderState, [order, Delivered(T0 + 60, "e2", None), Delivered(T0 + 61, "e3", None)], ctx
    )
    assert (fast, count) == (2, 3)  # a second delivery: full recompute


ORDER_POINTS = [
    (kpi, part) for kpi in ("aov", "installation_uptake", "on_time_delivery") for part in (NUM, DEN)
]


@settings(max_examples=300, deadline=None)
@given(placed, contexts, st.integers(-3, 3), st.booleans())
def test_placing_a_new_order_adds_the_steps_receive_gives(
    message: PlacedOrder, ctx: Context, cursor_hours: int, known_lines: bool
) -> None:
    """``OrderState.place`` (the engine's way with a new order) keeps what ``receive`` keeps
    and adds to the series what ``receive``'s steps add: into new series, or into series
    whose windows have moved already (to before, at or after the order's minute)."""
    placed_series, received_series = StoreSeries(ctx.widths), StoreSeries(ctx.widths)
    cutoff = (message.fact[0] + cursor_hours * HOUR) // 60
    for series in (placed_series, received_series):
        if known_lines:
            for kpi, part in ORDER_POINTS:
                series.point_line(kpi, part)
        series.fold(cutoff)
    placed_order, received_order = OrderState(), OrderState()
    placed_order.place(message.fact, ctx, placed_series)
    received_series.apply(received_order.receive(message, ctx).steps)
    assert state(placed_order) == state(received_order)
    for kpi, part in ORDER_POINTS:
        for width in ctx.widths:
            for later in (0, 1, width, width + 1):
                got = placed_series.component(kpi, part, width, cutoff + later)
                assert got == received_series.component(kpi, part, width, cutoff + later), (kpi, part)
