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

Memory: the table holds the chunks of the last month; the process keeps the store
series (which fold their past away as they are read, ``kpis.timeline``) and only the
``CACHE_SIZE`` chunks used last, decoded. A chunk not in the cache is read back from the
table when a batch touches it. Holding every chunk decoded cost about 20 MiB per day of
the sample stores' traffic (1,154 chunks of 148,181 steps for 172,019 events: a span's
end lands 1 hour, 1, 7 and 30 days after its start, each in a chunk of its own).

The past folded: chunks wholly behind a line a month and a day back are folded into one
*base* record per store (``Ledger.fold``): a sum per step series, since a step function
reads every step before its cutoff the same way, and nothing of the point series, which
count only inside the longest window. Without it the table, and the read that rebuilds
a store after a rebalance, grew by a few chunks per store and quarter of an hour, for
ever. The base keeps the source offsets of the chunks it took in, so a step that still
arrives behind the line (a batch late by more than a month, or replayed) is applied to
it exactly once as well. It is written before the chunks it replaces are deleted: a fold
cut short by a crash leaves chunks behind the base's line, which a load skips.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import orjson

from shoppulse.kpis.contributions import AT_PROMISED_TIMES, POINT, Steps
from shoppulse.kpis.store_series import StoreSeries
from shoppulse.kpis.windows import LONGEST
from shoppulse.streams.codec import compact
from shoppulse.streams.recency import drop_least_recent

MINUTES_PER_CHUNK = 15
NO_MINUTE = 1 << 62  # later than any minute: no event time seen yet
# Chunks are folded a day behind the longest window (``fold_line``): the day spares the
# base a write for each step of a batch a little late, and a worker whose clock is behind.
FOLD_MARGIN_MINUTES = 1440
# Decoded chunks kept between batches: the chunks traffic touches are those of now and of
# its spans' ends (1 hour, 1, 7 and 30 days on), four or five per store and quarter hour.
CACHE_SIZE = 512
StepKey = tuple[str, str, int, int]  # (kpi, part, width, minute)
SeriesKey = tuple[str, str, int]  # (kpi, part, width)
# "kpi|part|width": a series' name in an encoded chunk (a few hundred series at most),
# kept: formatting every name on every write cost stage three 3,000 instructions an event
# more (75,408 against 72,428; bench/instructions.py --events 20000 --totals-batch 7).
_SERIES_NAMES: dict[SeriesKey, str] = {}


def _series_name(key: SeriesKey) -> str:
    """A series' name in an encoded chunk or base record: "kpi|part|width"."""
    name = _SERIES_NAMES.get(key)
    if name is None:
        name = _SERIES_NAMES[key] = "|".join(map(str, key))
    return name


def _series_key(name: str) -> SeriesKey:
    """The series ``_series_name`` named."""
    kpi, part, width = name.split("|")
    return kpi, part, int(width)


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
        names = _SERIES_NAMES  # the names known already without a call: written every 0.25 s
        series = {names.get(key) or _series_name(key): amounts for key, amounts in self.series.items()}
        value = {"start": self.start, "applied": list(self.applied.items()), "series": series}
        return compact(orjson.dumps(value))  # a table value: kept

    @classmethod
    def decode(cls, raw: bytes) -> Chunk:
        data = orjson.loads(raw)
        if "series" in data:
            series = {_series_key(name): amounts for name, amounts in data["series"].items()}
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


def _event_start(chunk: Chunk) -> int:
    """The chunk's start if it holds a step at an event's time, else NO_MINUTE."""
    if any(kpi not in AT_PROMISED_TIMES for kpi, _, _ in chunk.series):
        return chunk.start
    return NO_MINUTE


@dataclass
class Base:
    """All of a store's steps before minute ``below``, folded: a sum per step series.

    Point series have nothing here: a point behind the longest window counts in no
    window any more (``Ledger.fold`` draws its line behind it)."""

    below: int
    applied: dict[int, int] = field(default_factory=dict)  # source partition → offset
    series: dict[SeriesKey, int] = field(default_factory=dict)
    # The first chunk start with a step at an event's time among the chunks taken in
    # (``Ledger.data_since``); NO_MINUTE if none. A base written before it had none: its line.
    since: int = NO_MINUTE

    def absorb(self, chunk: Chunk) -> None:
        """Take in a chunk wholly before ``below``: its step sums and its source offsets."""
        self.since = min(self.since, _event_start(chunk))
        for (kpi, part, width), amounts in chunk.series.items():
            if width != POINT:
                self.add((kpi, part, width), sum(amounts))
        for partition, offset in chunk.applied.items():
            if offset > self.applied.get(partition, -1):
                self.applied[partition] = offset

    def add(self, key: SeriesKey, amount: int) -> None:
        total = self.series.get(key, 0) + amount
        if total:
            self.series[key] = total
        else:
            self.series.pop(key, None)

    def encode(self) -> bytes:
        """``{"below": minute, "applied": [[partition, offset], …], "series": {"kpi|part|width": sum},
        "since": minute or null}``."""
        series = {_series_name(key): amount for key, amount in self.series.items()}
        value = {"below": self.below, "applied": list(self.applied.items()), "series": series}
        value["since"] = self.since if self.since != NO_MINUTE else None
        return compact(orjson.dumps(value))  # a table value: kept

    @classmethod
    def decode(cls, raw: bytes) -> Base:
        data = orjson.loads(raw)
        series = {_series_key(name): amount for name, amount in data["series"].items()}
        since = data.get("since", data["below"])  # a base written before "since": its line
        return cls(data["below"], dict(data["applied"]), series, NO_MINUTE if since is None else since)


