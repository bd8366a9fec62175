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

import logging
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from shoppulse.kpis.facts import DEFAULT_SERVICE_CATEGORIES, seconds
from shoppulse.kpis.routing import route_parts
from shoppulse.kpis.windows import LONGEST
from shoppulse.schemas.events import Event
from shoppulse.schemas.stores import Store
from shoppulse.schemas.validation import EventValidator, Reason, Rejection
from shoppulse.streams.codec import entity_key, message_to_wire, steps_to_wire

log = logging.getLogger(__name__)

DAY = 86_400
Item = list[Any]  # wire form of a work item, see module docstring


def partition_for(key: str, partitions: int) -> int:
    """The partition that owns a key: the same in every worker and every stage."""
    return zlib.crc32(key.encode()) % partitions


# The dead-letter headers that name a refused event: where it was read, its place in its array.
SOURCE_HEADERS = (
    "shoppulse-source-topic",
    "shoppulse-source-partition",
    "shoppulse-source-offset",
    "shoppulse-source-index",
)


@dataclass
class DeadLetter:
    """A refused event: its bytes as received, and why.

    ``index`` is its place in a JSON array message (None for a whole message); the
    caller, which knows where the message came from, sets ``source`` (topic, partition,
    offset). Together they name the refused event exactly, so a reader of the dead-letter
    topic can drop the copies a replay of the input writes again.
    """

    raw: bytes
    rejection: Rejection
    index: int | None = None
    source: tuple[str, int, int] | None = None

    def source_headers(self) -> dict[str, bytes]:
        """``SOURCE_HEADERS`` with what is known of where the event was read."""
        parts = (*(self.source or (None, None, None)), self.index)
        named = zip(SOURCE_HEADERS, parts, strict=True)
        return {name: str(part).encode() for name, part in named if part is not None}


def dead_letter_source(headers: Iterable[tuple[str, bytes]]) -> tuple[str, ...]:
    """Where a dead letter's event was read (topic, partition, offset, place in its array;
    "" for what it has not): the same for every copy a replay of the input wrote."""
    found = dict(headers)
    return tuple(found.get(name, b"").decode() for name in SOURCE_HEADERS)


@dataclass
class Routed:
    items: dict[int, list[Item]] = field(default_factory=dict)  # partition → items
    dead: list[DeadLetter] = field(default_factory=list)

    def mark(self) -> tuple[dict[int, int], int]:
        """Where the items and dead letters end now (see ``rollback``)."""
        return {partition: len(items) for partition, items in self.items.items()}, len(self.dead)

    def rollback(self, mark: tuple[dict[int, int], int]) -> None:
        """Drop everything added since ``mark``."""
        lengths, dead = mark
        for partition, items in self.items.items():
            del items[lengths.get(partition, 0) :]
        del self.dead[dead:]

    def add(self, partition: int, item: Item) -> None:
        self.items.setdefault(partition, []).append(item)

    def messages(self, max_items: int) -> Iterator[tuple[int, list[Item]]]:
        """The items as messages for the keyed topic: (partition, up to ``max_items`` items)."""
        for partition, items in self.items.items():
            for start in range(0, len(items), max_items):
                yield partition, items[start : start + max_items]


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

    def route_message(self, raw: bytes | None, produced_ms: int, out: Routed) -> None:
        """Validate one input message and add its items and dead letters to ``out``.

        Never raises: a message this code fails on (a bug) is dead-lettered whole as
        ``internal_error``, with what it had added to ``out`` taken back, so one bad
        message cannot stop the stage or half-count a batch.
        """
        mark = out.mark()
        try:
            self._route_message(raw, produced_ms, out)
        except Exception as exc:
            log.exception("routing failed; message dead-lettered as internal_error")
            out.rollback(mark)
            error = Rejection(Reason.INTERNAL_ERROR, "", f"{type(exc).__name__}: {exc}"[:512])
            out.dead.append(DeadLetter(raw or b"", error))

    def _route_message(self, raw: bytes | None, produced_ms: int, out: Routed) -> None:
        results = self.validator.validate_message(raw)
        now = int(self.clock())
        elements: list[Any] | None = None  # a batch, parsed again only if one is refused
        for index, result in enumerate(results):
            if isinstance(result, Rejection):
                refusal: Rejection | None = result
            else:
                ts = seconds(result.ts)  # once: each conversion cost half a microsecond
                refusal = self._timing(result, ts, now)
            if refusal is None:
                self._route_event(result, ts, produced_ms, out)  # type: ignore[arg-type]
            elif len(results) == 1:
                out.dead.append(DeadLetter(raw or b"", refusal))
            else:
                if elements is None:
                    elements = orjson.loads(raw)  # type: ignore[arg-type]
                out.dead.append(DeadLetter(orjson.dumps(elements[index]), refusal, index))

    def _timing(self, event: Event, ts: int, now: int) -> Rejection | None:
        if ts < now - self.lateness:  # by its own time, as the engine (kpis.engine.Engine.apply)
            return Rejection(Reason.LATE_EVENT, "ts", "older than the longest window: it can change no KPI")
        if ts > now + self.future_tolerance:
            return Rejection(Reason.FUTURE_EVENT, "ts", "event time is ahead of the clock")
        return None

    def _route_event(self, event: Event, ts: int, produced_ms: int, out: Routed) -> None:
        fields = event.__dict__  # three reads: faster than a model's attributes (kpis.facts)
        store, event_id = fields["store_id"], fields["event_id"]
        points, messages = route_parts(event, self.verticals[store], self.service_categories, ts)
        points_wire = steps_to_wire(points) if points else []  # half the events have none
        seen = ["s", store, event_id, ts // DAY, fields["type"], points_wire, produced_ms]
        out.add(partition_for(event_id, self.partitions), seen)
        for (kind, entity_store, entity_id), message in messages:
            key = entity_key(kind, entity_store, entity_id)
            item = ["m", key, message_to_wire(message), produced_ms]
            out.add(partition_for(key, self.partitions), item)
