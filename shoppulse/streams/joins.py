"""Stage two: keyed state. Dedupe by event id, and the entities that join events.

Items arrive at the partition that owns their key (see ``router``):

* a *seen* item: a new ``event_id`` is recorded and its store-level points sent on; an
  id seen before is a duplicate, counted and dropped. The ids a batch of input messages
  adds are written as one record per input partition, and kept in memory as an index
  (``SeenIndex``: 128-bit hashes and days, about 19 bytes an id) rebuilt from those
  records after every rebalance. New ids are also listed in ``pending`` until the worker
  has written their record (``remember``): a rebalance may rebuild the index while a
  batch awaits its sends, and must not forget ids the batch is about to write, so they
  go back into it. Ids are kept as long as a copy of their event could still get
  through stage one (it refuses events older than the longest window), and a day more;
  then ``forget_before`` drops them, and names the records left holding only such ids,
  for the worker to delete;
* an *entity* item: delivered to its order, customer or visit (the engine's own
  ``receive``), whose step change is sent on; a visit may answer with messages for
  customers, which go back through the keyed topic to their own partition. Once a day
  the worker deletes the entities whose every fact is older than any event that can
  still reach them looks back (``prunable``), as the reference engine's sweep does.

The worker sends the result to stage three *before* it writes this stage's state, and
tags it with the input message's partition and offset. A crash in between replays
the message: the replay produces the same steps under the same tag, and stage three
skips what it has applied (see ``ledger``). Pure: the worker does the I/O.

Memory (``bench/memory.py``): per active customer, this stage keeps in the process only
its event ids, in the seen index (19 bytes an id; the dict of ids before it, 130). The
entities are in the tables (on disk with ``rocksdb://``); decoded ones are cached up to
``CACHE_SIZE`` entries, trimmed after every message, and those a batch has changed are
held encoded (``unwritten``) until the worker writes them. The cache of 50,000 entities
this replaced held 50 MB, and trimmed only between batches it held every entity of a
batch (up to 500 messages of 1,000 items), decoded.
"""

from __future__ import annotations

import itertools
import struct
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from hashlib import blake2b
from typing import Any

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
    merge_wire_into,
    message_from_wire,
    message_to_wire,
    parse_entity_key,
)
from shoppulse.streams.recency import drop_least_recent
from shoppulse.streams.router import Item, partition_for

# Decoded entities kept between messages. Hits come from entities touched again soon (a
# visit's events within its session, an order and its customer told by the visit), so
# recency pays, not size. On 200k events of simulated traffic (86.5k entities), a cache
# of 4,096 read the table 2.9 % more often than one of 50,000 (89.3k reads against
# 86.7k, nearly all of them first reads) for no more CPU in this stage; and 50,000
# entities decoded hold 50 MB or more (a customer of one order decodes to about 650
# bytes, its order to 290; their table values are 66 and 46 bytes).
CACHE_SIZE = 4_096

_HALVES = struct.Struct(">QQ").unpack
_OFFSET_BITS = 48  # a seen record's key "<partition>:<offset>" packed in 64 bits
_EMPTY: array[int] = array("Q")  # in place of a bucket already split


def seen_record_key(partition: int, offset: int) -> str:
    """A seen record's table key: the input partition and the offset of its batch's last
    message there."""
    return f"{partition}:{offset}"


def parse_seen_record_key(key: str) -> tuple[int, int]:
    """(partition, offset) of ``seen_record_key``'s key."""
    partition, offset = key.split(":")
    return int(partition), int(offset)


def _record_key(packed: int) -> str:
    return seen_record_key(packed >> _OFFSET_BITS, packed & ((1 << _OFFSET_BITS) - 1))


