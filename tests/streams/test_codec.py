"""Entities and messages survive the trip through bytes unchanged."""

from __future__ import annotations

import random
import tracemalloc
from datetime import timedelta

import orjson
import yaml

from shoppulse.kpis.contributions import merge_into
from shoppulse.kpis.engine import Engine
from shoppulse.kpis.entities import Context
from shoppulse.kpis.messages import Consulted, Delivered, Kind, OrderInVisit, PlacedOrder, UsedTool
from shoppulse.schemas.events import EVENT_ADAPTER
from shoppulse.schemas.stores import Stores
from shoppulse.streams.codec import (
    changelog_key,
    compact,
    decode_entity,
    encode_entity,
    entity_key,
    merge_wire_into,
    message_from_wire,
    message_to_wire,
    parse_entity_key,
    steps_from_wire,
    steps_to_wire,
)
from tests.builders import PARTY_STORE, SMART_STORE, STORES_YAML, T0, event, item, order

STORES = Stores.model_validate(yaml.safe_load(STORES_YAML)).by_id()


def test_messages_round_trip() -> None:
    for message in (
        PlacedOrder("o|1", (1, "e", 3, 1999, None)),
        PlacedOrder("o2", (1, "e", 3, 1999, 99)),
        OrderInVisit("o", 5, "e"),
        Delivered(5, "e", None),
        Consulted(7),
        UsedTool(8, "c|1"),
        UsedTool(8, None),
    ):
        assert message_from_wire(message_to_wire(message)) == message


def test_entity_keys_round_trip_with_separators_in_ids() -> None:
    assert parse_entity_key(entity_key(Kind.VISIT, "store-1", "v|x|y")) == (Kind.VISIT, "store-1", "v|x|y")


def test_entities_round_trip_with_their_steps() -> None:
    rng = random.Random(3)
    engine = Engine(STORES)
    for i in range(400):
        at = T0 + timedelta(minutes=rng.randrange(5000))
        c, v = f"c{rng.randrange(8)}", f"v{rng.randrange(8)}"
        store = rng.choice([SMART_STORE, PARTY_STORE])
        pick = rng.random()
        if pick < 0.5:
            raw = order(
                store,
                at,
                order_id=f"o{rng.randrange(30)}",
                customer_id=c,
                visit_id=v,
                items=[item("hub", personalized=rng.random() < 0.5)],
                promised_delivery_at=(at + timedelta(hours=5)).isoformat(),
            )
        elif pick < 0.7:
            raw = event(
                "tool_session",
                PARTY_STORE,
                at,
                visit_id=v,
                duration_seconds=9,
                **({"customer_id": c} if rng.random() < 0.5 else {}),
            )
        elif pick < 0.85:
            raw = event("consultation", SMART_STORE, at, customer_id=c, consultation_id="q")
        else:
            raw = event("delivery", store, at, order_id=f"o{rng.randrange(30)}")
        engine.apply(EVENT_ADAPTER.validate_python(dict(raw, event_id=f"e{i}"), strict=False))
    checked = 0
    for kind, store, _key, entity in engine.entities():
        ctx = Context(STORES[store].vertical, 30 * 86400)
        copy = decode_entity(kind, encode_entity(entity))
        assert copy.steps(ctx) == entity.steps(ctx)
        checked += 1
    assert checked > 50


def test_compact_keeps_the_bytes_in_an_allocation_of_their_own_size() -> None:
    raw = orjson.dumps([[1, "e", 3, 1999, None], None])
    kept = compact(raw)
    assert kept == raw
    assert type(kept) is bytes
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        values = [compact(orjson.dumps([n, "e", 3, 1999, None])) for n in range(1000)]
        used = (tracemalloc.get_traced_memory()[0] - before) / len(values)
    finally:
        tracemalloc.stop()
    assert used < 200  # orjson's own buffers are 1 KiB (3.11) or 4 KiB (3.12 on) each


def test_steps_merge_from_their_wire_form_as_from_a_dict() -> None:
    """Stage two merges a work item's steps without decoding them to a dict first."""
    held = {("aov", "num", 60, 100): 5, ("aov", "den", 60, 100): 1, ("aov", "num", 60, 160): -5}
    extra = {("aov", "num", 60, 160): 5, ("aov", "num", 60, 200): -3, ("aov", "den", 60, 100): 2}
    via_dict = dict(held)
    merge_into(via_dict, steps_from_wire(steps_to_wire(extra)))
    via_wire = dict(held)
    merge_wire_into(via_wire, orjson.loads(orjson.dumps(steps_to_wire(extra))))
    assert via_wire == via_dict
    assert via_wire == {("aov", "num", 60, 100): 5, ("aov", "den", 60, 100): 3, ("aov", "num", 60, 200): -3}


def test_a_changelog_key_is_the_key_as_json_without_orjson_s_buffer() -> None:
    key = 'order|smart-home|a "quoted" id\\'
    assert orjson.loads(changelog_key(key)) == key
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        keys = [changelog_key(f"2|smart-home|customer-{n}") for n in range(1000)]
        used = (tracemalloc.get_traced_memory()[0] - before) / len(keys)
    finally:
        tracemalloc.stop()
    assert used < 200  # a batch holds one per entity until it sends them
