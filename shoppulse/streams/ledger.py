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
worker writes their values (``Ledger.value``) to its table once per batch of messages,
or (stage three) once per few batches (``StreamApp._write_chunks``).

Memory: the table holds every chunk; the process keeps the store series (which fold
their past away as they are read, ``kpis.timeline``) and only the ``CACHE_SIZE`` chunks
used last, decoded. A chunk not in the cache is read back from the table when a batch
touches it. Holding every chunk decoded cost about 20 MiB per day of the sample stores'
traffic (1,154 chunks of 148,181 steps for 172,019 events: a span's end lands 1 hour,
1, 7 and 30 days after its start, each in a chunk of its own), without end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
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
SeriesKey = tuple[str, str, int]  # (kpi, part, width)
# "kpi|part|width": a series' name in an encoded chunk (a few hundred series at most),
# kept: formatting every name on every write cost stage three 3,000 instructions an event
# more (75,408 against 72,428; bench/instructions.py --events 20000 --totals-batch 7).
_SERIES_NAMES: dict[SeriesKey, str] = {}


@dataclass
class Chunk:
    """A store's steps in one chunk of minutes, and the last source offset applied to them.

    The steps are held by series, ``(kpi, part, width) → [amount at start, at start + 1,
    …]``: a slot per minute of the chunk, the shape they are written in (``encode``).
    The current chunk is written again every quarter of a second while it is touched
    (``WorkerSettings.totals_flush_interval``), a few small batches at a time. Kept as ``(kpi, part,
    width, minute) → amount`` and written as a pair per step, each naming its KPI, a
    chunk took ~three times the bytes (``bench/instructions.py``).
    """

    start: int  # the chunk's first minute: slot i of a series is minute start + i
    applied: dict[int, int] = field(default_factory=dict)  # source partition → offset
    series: dict[SeriesKey, list[int]] = field(default_factory=dict)

    def steps(self) -> Iterator[tuple[StepKey, int]]:
        """Every ((kpi, part, width, minute), amount) the chunk holds."""
        start = self.start
        for (kpi, part, width), amounts in self.series.items():
            for slot, amount in enumerate(amounts):
                if amount:
                    yield (kpi, part, width, start + slot), amount

    def encode(self) -> bytes:
        """``{"start": minute, "applied": [[partition, offset], …],
        "series": {"kpi|part|width": [amount, …]}}``."""
        names = _SERIES_NAMES
        series = {}
        for key, amounts in self.series.items():
            name = names.get(key)
            if name is None:
                name = names[key] = "|".join(map(str, key))
            series[name] = amounts
        value = {"start": self.start, "applied": list(self.applied.items()), "series": series}
        return compact(orjson.dumps(value))  # a table value: kept

    @classmethod
    def decode(cls, raw: bytes) -> Chunk:
        data = orjson.loads(raw)
        if "series" in data:
            series: dict[SeriesKey, list[int]] = {}
            for name, amounts in data["series"].items():
                kpi, part, width = name.split("|")
                series[(kpi, part, int(width))] = amounts
            return cls(data["start"], dict(data["applied"]), series)
        # Written before December 2026: a step per pair, or (earlier) per flat array, and
        # "applied" as an object. Such a chunk of a quarter of an hour starts where its key
        # does, and gets more steps after an upgrade; one of an hour (before November 2026,
        # keyed by the hour, so never applied to again) spans the minutes its steps name.
        pairs = data.get("pairs")
        steps = data["steps"] if pairs is None else [(*step, amount) for step, amount in pairs]
        first = min((step[3] for step in steps), default=0)
        start = first - first % MINUTES_PER_CHUNK
        length = max(max((step[3] for step in steps), default=0) - start + 1, MINUTES_PER_CHUNK)
        chunk = cls(start, {int(k): v for k, v in data["applied"].items()})
        for kpi, part, width, minute, amount in steps:
            chunk.series.setdefault((kpi, part, width), [0] * length)[minute - start] = amount
        return chunk


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
            for (kpi, part, width, minute), amount in chunk.steps():
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
            kpi, part, width, minute = step
            start = minute - minute % MINUTES_PER_CHUNK
            if start in by_start:
                chunk = by_start[start]
            else:  # the first step of this chunk in the batch: its chunk, found once
                key = chunk_key(store, start)
                chunk = self.chunks.pop(key, None)
                if chunk is None:
                    raw = load_chunk(key)
                    chunk = Chunk.decode(raw) if raw is not None else Chunk(start)
                self.chunks[key] = chunk  # now the most recently used
                if chunk.applied.get(partition, -1) >= offset:
                    chunk = None
                else:
                    touched[key] = chunk
                by_start[start] = chunk
            if chunk is None:
                replayed[step] = amount
                continue
            series_key = (kpi, part, width)
            line = chunk.series.get(series_key)
            if line is None:
                line = chunk.series[series_key] = [0] * MINUTES_PER_CHUNK
            slot = minute - chunk.start
            total = line[slot] + amount
            line[slot] = total
            if not total and not any(line):  # cancelled out: a series of zeros is not kept
                del chunk.series[series_key]
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