class SeenIndex:
    """A set of event ids in about 19 bytes an id: their 128-bit hashes, in sorted arrays,
    each with the day (of event time) it was added for, so old days can be forgotten.

    A dict or set of the ids themselves costs 100 to 150 bytes an id (the str object and
    its slot; a Python int per hash would still cost 70), and the index holds every id of
    the partitions owned. Two ids are confused only when their 128-bit hashes are equal:
    odds of about n² / 2¹²⁹ over n ids, 10⁻²¹ for a billion ids, far below the odds of
    anything else going wrong, so deduplication stays exact in practice.

    The hashes are spread over buckets by their top bits; a bucket is three parallel
    arrays (high and low halves, 8 bytes each, and the day, 2 bytes: days since 1970 fit
    until 2149) sorted by (high, low), so a look-up is a bisection and an insert a
    memmove of a few KiB at most. When the buckets hold ``BUCKET`` ids on average, each
    is cut in two at its middle value: they double. The price is time: ``add`` takes
    about 1.5 µs an id (a dict 0.3; half of it is the hash), and rebuilding the index
    after a rebalance 1.7 s per million ids (a dict 0.3). Forgetting old days reads every
    id's day once (``forget_before``: 0.16 s per million ids), which the worker does once
    a day.
    """

    BUCKET = 512

    def __init__(self) -> None:
        self.shift = 64  # a hash's bucket: its high half >> shift
        self.highs: list[array[int]] = [array("Q")]
        self.lows: list[array[int]] = [array("Q")]
        self.days: list[array[int]] = [array("H")]
        self.count = 0

    def __len__(self) -> int:
        return self.count

    def __contains__(self, event_id: str) -> bool:
        return self._place(event_id) is None

    def add(self, event_id: str, day: int) -> bool:
        """Add an id, of an event of ``day`` (days since 1970); False when it was in the
        index already (its day stays the first one's)."""
        place = self._place(event_id)
        if place is None:
            return False
        bucket, at, high, low = place
        self.highs[bucket].insert(at, high)
        self.lows[bucket].insert(at, low)
        self.days[bucket].insert(at, day)
        self.count += 1
        if self.count > self.BUCKET * len(self.highs):
            self._split()
        return True

    def forget_before(self, day: int) -> int:
        """Drop the ids of days before ``day``; how many were dropped."""
        dropped = 0
        for bucket, days in enumerate(self.days):
            keep = [held >= day for held in days]
            kept = sum(keep)
            if kept == len(keep):
                continue
            self.highs[bucket] = array("Q", itertools.compress(self.highs[bucket], keep))
            self.lows[bucket] = array("Q", itertools.compress(self.lows[bucket], keep))
            self.days[bucket] = array("H", itertools.compress(days, keep))
            dropped += len(keep) - kept
        self.count -= dropped
        return dropped

    def _place(self, event_id: str) -> tuple[int, int, int, int] | None:
        """Where an id would go, as (bucket, index, high half, low half) of its 128-bit
        BLAKE2b hash; None when it is in the index. Hashing and searching in one call:
        stage two adds every event it gets (a hash function of its own cost 375
        instructions an event more, ``bench/instructions.py``)."""
        high, low = _HALVES(blake2b(event_id.encode("utf-8", "surrogatepass"), digest_size=16).digest())
        bucket = high >> self.shift
        highs, lows = self.highs[bucket], self.lows[bucket]
        at = bisect_left(highs, high)
        while at < len(highs) and highs[at] == high:  # equal high halves: hardly ever two
            if lows[at] == low:
                return None
            at += 1
        return bucket, at, high, low

    def _split(self) -> None:
        """Double the buckets: bucket b becomes 2b (its hashes below its middle value) and 2b + 1.

        Each old bucket is let go as soon as its halves exist, so the index is never held
        twice: the freed arrays make room for the next halves. Holding the old list to the
        end made every split a peak of twice the index, and the process kept that memory:
        2.2 million ids raised RSS by 69 MiB instead of 42 (36 MiB of arrays)."""
        shift = self.shift - 1
        old_highs, old_lows, old_days = self.highs, self.lows, self.days
        highs: list[array[int]] = []
        lows: list[array[int]] = []
        days: list[array[int]] = []
        for bucket in range(len(old_highs)):
            high, low, day = old_highs[bucket], old_lows[bucket], old_days[bucket]
            old_highs[bucket] = old_lows[bucket] = old_days[bucket] = _EMPTY
            cut = bisect_left(high, ((bucket << 1) | 1) << shift)
            highs += (high[:cut], high[cut:])
            lows += (low[:cut], low[cut:])
            days += (day[:cut], day[cut:])
        self.highs, self.lows, self.days, self.shift = highs, lows, days, shift


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
        if steps:
            merge_into(self._store_steps(store, produced_ms), steps)

    def add_wire_steps(self, store: str, steps: list[list[Any]], produced_ms: int) -> None:
        """``add_steps`` of steps as they came in a work item (``codec.steps_to_wire``)."""
        if steps:
            merge_wire_into(self._store_steps(store, produced_ms), steps)

    def _store_steps(self, store: str, produced_ms: int) -> Steps:
        """The store's steps so far, its oldest source event now counting ``produced_ms``."""
        held = self.steps.get(store)  # not setdefault: it makes a dict every call
        if held is None:
            held = self.steps[store] = {}
            self.produced_ms[store] = produced_ms
        elif produced_ms < self.produced_ms[store]:
            self.produced_ms[store] = produced_ms
        return held


