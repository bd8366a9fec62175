"""Stage two: keyed state. Dedupe by event id, and the entities that join events.

Items arrive at the partition that owns their key (see ``router``):

* a *seen* item: a new ``event_id`` is recorded and its store-level points sent on; an
  id seen before is a duplicate, counted and dropped. The ids a batch of input messages
  adds are written as one record per input partition, and kept in memory as an index
  rebuilt from those records after every rebalance. New ids wait in ``pending`` until
  the worker has written their record (``remember``): a rebalance may rebuild the index
  while a batch awaits its sends, and must not forget ids the batch is about to write;
* an *entity* item: delivered to its order, customer or visit (the engine's own
  ``receive``), whose step change is sent on; a visit may answer with messages for
  customers, which go back through the keyed topic to their own partition.

The worker sends the result to stage three *before* it writes this stage's state, and
tags it with the input message's partition and offset. A crash in between replays
the message: the replay produces the same steps under the same tag, and stage three
skips what it has applied (see ``ledger``). Pure: the worker does the I/O.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import orjson

from shoppulse.kpis.contributions import Steps, merge_into
from shoppulse.kpis.engine import ENTITY_TYPES
from shoppulse.kpis.entities import Context
from shoppulse.kpis.messages import Kind
from shoppulse.kpis.windows import LONGEST
from shoppulse.schemas.stores import Store
from shoppulse.streams.codec import (
    Entity,
    decode_entity,
    encode_entity,
    entity_key,
    message_from_wire,
    message_to_wire,
    parse_entity_key,
    steps_from_wire,
)
from shoppulse.streams.router import Item, partition_for


@dataclass
class Joined:
    steps: dict[str, Steps] = field(default_factory=dict)  # store → steps for stage three
    produced_ms: dict[str, int] = field(default_factory=dict)  # store → oldest source event
    forwards: dict[int, list[Item]] = field(default_factory=dict)  # partition → items
    entity_writes: dict[str, bytes] = field(default_factory=dict)
    seen_writes: dict[str, int] = field(default_factory=dict)  # new event_id → day
    events: Counter[tuple[str, str]] = field(default_factory=Counter)  # (store, type) applied
    duplicates: int = 0

    def add_steps(self, store: str, steps: Steps, produced_ms: int) -> None:
        if not steps:
            return
        merge_into(self.steps.setdefault(store, {}), steps)
        known = self.produced_ms.get(store)
        self.produced_ms[store] = produced_ms if known is None else min(known, produced_ms)


class JoinStage:
    def __init__(
        self,
        stores: Mapping[str, Store],
        partitions: int,
        attribution_seconds: int = LONGEST.minutes * 60,
        cache_size: int = 50_000,
    ) -> None:
        self.contexts = {store.id: Context(store.vertical, attribution_seconds) for store in stores.values()}
        self.partitions = partitions
        # Decoded entities, most recently used last; the table holds the truth. Trimmed
        # between batches only: an entity changed in a batch is written at its end, so
        # reloading it from the table mid-batch would lose the change.
        self.cache: dict[str, Entity] = {}
        self.cache_size = cache_size
        self.seen: dict[str, int] = {}  # event_id → day, for the partitions owned
        self.pending: dict[str, int] = {}  # new ids whose record is not written yet

    def reset(self, seen_records: Iterable[bytes]) -> None:
        """After a rebalance: drop decoded entities, rebuild the seen index from its records.

        ``pending`` is kept: a batch in flight writes those ids after this.
        """
        self.cache.clear()
        self.seen = {}
        for raw in seen_records:
            self.seen.update(orjson.loads(raw))

    def handle(self, items: list[Item], load_entity: Callable[[str], bytes | None]) -> Joined:
        out = Joined()
        for item in items:
            if item[0] == "s":
                self._seen(item, out)
            else:
                self._entity(item, load_entity, out)
        return out

    def remember(self) -> None:
        """The batch is written: move its pending ids into the index, trim the cache."""
        self.seen.update(self.pending)
        self.pending.clear()
        cache = self.cache
        for key in list(itertools.islice(cache, max(len(cache) - self.cache_size, 0))):
            del cache[key]  # the least recently used

    def _seen(self, item: Item, out: Joined) -> None:
        _, store, event_id, day, event_type, points, produced_ms = item
        if event_id in self.pending or event_id in self.seen:
            out.duplicates += 1
            return
        out.seen_writes[event_id] = self.pending[event_id] = day
        out.events[(store, event_type)] += 1
        out.add_steps(store, steps_from_wire(points), produced_ms)

    def _entity(self, item: Item, load_entity: Callable[[str], bytes | None], out: Joined) -> None:
        _, key, message_wire, produced_ms = item
        kind, store, _ = parse_entity_key(key)
        entity = self.cache.pop(key, None)
        if entity is not None:
            self.cache[key] = entity  # now the most recently used
        else:
            raw = load_entity(key)
            entity = decode_entity(kind, raw) if raw is not None else ENTITY_TYPES[kind]()
            self.cache[key] = entity
        change = entity.receive(message_from_wire(message_wire), self.contexts[store])
        if change.changed:
            out.entity_writes[key] = encode_entity(entity)
            out.add_steps(store, change.steps, produced_ms)
        for forward_kind, entity_id, message in change.forwards:
            target = entity_key(Kind(forward_kind), store, entity_id)
            forward = ["m", target, message_to_wire(message), produced_ms]
            out.forwards.setdefault(partition_for(target, self.partitions), []).append(forward)