BASE = "base"  # the last part of a base record's key, where a chunk's key has its minute


def chunk_key(store: str, first_minute: int) -> str:
    """A chunk's table key: its store and first minute. Keys written when chunks were an
    hour long hold the hour's number instead, far below any minute of this century, so
    the two never meet; such a chunk still loads (its steps name their own minutes). A
    batch replayed across that upgrade would be applied again: upgrade a drained pipeline."""
    return f"{store}|{first_minute}"


def base_key(store: str) -> str:
    """The table key of a store's base record (``Base``)."""
    return f"{store}|{BASE}"


def parse_chunk_key(key: str) -> tuple[str, int | None]:
    """(store, first minute) of a chunk's key, (store, None) of a base record's; an
    hour's number for chunk keys written by earlier versions."""
    store, start = key.rsplit("|", 1)
    return store, None if start == BASE else int(start)


def fold_line(now: float) -> int:
    """The minute before which a store's chunks are folded into its base at time ``now``
    (seconds): a day behind the longest window, where no point counts any more, at a
    chunk's start."""
    minute = int(now // 60) - LONGEST.minutes - FOLD_MARGIN_MINUTES
    return minute - minute % MINUTES_PER_CHUNK


def _chunk_end(chunk: Chunk) -> int:
    """The first minute after a chunk's last slot (an hour-long chunk of an earlier
    version has more slots than a quarter of an hour)."""
    return chunk.start + max(map(len, chunk.series.values()), default=MINUTES_PER_CHUNK)


def _no_table(key: str) -> bytes | None:
    return None


class Ledger:
    """Chunks (the durable truth) and the series built from them, for the stores owned."""

    def __init__(self, cache_size: int = CACHE_SIZE) -> None:
        self.chunks: dict[str, Chunk] = {}  # decoded, the most recently used last
        self.cache_size = cache_size
        self.stores: dict[str, StoreSeries] = {}
        self.bases: dict[str, Base] = {}  # store → its folded past, once it has one
        # store → the first minute of each of its chunks in the table, decoded or not:
        # what ``fold`` looks through. 8 bytes a chunk (a dict of keys cost about 100, and
        # a store has some 3,000 chunks a month).
        self.chunk_starts: dict[str, array[int]] = {}
        self.leftovers: dict[str, list[str]] = {}  # store → chunks a fold cut short left behind its line
        # store → the first chunk start holding a step at an event's time (``data_since``)
        self.since: dict[str, int] = {}

    def load(self, items: Iterable[tuple[str, bytes]]) -> None:
        """Rebuild from table contents (after recovery or a rebalance): a store's base
        record, if it has one, before its chunks. The last chunks read stay decoded, up to
        twice ``cache_size`` until ``trim``. A chunk behind its store's base line is
        already in the base (a fold was cut short): it is skipped and listed in
        ``leftovers``, and the next ``fold`` deletes it."""
        count = 0
        for key, raw in items:
            store, start = parse_chunk_key(key)
            series = self.stores.setdefault(store, StoreSeries())
            if start is None:
                base = self.bases[store] = Base.decode(raw)
                for series_key, amount in base.series.items():
                    series.add(series_key, base.below - 1, amount)
                self._note_since(store, base.since)
                continue
            chunk = Chunk.decode(raw)
            base = self.bases.get(store)
            if base is not None and _chunk_end(chunk) <= base.below:
                self.leftovers.setdefault(store, []).append(key)
                continue
            self.chunks[key] = chunk
            self._note_chunk(store, start)
            self._note_since(store, _event_start(chunk))
            for (kpi, part, width, minute), amount in chunk.steps():
                series.add((kpi, part, width), minute, amount)
            count += 1
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
        """Apply one tagged batch of steps; return the keys of the chunks (and base
        record) to write.

        Chunks that already hold this source offset (a replay) are left alone. A chunk
        not in memory is read with ``load_chunk`` (the table), or starts empty. A step
        behind the store's base line goes to its base, which skips replays the same way.
        """
        partition, offset = source
        touched: dict[str, Chunk | Base] = {}
        by_start: dict[int, Chunk | Base | None] = {}  # None: the chunk has seen this batch already
        replayed: Steps = {}
        base = self.bases.get(store)
        below = base.below if base is not None else -1
        since = first_since = self.since.get(store, NO_MINUTE)
        for step, amount in steps.items():
            kpi, part, width, minute = step
            start = minute - minute % MINUTES_PER_CHUNK
            if start < since and kpi not in AT_PROMISED_TIMES:
                since = start
            if start in by_start:
                chunk = by_start[start]
            elif start < below:  # folded: the base takes it (the line is a chunk's start)
                chunk = by_start[start] = self._base_for(store, partition, offset, touched)
            else:  # the first step of this chunk in the batch: its chunk, found once
                key = chunk_key(store, start)
                chunk = self.chunks.pop(key, None)
                if chunk is None:
                    raw = load_chunk(key)
                    if raw is not None:
                        chunk = Chunk.decode(raw)
                    else:
                        chunk = Chunk(start)
                        self._note_chunk(store, start)
                self.chunks[key] = chunk  # now the most recently used
                if chunk.applied.get(partition, -1) >= offset:
                    chunk = None
                else:
                    touched[key] = chunk
                by_start[start] = chunk
            if chunk is None:
                replayed[step] = amount
                continue
            if chunk is base:
                if width != POINT:  # a point this old counts in no window
                    chunk.add((kpi, part, width), amount)
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
        if since != first_since:
            self.since[store] = since
        series = self.stores.setdefault(store, StoreSeries())
        if replayed:  # the series gets what the chunks got
            steps = {step: amount for step, amount in steps.items() if step not in replayed}
        series.apply(steps)
        return set(touched)

    def _base_for(
        self, store: str, partition: int, offset: int, touched: dict[str, Chunk | Base]
    ) -> Base | None:
        """The store's base as ``apply`` treats a chunk: None if it has this batch already."""
        base = self.bases[store]
        if base.applied.get(partition, -1) >= offset:
            return None
        touched[base_key(store)] = base
        return base

    def fold(
        self, store: str, below: int, load_chunk: Callable[[str], bytes | None] = _no_table
    ) -> dict[str, bytes | None]:
        """Fold the store's chunks wholly before minute ``below`` (a chunk's start) into
        its base; return the table writes that make it so, in order: the base record,
        then a deletion (None) for each chunk it took in and each leftover of a fold cut
        short. Nothing when there is nothing to fold.

        The caller draws the line behind the longest window, where a point no longer
        counts, and keeps it moving forward only.
        """
        starts = self.chunk_starts.get(store)
        behind = sorted({start for start in starts if start < below}) if starts else []
        folded: dict[str, Chunk | None] = {}
        folded_starts: set[int] = set()
        for start in behind:
            key = chunk_key(store, start)
            chunk = self.chunks.get(key)
            if chunk is None:
                raw = load_chunk(key)
                chunk = Chunk.decode(raw) if raw is not None else None
            if chunk is None or _chunk_end(chunk) <= below:  # not an hour-long one of old, still open
                folded[key] = chunk
                folded_starts.add(start)
        leftovers = self.leftovers.pop(store, [])
        if not folded and not leftovers:
            return {}
        base = self.bases.get(store)
        if base is None:
            base = self.bases[store] = Base(below)
        for key, chunk in folded.items():
            if chunk is not None:
                base.absorb(chunk)
            self.chunks.pop(key, None)
        base.below = max(base.below, below)
        if starts is not None:
            self.chunk_starts[store] = array("q", (s for s in starts if s not in folded_starts))
        writes: dict[str, bytes | None] = {base_key(store): base.encode()}
        writes.update(dict.fromkeys([*folded, *leftovers]))
        return writes

    def data_since(self, store: str) -> int | None:
        """The start of the first chunk holding a step at an event's time (None: none yet):
        how far back the store's events reach here. Steps at a promised time are left out
        (``AT_PROMISED_TIMES``): a promise may lie far before any event."""
        since = self.since.get(store, NO_MINUTE)
        return None if since == NO_MINUTE else since

    def _note_since(self, store: str, start: int) -> None:
        if start < self.since.get(store, NO_MINUTE):
            self.since[store] = start

    def _note_chunk(self, store: str, start: int) -> None:
        starts = self.chunk_starts.get(store)
        if starts is None:
            starts = self.chunk_starts[store] = array("q")
        starts.append(start)

    def value(self, key: str) -> bytes:
        """A chunk's table value: its steps and the source offsets they include (or the
        store's base record)."""
        chunk = self.chunks.get(key)
        if chunk is None:
            store, start = parse_chunk_key(key)
            if start is None:
                return self.bases[store].encode()
            raise KeyError(key)
        return chunk.encode()

    def drop_store(self, store: str) -> None:
        """Forget a store this worker no longer owns (after a rebalance)."""
        self.stores.pop(store, None)
        self.bases.pop(store, None)
        self.chunk_starts.pop(store, None)
        self.leftovers.pop(store, None)
        self.since.pop(store, None)
        prefix = f"{store}|"
        for key in [k for k in self.chunks if k.startswith(prefix)]:
            del self.chunks[key]
