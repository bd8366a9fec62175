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
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from shoppulse.kpis.contributions import Steps
from shoppulse.kpis.store_series import StoreSeries
from shoppulse.streams.codec import compact

MINUTES_PER_CHUNK = 15
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


class Ledger:
    """Chunks (the durable truth) and the series built from them, for the stores owned."""

    def __init__(self) -> None:
        self.chunks: dict[str, Chunk] = {}
        self.stores: dict[str, StoreSeries] = {}

    def load(self, items: Iterable[tuple[str, bytes]]) -> None:
        """Rebuild from table contents (after recovery or a rebalance)."""
        for key, raw in items:
            chunk = Chunk.decode(raw)
            self.chunks[key] = chunk
            series = self.stores.setdefault(parse_chunk_key(key)[0], StoreSeries())
            for (kpi, part, width, minute), amount in chunk.steps.items():
                series.add((kpi, part, width), minute, amount)

    def apply(self, store: str, steps: Steps, source: tuple[int, int]) -> set[str]:
        """Apply one tagged batch of steps; return the keys of the chunks to write.

        Chunks that already hold this source offset (a replay) are left alone.
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
                chunk = self.chunks.get(key)
                if chunk is None:
                    chunk = self.chunks[key] = Chunk()
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
