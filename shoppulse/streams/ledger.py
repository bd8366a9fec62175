"""A store's KPI series as durable chunks, applied exactly once.

The stage that owns a store keeps its step series (``kpis.timeline``) in a Faust table
whose values are *chunks*: all the steps of one store in a quarter of an hour of
minutes, every series (kpi, part, window) together. A table write, and so a changelog
record, stays small whatever the history, and a batch of messages writes one record per
store and chunk it touched. (A chunk per series and day cost 500 changelog bytes per
event; a chunk per series and hour, a record per two events: Faust's producer buffer
costs more per record than per byte. A chunk per store and hour is written again whole
with every batch as it fills: 10 KB an event in batches of ten events, against 3 KB for
a quarter of an hour, and twice the time; ``MINUTES_PER_CHUNK``.)

Exactly once: every batch of steps arrives tagged with its source, the partition and
offset of the message that produced it upstream. A chunk records, per source
partition, the last offset it applied, *in the same value* as its steps. A batch
replayed after a crash finds its offset already recorded and is skipped, chunk by
chunk, so a crash between two chunk writes cannot count anything twice or lose it.

Pure: no Faust here. ``Ledger.apply`` returns the keys of the chunks it changed; the
worker writes their values (``Ledger.value``) to its table once per batch of messages.

Memory: the table holds every chunk; the process keeps the store series (which fold
their past away as they are read, ``kpis.timeline``) and only the ``CACHE_SIZE`` chunks
used last, decoded. A chunk not in the cache is read back from the table when a batch
touches it. Holding every chunk decoded cost about 20 MiB per day of the sample stores'
traffic (1,154 chunks of 148,181 steps for 172,019 events: a span's end lands 1 hour,
1, 7 and 30 days after its start, each in a chunk of its own), without end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson

from shoppulse.kpis.contributions import Steps
from shoppulse.kpis.store_series import StoreSeries
from shoppulse.streams.codec import compact
from shoppulse.streams.recency import drop_least_recent

MINUTES_PER_CHUNK = 15
# Decoded chunks kept between batches: the chunks traffic touches are those of now and of
# its spans' ends (1 hour, 1, 7 and 30 days on), four or five per store and quarter hour.
CACHE_SIZE = 512
StepKey = tuple[str, str, int, int]  # (kpi, part, width, minute)


@dataclass
class Chunk:
    """A store's steps in one chunk of minutes, and the last source offset applied to them."""

    applied: dict[int, int] = field(default_factory=dict)  # source partition → offset
    steps: dict[StepKey, int] = field(default_factory=dict)

    def encode(self) -> bytes:
        """``{"applied": {partition: offset}, "pairs": [[[kpi, part, width, minute], amount], …]}``.

        The (step, amount) pairs are the dict's items as they are, which orjson writes as
        arrays: the current chunk is written again with every batch, and building
        a list per step first cost a sixth of stage three.
        """
        value = {"applied": self.applied, "pairs": list(self.steps.items())}
        return compact(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))  # a table value: kept

    @classmethod
    def decode(cls, raw: bytes) -> Chunk:
        data = orjson.loads(raw)
        if "pairs" in data:
            steps = {tuple(step): amount for step, amount in data["pairs"]}
        else:  # written before November 2026: [kpi, part, width, minute, amount] each
            steps = {(kpi, part, width, minute): amount for kpi, part, width, minute, amount in data["steps"]}
        return cls(applied={int(k): v for k, v in data["applied"].items()}, steps=steps)  # type: ignore[misc]


def chunk_key(store: str, first_minute: int) -> str:
    """A chunk's table key: its store and first minute. Keys written when chunks were an
    hour long hold the hour's number instead, far below any minute of this century, so
    the two never meet; such a chunk still loads (its steps name their own minutes). A
    batch replayed across that upgrade would be applied again: upgrade a drained pipeline."""
    return f"{store}|{first_minute}"


def parse_chunk_key(key: str) -> tuple[str, int]:
    """(store, first minute); an hour's number for keys written by earlier versions."""
    store, start = key.rsplit("|", 1)
    return store, int(start)


def _no_table(key: str) -> bytes | None:
    return None


class Ledger:
    """Chunks (the durable truth) and the series built from them, for the stores owned."""

    def __init__(self, cache_size: int = CACHE_SIZE) -> None:
        self.chunks: dict[str, Chunk] = {}  # decoded, the most recently used last
        self.cache_size = cache_size
        self.stores: dict[str, StoreSeries] = {}

    def load(self, items: Iterable[tuple[str, bytes]]) -> None:
        """Rebuild from table contents (after recovery or a rebalance). The last chunks
        read stay decoded, up to twice ``cache_size`` until ``trim``."""
        for count, (key, raw) in enumerate(items, 1):
            chunk = self.chunks[key] = Chunk.decode(raw)
            series = self.stores.setdefault(parse_chunk_key(key)[0], StoreSeries())
            for (kpi, part, width, minute), amount in chunk.steps.items():
                series.add((kpi, part, width), minute, amount)
            if count % self.cache_size == 0:  # a month of chunks is not held decoded at once
                self.trim()

    def trim(self) -> None:
        """Let the least recently used chunks go, down to ``cache_size``: only once the
        chunks a batch changed are written, since they are read back from the table."""
        drop_least_recent(self.chunks, self.cache_size)

    def apply(
        self,
        store: str,
        steps: Steps,
        source: tuple[int, int],
        load_chunk: Callable[[str], bytes | None] = _no_table,
    ) -> set[str]:
        """Apply one tagged batch of steps; return the keys of the chunks to write.

        Chunks that already hold this source offset (a replay) are left alone. A chunk
        not in memory is read with ``load_chunk`` (the table), or starts empty.
        """
        partition, offset = source
        touched: dict[str, Chunk] = {}
        by_start: dict[int, Chunk | None] = {}  # None: the chunk has seen this batch already
        replayed: Steps = {}
        for step, amount in steps.items():
            start = step[3] - step[3] % MINUTES_PER_CHUNK
            if start in by_start:
                chunk = by_start[start]
            else:  # the first step of this chunk in the batch: its chunk, found once
                key = chunk_key(store, start)
                chunk = self.chunks.pop(key, None)
                if chunk is None:
                    raw = load_chunk(key)
                    chunk = Chunk.decode(raw) if raw is not None else Chunk()
                self.chunks[key] = chunk  # now the most recently used
                if chunk.applied.get(partition, -1) >= offset:
                    chunk = None
                else:
                    touched[key] = chunk
                by_start[start] = chunk
            if chunk is None:
                replayed[step] = amount
                continue
            held = chunk.steps
            total = held.get(step, 0) + amount
            if total:
                held[step] = total
            else:
                held.pop(step, None)
        for chunk in touched.values():
            chunk.applied[partition] = offset
        series = self.stores.setdefault(store, StoreSeries())
        if replayed:  # the series gets what the chunks got
            steps = {step: amount for step, amount in steps.items() if step not in replayed}
        series.apply(steps)
        return set(touched)

    def value(self, key: str) -> bytes:
        """A chunk's table value: its steps and the source offsets they include."""
        return self.chunks[key].encode()

    def drop_store(self, store: str) -> None:
        """Forget a store this worker no longer owns (after a rebalance)."""
        self.stores.pop(store, None)
        prefix = f"{store}|"
        for key in [k for k in self.chunks if k.startswith(prefix)]:
            del self.chunks[key]