class JoinStage:
    def __init__(
        self,
        stores: Mapping[str, Store],
        partitions: int,
        attribution_seconds: int = LONGEST.minutes * 60,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        self.contexts = {store.id: Context(store.vertical, attribution_seconds) for store in stores.values()}
        self.attribution_seconds = attribution_seconds  # how far back from an event an entity looks
        self.partitions = partitions
        # Decoded entities, most recently used last; the table holds the truth, except for
        # the entities a batch has changed: the worker writes them at the batch's end, so
        # until then their values are in ``unwritten`` and an entity dropped from the cache
        # mid-batch is decoded again from there. The cache is trimmed after every message:
        # trimmed once per batch, it held every entity a batch touched (up to 500 messages
        # of 1,000 items), decoded: 50 MB more of the worker's peak after 90k new orders.
        self.cache: dict[str, Entity] = {}
        self.cache_size = cache_size
        self.unwritten: dict[str, bytes] = {}  # entity key → value, changed since ``remember``
        self.seen = SeenIndex()  # the event ids of the partitions owned
        self.pending: dict[str, int] = {}  # new ids (in ``seen``) whose record is not written yet → day
        # The seen records' keys, by the latest day of their ids: 8 bytes a record (a dict
        # from key to day cost about 100, more than the index itself when a batch holds
        # a few events).
        self.records_by_day: dict[int, array[int]] = {}
        self.forgotten_before = 0  # the ids of earlier days are forgotten (a day number)

    def reset(self, seen_records: Iterable[tuple[str, bytes]]) -> None:
        """After a rebalance: drop decoded entities, rebuild the seen index from its records.

        ``pending`` and ``unwritten`` are kept: a batch in flight writes those ids and
        entities after this (and may handle more of its messages first).
        """
        self.cache.clear()
        self.seen = seen = SeenIndex()
        self.records_by_day = {}
        add = seen.add
        for key, raw in seen_records:
            ids: dict[str, int] = orjson.loads(raw)  # {event_id: day}
            self._note_record(key, ids)
            for event_id, day in ids.items():
                add(event_id, day)
        for event_id, day in self.pending.items():  # the batch in flight writes them after this
            add(event_id, day)

    def handle(self, items: list[Item], load_entity: Callable[[str], bytes | None]) -> Joined:
        out = Joined()
        for item in items:
            if item[0] == "s":
                self._seen(item, out)
            else:
                self._entity(item, load_entity, out)
        drop_least_recent(self.cache, self.cache_size)
        return out

    def remember(self, seen_records: Mapping[str, Mapping[str, int]]) -> None:
        """The batch is written: its new ids (in ``seen_records``, by record key) and its
        entities are in the tables now."""
        for key, ids in seen_records.items():
            self._note_record(key, ids)
        self.pending.clear()
        self.unwritten.clear()

    def forget_before(self, day: int) -> list[str]:
        """Forget the ids of days before ``day``; return the keys of the seen records that
        held only such ids, for the worker to delete. (A rebuilt index holds old ids again
        until this is called.)"""
        self.forgotten_before = max(self.forgotten_before, day)
        self.seen.forget_before(day)
        expired: list[str] = []
        for latest in [held for held in self.records_by_day if held < day]:
            expired += map(_record_key, self.records_by_day.pop(latest))
        return expired

    def prunable(self, key: str, raw: bytes, before: int) -> bool:
        """True when every fact of the entity stored under ``key`` is older than ``before``
        (seconds): what the reference engine drops in its daily sweep (``Entity.prune``)."""
        kind, _, _ = parse_entity_key(key)
        return decode_entity(kind, raw).prune(before)

    def forget_entities(self, keys: Iterable[str]) -> None:
        """The entities under ``keys`` are deleted from the table: not kept decoded either."""
        for key in keys:
            self.cache.pop(key, None)

    def _note_record(self, key: str, ids: Mapping[str, int]) -> None:
        partition, offset = parse_seen_record_key(key)
        latest = max(ids.values(), default=0)
        held = self.records_by_day.get(latest)
        if held is None:
            held = self.records_by_day[latest] = array("Q")
        held.append(partition << _OFFSET_BITS | offset)

    def _seen(self, item: Item, out: Joined) -> None:
        _, store, event_id, day, event_type, points, produced_ms = item
        if not self.seen.add(event_id, day):
            out.duplicates += 1
            return
        self.pending[event_id] = day
        out.seen_writes[event_id] = day
        out.events[(store, event_type)] += 1
        out.add_wire_steps(store, points, produced_ms)

    def _entity(self, item: Item, load_entity: Callable[[str], bytes | None], out: Joined) -> None:
        _, key, message_wire, produced_ms = item
        kind, store, _ = parse_entity_key(key)
        entity = self.cache.pop(key, None)
        if entity is not None:
            self.cache[key] = entity  # now the most recently used
        else:
            raw = self.unwritten.get(key)
            if raw is None:
                raw = load_entity(key)
            entity = decode_entity(kind, raw) if raw is not None else ENTITY_TYPES[kind]()
            self.cache[key] = entity
        change = entity.receive(message_from_wire(message_wire), self.contexts[store])
        if change.changed:
            out.entity_writes[key] = self.unwritten[key] = encode_entity(entity)
            out.add_steps(store, change.steps, produced_ms)
        for forward_kind, entity_id, message in change.forwards:
            target = entity_key(Kind(forward_kind), store, entity_id)
            forward = ["m", target, message_to_wire(message), produced_ms]
            out.forwards.setdefault(partition_for(target, self.partitions), []).append(forward)
