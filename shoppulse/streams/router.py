"""Stage one: bytes from the input topic → checked events → work items by partition.

Stateless. Each message (one event, or a JSON array of events) is validated; a
rejected, late or future event goes to the dead-letter topic with its reason. A valid
event becomes work items for stage two, each addressed to the partition that owns
its key:

* a *seen* item keyed by ``event_id``: stage two drops the event if that id was seen
  before, and otherwise applies the event's store-level points (visits, ratings…) and
  counts it;
* *entity* items keyed by order, customer or visit (``kpis.routing``): idempotent
  messages, so they need no dedupe of their own.

Replaying this stage after a crash sends the same items again: seen items are then
duplicates, entity messages change nothing. Nothing is counted twice.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from shoppulse.kpis.facts import DEFAULT_SERVICE_CATEGORIES, seconds
from shoppulse.kpis.routing import earliest_time, route
from shoppulse.kpis.windows import LONGEST
from shoppulse.schemas.events import Event
from shoppulse.schemas.stores import Store
from shoppulse.schemas.validation import EventValidator, Reason, Rejection
from shoppulse.streams.codec import entity_key, message_to_wire, steps_to_wire

DAY = 86_400
Item = list[Any]  # wire form of a work item, see module docstring


def partition_for(key: str, partitions: int) -> int:
    """The partition that owns a key: the same in every worker and every stage."""
    return zlib.crc32(key.encode()) % partitions


@dataclass
class DeadLetter:
    """A refused event: its bytes as received, and why."""

    raw: bytes
    rejection: Rejection


@dataclass
class Routed:
    items: dict[int, list[Item]] = field(default_factory=dict)  # partition → items
    dead: list[DeadLetter] = field(default_factory=list)

    def add(self, partition: int, item: Item) -> None:
        self.items.setdefault(partition, []).append(item)


class Router:
    def __init__(
        self,
        stores: Mapping[str, Store],
        partitions: int,
        *,
        future_tolerance: int = 300,
        lateness: int = LONGEST.minutes * 60,
        service_categories: frozenset[str] = DEFAULT_SERVICE_CATEGORIES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.validator = EventValidator(dict(stores))
        self.verticals = {store.id: store.vertical for store in stores.values()}
        self.partitions = partitions
        self.future_tolerance = future_tolerance
        self.lateness = lateness
        self.service_categories = service_categories
        self.clock = clock

    def route_message(self, raw: bytes, produced_ms: int, out: Routed) -> None:
        """Validate one input message and add its items and dead letters to ``out``."""
        results = self.validator.validate_message(raw)
        single = len(results) == 1
        now = int(self.clock())
        for index, result in enumerate(results):
            refusal = result if isinstance(result, Rejection) else self._timing(result, now)
            if refusal is not None:
                out.dead.append(DeadLetter(raw if single else _element(raw, index), refusal))
            else:
                self._route_event(result, produced_ms, out)  # type: ignore[arg-type]

    def _timing(self, event: Event, now: int) -> Rejection | None:
        if earliest_time(event) < now - self.lateness:
            return Rejection(Reason.LATE_EVENT, "ts", "older than the longest window: it can change no KPI")
        if seconds(event.ts) > now + self.future_tolerance:
            return Rejection(Reason.FUTURE_EVENT, "ts", "event time is ahead of the clock")
        return None

    def _route_event(self, event: Event, produced_ms: int, out: Routed) -> None:
        store = event.store_id
        points, messages = route(event, self.verticals[store], self.service_categories)
        day = seconds(event.ts) // DAY
        seen = ["s", store, event.event_id, day, event.type, steps_to_wire(points), produced_ms]
        out.add(partition_for(event.event_id, self.partitions), seen)
        for (kind, entity_store, entity_id), message in messages:
            key = entity_key(kind, entity_store, entity_id)
            item = ["m", key, message_to_wire(message), produced_ms]
            out.add(partition_for(key, self.partitions), item)


def _element(raw: bytes, index: int) -> bytes:
    """One element of a batch message, as JSON bytes (the batch itself may be huge)."""
    try:
        return orjson.dumps(orjson.loads(raw)[index])
    except (orjson.JSONDecodeError, IndexError, TypeError):
        return raw
