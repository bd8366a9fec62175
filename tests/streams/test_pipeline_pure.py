"""The three stages wired in-process (no Kafka), against the reference engine.

Partitions and offsets are simulated: each stage reads its partitions' queues in
order, as a worker would. This isolates the stages' logic from Faust's plumbing.
"""

from __future__ import annotations

import random
from collections import deque
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import yaml

from shoppulse.kpis.contributions import DEN, NUM
from shoppulse.kpis.engine import Engine
from shoppulse.kpis.windows import WINDOWS, cutoff_minute
from shoppulse.schemas.events import EVENT_ADAPTER
from shoppulse.schemas.stores import Stores
from shoppulse.streams.codec import step_batch_from_wire, step_batch_to_wire
from shoppulse.streams.joins import JoinStage, SeenIndex
from shoppulse.streams.ledger import Ledger
from shoppulse.streams.router import Routed, Router, partition_for
from tests.builders import SMART_STORE, STORES_YAML, event, item, order
from tests.kpis.test_seed_examples import CASES

STORES = Stores.model_validate(yaml.safe_load(STORES_YAML)).by_id()
PARTITIONS = 4


def run_pipeline(messages: list[bytes], now: float, rng: random.Random, cache_size: int = 50_000) -> Ledger:
    router = Router(STORES, PARTITIONS, clock=lambda: now)
    joins = JoinStage(STORES, PARTITIONS, cache_size=cache_size)
    keyed: list[deque[bytes]] = [deque() for _ in range(PARTITIONS)]
    keyed_offsets = [0] * PARTITIONS
    store_steps: list[deque[bytes]] = [deque() for _ in range(PARTITIONS)]
    entities: dict[str, bytes] = {}
    ledger = Ledger()
    routed = Routed()
    for raw in messages:
        router.route_message(raw, 0, routed)
    for partition, items in routed.items.items():
        keyed[partition].append(orjson.dumps(items))
    while any(keyed) or any(store_steps):
        queues = [p for p in range(PARTITIONS) if keyed[p]]
        if queues:  # stage two: one message of a random partition, in partition order
            p = rng.choice(queues)
            joined = joins.handle(orjson.loads(keyed[p].popleft()), entities.get)
            source = (p, keyed_offsets[p])
            keyed_offsets[p] += 1
            for store, steps in joined.steps.items():
                store_steps[partition_for(store, PARTITIONS)].append(
                    step_batch_to_wire(source, store, steps, 0)
                )
            for target, items in joined.forwards.items():
                keyed[target].append(orjson.dumps(items))
            entities.update(joined.entity_writes)
            joins.remember({})
        for queue in store_steps:  # stage three
            while queue:
                source, store, steps, _ = step_batch_from_wire(queue.popleft())
                ledger.apply(store, steps, source)
    return ledger


@pytest.mark.parametrize("cache_size", [50_000, 1], ids=["cached", "reloaded"])
@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_seed_example_through_the_stages(case: tuple[Any, ...], cache_size: int) -> None:
    """With a cache of one entity, nearly every entity is decoded again from its table
    value between messages: the state survives its own encoding."""
    store, kpi_id, build, numerator, denominator, _ = case
    events = build()
    at = datetime(2026, 5, 3, tzinfo=UTC)
    rng = random.Random(1)
    messages = [orjson.dumps(e) for e in events]
    ledger = run_pipeline(messages, at.timestamp(), rng, cache_size)
    engine = Engine(STORES)
    for e in events:
        engine.apply(EVENT_ADAPTER.validate_python(e, strict=False))
    cutoff = cutoff_minute(at)
    expected = {
        (k.kpi.id, k.window.label): (k.numerator, k.denominator)
        for k in engine.snapshot(at)
        if k.store_id == store
    }
    series = ledger.stores[store]
    for window in WINDOWS:
        num = series.component(kpi_id, NUM, window.minutes, cutoff)
        den = series.component(kpi_id, DEN, window.minutes, cutoff)
        want_num, want_den = expected[(kpi_id, window.label)]
        assert den == want_den, window
        assert num / scale(store, kpi_id) == want_num, window
    assert expected[(kpi_id, "30d")] == (numerator, denominator)


def scale(store: str, kpi_id: str) -> int:
    """The engine counts cents and milliseconds; KPI figures are in base units."""
    if kpi_id == "aov":
        return 10 ** STORES[store].minor_unit_exponent
    return 1000 if kpi_id == "tool_time_per_visit" else 1


def test_ids_of_a_batch_in_flight_survive_a_rebalance() -> None:
    """A rebalance rebuilds the seen index while a batch awaits its sends. The ids that
    batch is about to write must still count as seen, or a replay counts them twice."""
    now = datetime(2026, 5, 3, tzinfo=UTC)
    rating = event("support_rating", SMART_STORE, datetime(2026, 5, 2, tzinfo=UTC), ticket_id="t1", rating=5)
    routed = Routed()
    Router(STORES, PARTITIONS, clock=lambda: now.timestamp()).route_message(orjson.dumps(rating), 0, routed)
    (items,) = [items for items in routed.items.values() if items[0][0] == "s"]
    joins = JoinStage(STORES, PARTITIONS)
    first = joins.handle(items, {}.get)
    joins.reset([])  # the rebalance: the table holds no record of the batch yet
    replay = joins.handle(items, {}.get)
    joins.remember({"3:0": first.seen_writes})  # the batch writes its record
    joins.reset([("3:0", orjson.dumps(first.seen_writes))])  # and the next rebalance reads it
    again = joins.handle(items, {}.get)
    assert (first.duplicates, replay.duplicates, again.duplicates) == (0, 1, 1)
    assert first.steps
    assert replay.steps == again.steps == {}


