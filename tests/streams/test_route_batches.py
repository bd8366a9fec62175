"""Stage one's batches are bounded by events as well as messages: arrays of a hundred
events come fifty at a time, single events still five hundred (``next_batch_records``)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import yaml

from shoppulse.config import WorkerSettings
from shoppulse.schemas.stores import Stores
from shoppulse.streams.app import next_batch_records
from shoppulse.streams.router import Routed, Router
from tests.builders import SMART_STORE, STORES_YAML, event

SETTINGS = WorkerSettings(batch_size=500, route_batch_events=5_000)
STORES = Stores.model_validate(yaml.safe_load(STORES_YAML)).by_id()
NOW = datetime(2026, 5, 3, tzinfo=UTC)


def test_single_events_come_by_the_batch_size_and_arrays_by_the_event_budget() -> None:
    assert next_batch_records(500, 500, SETTINGS) == 500  # 1 event a message: 5,000 would pass 500
    assert next_batch_records(500, 50_000, SETTINGS) == 50  # 100 a message
    assert next_batch_records(50, 5_000, SETTINGS) == 50  # and it stays there
    assert next_batch_records(20, 250, SETTINGS) == 400  # 12.5 a message


def test_a_message_of_more_events_than_the_budget_still_comes_alone() -> None:
    assert next_batch_records(1, 10_000, SETTINGS) == 1


def test_messages_without_events_count_as_one_event_each() -> None:
    # Empty arrays, or nothing read: never a division by zero, never a batch of none.
    assert next_batch_records(300, 0, SETTINGS) == 500
    assert next_batch_records(0, 0, SETTINGS) == 500


def test_routed_counts_every_event_read_valid_or_not() -> None:
    router = Router(STORES, 4, clock=NOW.timestamp)
    routed = Routed()
    valid = event("support_rating", SMART_STORE, datetime(2026, 5, 2, tzinfo=UTC), ticket_id="t-1", rating=4)
    broken = {**valid, "event_id": "e-broken", "rating": 9}
    router.route_message(orjson.dumps([valid, broken, {**valid, "event_id": "e-2"}]), 0, routed)
    router.route_message(b"not json", 0, routed)
    assert routed.events == 4
    assert len(routed.dead) == 2