def test_seen_index_holds_exactly_the_ids_added_across_splits() -> None:
    index = SeenIndex()
    ids = [f"evt-{n}" for n in range(5 * SeenIndex.BUCKET)]  # enough for three splits
    assert all(index.add(event_id, 20_000) for event_id in ids)
    assert len(index.highs) == 8
    assert len(index) == len(ids)
    assert not any(index.add(event_id, 20_000) for event_id in ids)  # each id once
    assert all(event_id in index for event_id in ids)
    assert not any(f"other-{n}" in index for n in range(len(ids)))
    for bucket, highs in enumerate(index.highs):  # sorted, and each hash in its own bucket
        assert list(highs) == sorted(highs)
        assert all(high >> index.shift == bucket for high in highs)


def test_seen_index_survives_a_rebuild_from_its_records() -> None:
    joins = JoinStage(STORES, PARTITIONS)
    records = [
        ("0:10", orjson.dumps({f"a-{n}": 20_000 for n in range(700)})),
        ("1:4", orjson.dumps({"b": 20_001, "a-3": 20_000})),
    ]
    joins.reset(records)
    assert len(joins.seen) == 701
    assert "a-699" in joins.seen
    assert "b" in joins.seen
    assert "c" not in joins.seen


def test_seen_index_forgets_the_ids_of_old_days_only() -> None:
    index = SeenIndex()
    ids = {f"evt-{n}": 20_000 + n % 3 for n in range(5 * SeenIndex.BUCKET)}  # days 20,000 to 20,002
    for event_id, day in ids.items():
        index.add(event_id, day)
    assert index.forget_before(20_001) == sum(day == 20_000 for day in ids.values())
    assert len(index) == sum(day > 20_000 for day in ids.values())
    assert all((event_id in index) == (day > 20_000) for event_id, day in ids.items())
    for bucket, highs in enumerate(index.highs):  # still sorted, days still beside their hashes
        assert list(highs) == sorted(highs)
        assert len(index.lows[bucket]) == len(index.days[bucket]) == len(highs)
        assert min(index.days[bucket], default=20_001) >= 20_001
    assert index.forget_before(20_001) == 0
    forgotten = [f"evt-{n}" for n in range(0, 5 * SeenIndex.BUCKET, 3)]  # day 20,000's
    assert all(index.add(event_id, 20_005) for event_id in forgotten)  # new again


def test_old_seen_records_are_named_for_deletion_and_kept_ones_stay_seen() -> None:
    joins = JoinStage(STORES, PARTITIONS)
    joins.reset(
        [("0:10", orjson.dumps({"old": 100, "older": 99})), ("1:4", orjson.dumps({"mixed": 100, "new": 102}))]
    )
    joins.seen.add("newest", 103)  # as a batch's handle adds it, and then writes its record
    joins.remember({"2:7": {"newest": 103}})
    assert joins.forget_before(101) == ["0:10"]  # "1:4" still holds an id of day 102
    assert ("old" in joins.seen, "mixed" in joins.seen, "new" in joins.seen, "newest" in joins.seen) == (
        False, False, True, True,
    )  # fmt: skip
    assert joins.forget_before(101) == []
    assert sorted(joins.forget_before(104)) == ["1:4", "2:7"]
    assert len(joins.seen) == 0


@pytest.mark.parametrize("cache_size", [50_000, 1], ids=["cached", "evicted"])
def test_an_entity_changed_in_a_batch_is_not_reloaded_stale(cache_size: int) -> None:
    """Within a batch (no ``remember``) the table holds none of the batch's changes: an
    entity evicted mid-batch comes back from the batch's own writes, not the table."""
    now = datetime(2026, 5, 3, tzinfo=UTC)
    router = Router(STORES, PARTITIONS, clock=lambda: now.timestamp())
    messages = []
    for n, (customer, minute) in enumerate([("c1", 0), ("c2", 1), ("c1", 2), ("c3", 3), ("c1", 4)]):
        at = datetime(2026, 5, 2, 12, minute, tzinfo=UTC)
        placed = order(SMART_STORE, at, order_id=f"o{n}", customer_id=customer, items=[item("hub")])
        routed = Routed()
        router.route_message(orjson.dumps(placed), 0, routed)
        messages.append([i for items in routed.items.values() for i in items if i[0] == "m"])
    joins = JoinStage(STORES, PARTITIONS, cache_size=cache_size)
    steps: dict[Any, int] = {}
    for items in messages:  # one batch: nothing is written to the (empty) table
        for store_steps in joins.handle(items, {}.get).steps.values():
            for key, amount in store_steps.items():
                steps[key] = steps.get(key, 0) + amount
    customer = joins.unwritten["1|hometech-haven|c1"]
    assert len(orjson.loads(customer)[0]) == 3  # three orders, none lost to an eviction
    reference = JoinStage(STORES, PARTITIONS, cache_size=50_000)
    expected: dict[Any, int] = {}
    for items in messages:
        for store_steps in reference.handle(items, {}.get).steps.values():
            for key, amount in store_steps.items():
                expected[key] = expected.get(key, 0) + amount
    assert {k: v for k, v in steps.items() if v} == {k: v for k, v in expected.items() if v}
