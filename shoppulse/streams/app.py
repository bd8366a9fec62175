"""The worker: three stages on three topics, their tables, and what they count.

::

    storefront.events ──route──▶ <app>-keyed ──joins──▶ <app>-store-steps ──totals──▶ /metrics
         (any key)      stage 1    (by order,   stage 2    (by store)          stage 3
                                   customer,
                                   visit, id)

Every stage reads batches of messages and writes each table key at most once per batch
(stage three: once per few batches): a changelog record per key and batch, not per event.

* **route** (stateless; a plain aiokafka consumer in group ``<app>-route``, since Faust's
  per-message cost would cap single-event input): validate, dead-letter the bad, late
  and future events, address work items to the partition owning their key
  (``router``), many events per message.
* **joins** (Faust agent; tables ``entities`` and ``seen``): dedupe by event id and run
  the engine's entities (``joins``). Steps go to the store's partition of stage three,
  one message per input message and store, tagged with the input message's partition
  and offset, and are delivered *before* this stage writes its state.
* **totals** (Faust agent; table ``store-chunks``): apply tagged steps once per chunk
  (``ledger``), export the owned stores' KPIs (``export.collector``). The chunks a
  batch changed are written every ``totals_flush_interval`` (a quarter of a second),
  not after every batch; the batches' input is acknowledged only once they are.

Faust flushes the producer (and so every changelog record) before it commits offsets,
and a batch is acknowledged only when its body has run (stage three: when its chunks are
written): state is durable before the input it came from is skipped on a restart.
Stages two and three get their input strictly in offset order
(``consumer.InOrderConsumer``): Faust would otherwise commit past messages skipped
around a rebalance.

Each stage's table is partitioned like its input topic, so a worker that owns a
partition owns its state; Faust restores it from the changelog on assignment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import faust
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError
from faust.streams import _current_event
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.types import TP

from shoppulse.config import WorkerSettings
from shoppulse.kpis.store_series import StoreSeries
from shoppulse.schemas.stores import Store
from shoppulse.streams.codec import changelog_key, compact, step_batch_from_wire, step_batch_to_wire
from shoppulse.streams.consumer import InOrderApp
from shoppulse.streams.joins import JoinStage, parse_seen_record_key, seen_record_key
from shoppulse.streams.ledger import Ledger, fold_line, parse_chunk_key
from shoppulse.streams.metrics import WorkerMetrics
from shoppulse.streams.offsets import end_offsets
from shoppulse.streams.router import DAY, Routed, Router, partition_for
from shoppulse.streams.storage import BUDGET_OPTION, store_url

log = logging.getLogger(__name__)

MAX_ITEMS = 1000  # work items per message: keeps messages far below Kafka's size limit
# Input messages up to this size are fetched and dead-lettered whole (Kafka's default
# limit is 1 MB; a dead letter adds headers to the original bytes).
MAX_MESSAGE_BYTES = 8 << 20
MAX_DEAD_LETTER_BYTES = MAX_MESSAGE_BYTES - (64 << 10)
RAW = faust.Schema(key_serializer="raw", value_serializer="raw")
# Tables: str keys (JSON keeps them str after a restore), values as bytes we encode.
TABLE = faust.Schema(key_serializer="json", value_serializer="raw")
# Faust's RocksDB store remembers which partition's database holds each key it read or
# wrote last, 1,000 keys per table by default, each as the JSON bytes of the key: orjson
# hands back its 4 KiB working buffer (``codec.compact``), so the three tables' indexes
# could hold 12 MiB, and filled slowly (tracemalloc: 8 MiB of such keys four minutes into
# a run at constant rate). Stages two and three read and write through the current
# event's partition (``_as_if_from``), which needs no index; a delete without one asks
# each partition's database.
KEY_INDEX_SIZE = 16


class TrueEndRecovery(Recovery):
    """Faust's table recovery, reading each changelog to its true end.

    Faust reads a changelog up to the end ListOffsets reports; Tansu reports the start
    of the last record batch + 1, so a restore would stop short of the newest records
    (``offsets``). Under transactions Faust reads to the last stable offset instead.
    """

    async def _build_highwaters(
        self, consumer: Any, tps: set[TP], destination: Counter[TP], title: str
    ) -> None:
        await super()._build_highwaters(consumer, tps, destination, title)
        if tps and not self.app.in_transaction:
            url = self.app.conf.broker[0]
            ends = await end_offsets(f"{url.host}:{url.port}", [TopicPartition(*tp) for tp in tps])
            for tp, end in ends.items():  # assigned: a Counter's update() would add
                destination[TP(tp.topic, tp.partition)] = end - 1  # Faust's own "- 1"


class QuickStartTableManager(TableManager):
    """Recovery to the true end, without the one-second sleep Faust's TableManager
    takes before recovery starts (0.15.3)."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = TrueEndRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery

    async def on_start(self) -> None:
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()


def route_group(app_id: str) -> str:
    """The consumer group of stage one (the Faust app's own group is ``app_id``)."""
    return f"{app_id}-route"


def keyed_topic(app_id: str) -> str:
    """Stage two's input: work items keyed by join key."""
    return f"{app_id}-keyed"


def steps_topic(app_id: str) -> str:
    """Stage three's input: steps keyed by store."""
    return f"{app_id}-store-steps"


TABLES = ("entities", "seen", "store-chunks")  # stage two's two tables, stage three's one


def changelog_topic(app_id: str, table: str) -> str:
    """The topic Faust keeps a table's changelog in."""
    return f"{app_id}-{table}-changelog"


def faust_settings(settings: WorkerSettings) -> dict[str, Any]:
    return {
        "broker": f"kafka://{settings.broker}",
        "store": settings.state_store,
        "datadir": str(settings.data_dir),
        "topic_partitions": settings.partitions,
        "topic_replication_factor": 1,
        "table_standby_replicas": settings.standby_replicas,
        "broker_session_timeout": settings.session_timeout,
        "broker_heartbeat_interval": settings.heartbeat_interval,
        "consumer_auto_offset_reset": "earliest",
        "processing_guarantee": "exactly_once" if settings.exactly_once else "at_least_once",
        "producer_linger": settings.producer_linger,
        "table_key_index_size": KEY_INDEX_SIZE,
        "producer_max_request_size": MAX_MESSAGE_BYTES,
        # Few, large record batches: Tansu's cost grows with the batches it holds (config.py).
        "producer_max_batch_size": 1 << 20,
        "web_enabled": False,
        "TableManager": QuickStartTableManager,
    }


class StreamApp:
    """The worker's Faust app and the state it owns, ready to run."""

    def __init__(self, settings: WorkerSettings, stores: Mapping[str, Store], metrics: WorkerMetrics) -> None:
        self.settings = settings
        self.stores = dict(stores)
        self.metrics = metrics
        partitions = settings.partitions
        self.router = Router(stores, partitions, future_tolerance=settings.future_tolerance_seconds)
        self.joins = JoinStage(stores, partitions)
        self.entities_pruned_day = 0  # the day (of ``_prune_entities``' line) last pruned for
        self.ledger = Ledger(settings.chunk_cache)
        self.owned_stores: set[str] = set()
        # Stage three's batches applied since its chunks were last written: the chunk keys
        # changed, per partition, and the events they came from, not yet acknowledged.
        self.unwritten_chunks: dict[int, set[str]] = {}
        self.unwritten_events: list[faust.EventT] = []
        self.unwritten_since = 0.0  # time.monotonic() of the first batch among them
        self.fold_lines: dict[int, int] = {}  # partition → the last fold line drawn in it
        self.totals_lock = asyncio.Lock()  # a batch and a write of its chunks, one at a time

        app = self.app = InOrderApp(settings.app_id, **faust_settings(settings))
        self.dead_letters = app.topic(settings.dead_letter_topic, schema=RAW)
        self.keyed = app.topic(keyed_topic(settings.app_id), schema=RAW, partitions=partitions)
        self.store_steps = app.topic(steps_topic(settings.app_id), schema=RAW, partitions=partitions)
        app.fetch_wait = settings.fetch_wait
        if not settings.exactly_once:  # transaction markers take offsets (``consumer``)
            app.read_in_order([self.keyed.get_topic_name(), self.store_steps.get_topic_name()])
        self.entities, self.seen, self.chunks = (self._table(name) for name in TABLES)

        self.route_consumer: AIOKafkaConsumer | None = None
        self.route_error: BaseException | None = None
        self.route_offsets: dict[TopicPartition, int] = {}  # next offset, per input partition
        self.route_settling: asyncio.Future[None] | None = None  # the last batch's commit
        app.task(self._route)
        app.agent(self.keyed, name="joins")(self._join)
        app.agent(self.store_steps, name="totals")(self._totals)
        app.task(self._write_chunks_when_quiet)
        app.on_partitions_revoked.connect(self._on_revoked)
        app.on_rebalance_complete.connect(self._on_rebalance_complete)

    def _table(self, name: str) -> faust.Table:
        # The types matter as well as the schema: Faust derives the changelog topic's
        # serializers (and so what a restore after a restart decodes) from them.
        rocksdb = self.settings.state_store.startswith("rocksdb")
        return self.app.Table(
            name,
            schema=TABLE,
            key_type=str,
            value_type=bytes,
            partitions=self.settings.partitions,
            # One memory budget for every RocksDB database of the process (``storage``).
            store=store_url(name) if rocksdb else None,
            options={BUDGET_OPTION: self.settings.rocksdb_memory} if rocksdb else None,
        )

    # --- stage 1 ------------------------------------------------------------------------

    async def _route(self) -> None:
        """Stage one on a plain consumer: fetch, route, deliver, then commit.

        Stateless, so it needs none of Faust's tables, and skipping Faust's per-message
        machinery (measured ~70 µs a message, against ~2 µs for aiokafka) is what lets
        single-event messages through at speed. Its own group, ``<app>-route``, spreads
        the input partitions over the workers; offsets are committed only after what a
        batch produced is delivered, so a crash replays it (stage two drops the repeats).
        """
        settings = self.settings
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.broker,
            group_id=route_group(settings.app_id),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=int(settings.session_timeout * 1000),
            heartbeat_interval_ms=int(settings.heartbeat_interval * 1000),
            max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
            fetch_max_wait_ms=int(settings.fetch_wait * 1000),
        )
        in_flight = asyncio.Lock()  # held while a fetched batch is routed and sent
        consumer.subscribe([settings.input_topic], listener=_FinishBeforeRevoke(self, in_flight))
        self.route_consumer = consumer
        await consumer.start()
        try:
            await self._route_forever(consumer, in_flight)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self.route_error = exc  # /healthz turns red: the input is no longer read
            log.exception("stage one stopped")
            raise
        finally:
            self.route_consumer = None
            await consumer.stop()

    async def _route_forever(self, consumer: AIOKafkaConsumer, in_flight: asyncio.Lock) -> None:
        """Route batch after batch; a batch settles (delivered, then committed) while the
        next one is fetched and routed, so stage one does not sit through two round trips
        per batch. One batch settles at a time, in order."""
        settings = self.settings
        while True:
            fetched = await consumer.getmany(timeout_ms=1000, max_records=settings.batch_size)
            if not fetched:
                settling = self.route_settling
                if settling is not None and settling.done():
                    settling.result()  # a failed delivery or commit stops stage one
                continue
            previous = self.route_settling
            async with in_flight:  # a rebalance waits until the batch has been handed over
                routed = Routed()
                dead = routed.dead
                for records in fetched.values():
                    for record in records:
                        refused = len(dead)
                        self.router.route_message(record.value, record.timestamp, routed)
                        for letter in dead[refused:]:  # rare: a slice of nothing otherwise
                            letter.source = (record.topic, record.partition, record.offset)
                sends = await self._send(routed)
                offsets = {tp: records[-1].offset + 1 for tp, records in fetched.items()}
                self.route_settling = asyncio.ensure_future(self._settle(previous, sends, offsets, consumer))
            if previous is not None:
                await previous  # at most one batch settling while the next is routed

    async def _settle(
        self,
        previous: asyncio.Future[None] | None,
        sends: list[asyncio.Future[Any]],
        offsets: dict[TopicPartition, int],
        consumer: AIOKafkaConsumer,
    ) -> None:
        """Commit a batch's input once everything it produced is delivered, after the
        batch before it."""
        if previous is not None:
            await previous
        for pending in sends:
            await pending
        self.route_offsets.update(offsets)
        with contextlib.suppress(CommitFailedError):  # moved already: replayed there
            await consumer.commit(offsets)

    async def _send(self, routed: Routed) -> list[asyncio.Future[Any]]:
        """Hand a batch's output to the producer; the futures resolve on delivery."""
        sends = [
            await self.keyed.send(value=orjson.dumps(items), partition=partition)
            for partition, items in routed.messages(MAX_ITEMS)
        ]
        for dead in routed.dead:
            rejection = dead.rejection
            reason = rejection.reason.value.encode()
            headers = {
                "shoppulse-reason": reason,
                "shoppulse-path": rejection.path.encode(),
                "shoppulse-message": rejection.message.encode(),
            }
            headers.update(dead.source_headers())  # names the refused event exactly
            raw = dead.raw
            if len(raw) > MAX_DEAD_LETTER_BYTES:  # a copy must fit in one produce request
                headers["shoppulse-truncated-from"] = str(len(raw)).encode()
                raw = raw[:MAX_DEAD_LETTER_BYTES]
            # Keyed by reason: an empty input record (no key, no value) is still a record.
            sends.append(await self.dead_letters.send(key=reason, value=raw, headers=headers))
            self.metrics.rejected(rejection.reason.value)
        return sends

    def route_lag(self) -> Iterator[tuple[str, int, int]]:
        """Messages behind on the input partitions stage one owns."""
        consumer = self.route_consumer
        if consumer is None:
            return
        for tp in sorted(consumer.assignment()):
            end = consumer.highwater(tp)
            if end is not None:
                yield tp.topic, tp.partition, max(end - self.route_offsets.get(tp, 0), 0)

    # --- stage 2 ------------------------------------------------------------------------

    async def _join(self, stream: Any) -> None:
        settings = self.settings
        async for events in stream.take_events(settings.batch_size, within=settings.batch_within):
            with _acked_only_when_done(events):
                await self._join_batch(events)

    async def _join_batch(self, events: list[faust.EventT]) -> None:
        settings, joins = self.settings, self.joins
        sends = []
        entity_writes: dict[int, dict[str, bytes]] = {}  # input partition → key → value
        seen_writes: dict[int, dict[str, int]] = {}  # input partition → new id → day
        load_entity = _reader(self.entities)
        for event in events:
            message = event.message
            with _as_if_from(event):  # reads the one RocksDB database of its partition
                joined = joins.handle(orjson.loads(message.value), load_entity)
            source = (message.partition, message.offset)
            for store, steps in joined.steps.items():
                value = step_batch_to_wire(source, store, steps, joined.produced_ms[store])
                partition = partition_for(store, settings.partitions)
                sends.append(await self.store_steps.send(value=value, partition=partition))
            for partition, items in joined.forwards.items():
                sends.append(await self.keyed.send(value=orjson.dumps(items), partition=partition))
            entity_writes.setdefault(message.partition, {}).update(joined.entity_writes)
            seen_writes.setdefault(message.partition, {}).update(joined.seen_writes)
            self.metrics.joined(joined.events, joined.duplicates)
        self._deliver_now()
        for pending in sends:
            await pending  # stage three has the steps before this stage's state moves on
        records: dict[str, dict[str, int]] = {}
        for partition, last in _last_event_per_partition(events).items():
            await self._write(self.entities, last, entity_writes[partition])  # each entity once
            if seen_writes[partition]:  # and one seen record per partition and batch
                key = seen_record_key(partition, last.message.offset)
                records[key] = seen_writes[partition]
                ids = compact(orjson.dumps(seen_writes[partition]))  # a table value: kept
                await self._write(self.seen, last, {key: ids})
        joins.remember(records)
        await self._forget_old_ids()
        await self._prune_entities()

    async def _forget_old_ids(self, *, after_reset: bool = False) -> None:
        """Forget the event ids no copy can reach this stage with any more: once a day,
        after a batch, and after each rebalance.

        Stage one refuses an event older than the longest window (``router.lateness``), so
        a copy of an event of day d is refused once day d + 1 has started that long ago. A
        day more covers copies still in the keyed topic. The seen records left with only
        such ids are deleted, a tombstone on the changelog each, so a restore skips them.
        """
        horizon = int(time.time()) - self.router.lateness
        before = horizon // DAY - 1
        if before <= self.joins.forgotten_before and not after_reset:
            return
        expired = self.joins.forget_before(before)
        log.info("dedupe: forgot the ids of days before %d; deleted %d seen records", before, len(expired))
        await self._delete(self.seen, [(key, parse_seen_record_key(key)[0]) for key in expired])

    async def _prune_entities(self) -> None:
        """Delete the entities no event can reach any more, once a day, after a batch.

        Stage one refuses an event older than the longest window (``router.lateness``),
        and an entity looks back at most the longest window from an event's time (the
        attribution horizon): an entity whose every fact is older than both, and a day
        more, can change no KPI again. The reference engine drops such entities in its
        daily sweep; here each is deleted with a tombstone on the changelog, so the
        table, and a restore, no longer grow with every order, customer and visit ever
        seen. The scan yields to the event loop now and then: a million entities take a
        few seconds, and stage one's consumer must keep its heartbeats. It runs inside a
        batch, so no other batch of this stage changes an entity meanwhile, and a
        rebalance waits for it.
        """
        before = int(time.time()) - self.router.lateness - self.joins.attribution_seconds - DAY
        if before // DAY <= self.entities_pruned_day:
            return
        self.entities_pruned_day = before // DAY
        prunable, expired = self.joins.prunable, []
        for count, (key, raw) in enumerate(self.entities.data.items(), 1):
            if prunable(key, raw, before):
                expired.append(key)
            if count % 5_000 == 0:
                await asyncio.sleep(0)
        self.joins.forget_entities(expired)
        log.info("entities: deleted %d whose facts are all before %d", len(expired), before)
        partitions = self.settings.partitions
        await self._delete(self.entities, [(key, partition_for(key, partitions)) for key in expired])

    def _deliver_now(self) -> None:
        """Send what the producer holds now: stage two waits for its steps to be
        delivered before it moves on, so a linger long enough to spare the broker
        (``producer_linger``) would otherwise be waited out once per batch (at 50 ms, a
        sixth of the single-event throughput). Under transactions, the linger is waited."""
        if not self.settings.exactly_once:
            send_held_batches(getattr(self.app.producer, "_producer", None))

    # --- stage 3 ------------------------------------------------------------------------

    async def _totals(self, stream: Any) -> None:
        settings = self.settings
        async for events in stream.take_events(settings.batch_size, within=settings.batch_within):
            for event in events:
                event.message.incref()  # acknowledged once its chunks are written (_write_chunks)
            async with self.totals_lock:
                self._totals_batch(events)  # raises: the batch stays unacknowledged, read again
                if not self.unwritten_events:
                    self.unwritten_since = time.monotonic()
                self.unwritten_events += events
                if self._chunks_due():
                    await self._write_chunks()

    def _totals_batch(self, events: list[faust.EventT]) -> None:
        """Apply a batch's steps to the ledger (and so to what /metrics shows)."""
        touched = self.unwritten_chunks
        now = time.time()
        load_chunk = _reader(self.chunks)
        for event in events:
            source, store, steps, produced_ms = step_batch_from_wire(event.message.value)
            with _as_if_from(event):  # a chunk read back comes from its partition's database
                keys = self.ledger.apply(store, steps, source, load_chunk)
            touched.setdefault(event.message.partition, set()).update(keys)
            self.metrics.exported(now - produced_ms / 1000)

    def _chunks_due(self) -> bool:
        """Write now: the oldest unwritten batch is a flush interval old, or the chunks to
        write would fill the ledger's cache (an unwritten chunk is never let go)."""
        waited = time.monotonic() - self.unwritten_since
        pending = sum(map(len, self.unwritten_chunks.values()))
        return waited >= self.settings.totals_flush_interval or pending >= self.ledger.cache_size

    async def _write_chunks(self) -> None:
        """Write every chunk changed since the last time, once, then acknowledge the
        batches that changed them.

        A chunk holds the source offsets it applied (``ledger``), so a batch read again
        after a crash between two writes skips the chunks that have it and applies the rest.
        Written after every batch, as stage three first did, its chunks cost a third of its
        instructions an event: inside the worker its batches hold seven messages on
        average, and most touch the same chunks (``bench/instructions.py --totals-batch``).
        """
        touched, events = self.unwritten_chunks, self.unwritten_events
        self.unwritten_chunks, self.unwritten_events = {}, []
        line = fold_line(time.time())
        for partition, last in _last_event_per_partition(events).items():
            keys = touched.get(partition, ())
            values: dict[str, bytes | None] = {key: self.ledger.value(key) for key in keys}
            if self.fold_lines.get(partition) != line:  # a quarter of an hour has passed
                self.fold_lines[partition] = line
                values.update(await self._fold(partition, line, last))
            await self._write(self.chunks, last, values)  # each chunk once
        self.ledger.trim()  # the chunks are in the table now
        message_out = self.app.sensors.on_message_out
        for event in events:  # the last reference (take_events dropped its own), as Stream.ack
            if event.ack():
                message = event.message
                message_out(message.tp, message.offset, message)

    async def _fold(self, partition: int, line: int, event: faust.EventT) -> dict[str, bytes | None]:
        """Fold the chunks behind ``line`` of the partition's stores into their bases
        (``Ledger.fold``): the writes, a base record before the deletions it allows.

        A quarter of an hour's line takes in a chunk or so per store. The first fold after
        an upgrade, or a long stop, reads every chunk behind the line: it yields to the
        event loop after each store, so stage one's consumer keeps its heartbeats. The
        caller holds ``totals_lock``: no batch of stage three runs meanwhile."""
        writes: dict[str, bytes | None] = {}
        load_chunk = _reader(self.chunks)
        partitions = self.settings.partitions
        for store in [s for s in self.owned_stores if partition_for(s, partitions) == partition]:
            with _as_if_from(event):
                writes.update(self.ledger.fold(store, line, load_chunk))
            await asyncio.sleep(0)
        if writes:
            folded = sum(value is None for value in writes.values())
            log.info("store chunks: folded %d behind minute %d in partition %d", folded, line, partition)
        return writes

    async def _write_chunks_when_quiet(self) -> None:
        """Write what the last batches changed when no batch comes to do it: at the end
        of the traffic, and while a rebalance waits for every message to be acknowledged."""
        interval = self.settings.totals_flush_interval
        while True:
            await asyncio.sleep(max(interval / 2, 0.01))
            if self.unwritten_events and self._chunks_due():
                async with self.totals_lock:
                    if self.unwritten_events:
                        await self._write_chunks()

    # --- table writes -------------------------------------------------------------------

    async def _write(
        self, table: faust.Table, event: faust.EventT, values: Mapping[str, bytes | None]
    ) -> None:
        """Write ``values`` to ``table`` and its changelog, as if from ``event``, in their
        order; a value None deletes its key (a tombstone on the changelog).

        What ``table[key] = value`` does, minus Faust's producer buffer: that buffer costs
        a task switch and a future per record, and was a fifth of the worker's time. The
        records go out as one record batch (``_send_records``); Faust still flushes the
        producer, and so these records, before it commits.
        """
        store = table.data
        with _as_if_from(event):  # the partition (and RocksDB database) of the write
            for key, value in values.items():
                if value is not None:
                    store[key] = value
                else:
                    with contextlib.suppress(KeyError):  # memory:// raises for a missing key
                        del store[key]
        topic = table.changelog_topic.get_topic_name()
        records = [(changelog_key(key), value) for key, value in values.items()]
        await self._send_records(topic, event.message.partition, records)

    async def _delete(self, table: faust.Table, keys: list[tuple[str, int]]) -> None:
        """Delete each (key, changelog partition) of ``keys`` from ``table``, with a
        tombstone on its changelog. No current event: RocksDB deletes each key in every
        partition's database (``_write`` deletes in one, as if from an event)."""
        store = table.data
        tombstones: dict[int, list[tuple[bytes, None]]] = {}  # changelog partition → records
        for key, partition in keys:
            with contextlib.suppress(KeyError):  # memory:// raises for a missing key
                del store[key]
            tombstones.setdefault(partition, []).append((changelog_key(key), None))
        topic = table.changelog_topic.get_topic_name()
        for partition, records in tombstones.items():
            await self._send_records(topic, partition, records)

    async def _send_records(
        self, topic: str, partition: int, records: Sequence[tuple[bytes, bytes | None]]
    ) -> None:
        """Produce (key, value) records to one partition, in their order, as record
        batches built here.

        aiokafka's ``send`` makes a future per record and runs the accumulator's checks:
        6.1 to 6.5 µs a record here, against 1.6 µs for a batch filled and handed over whole
        (``send_batch``; ``bench/producer_records.py`` on Tansu, 2026-11-24), and stage
        two writes a changelog record for about every other event. Nothing waits for
        these deliveries: Faust flushes the producer, and so these batches, before it
        commits. Under transactions each record goes through Faust's ``send``, as before.
        """
        producer = self.app.producer
        kafka: AIOKafkaProducer | None = getattr(producer, "_producer", None)
        if kafka is None or self.settings.exactly_once:
            for key, value in records:
                await producer.send(topic, key, value, partition, None, None)
            return
        await send_as_batches(kafka, topic, partition, records)

    # --- ownership ----------------------------------------------------------------------

    def owned(self) -> Mapping[str, StoreSeries]:
        """The series of the stores whose stage-three partition this worker owns."""
        return {store: series for store, series in self.ledger.stores.items() if store in self.owned_stores}

    def data_since(self) -> dict[str, int]:
        """Per owned store, the earliest event time (seconds) its series hold (``Ledger.data_since``)."""
        minutes = {store: self.ledger.data_since(store) for store in self.owned_stores}
        return {store: minute * 60 for store, minute in minutes.items() if minute is not None}

    async def _on_revoked(self, app: faust.App, revoked: set[TP], **_: Any) -> None:
        self.owned_stores = set()  # export nothing until the new assignment is restored
        # Faust waited for every message to be acknowledged, so stage three wrote its
        # chunks meanwhile. Should any be left, they are dropped unwritten and their input
        # unacknowledged: it is read again, and the ledger is rebuilt from the table.
        self.unwritten_chunks, self.unwritten_events = {}, []

    async def _on_rebalance_complete(self, app: faust.App, **_: Any) -> None:
        """Tables are restored: rebuild the owned stores' series from their chunks."""
        topic = self.store_steps.get_topic_name()
        mine = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}
        owned = {s for s in self.stores if partition_for(s, self.settings.partitions) in mine}
        self.ledger = Ledger(self.settings.chunk_cache)
        self.fold_lines = {}  # the new ledger folds at its first write
        # A store's base record before its chunks (``Ledger.load``): found by key first.
        bases = [key for key in self.chunks if _owned(key, owned, base=True)]
        self.ledger.load((key, self.chunks.data[key]) for key in bases)
        self.ledger.load((key, raw) for key, raw in self.chunks.items() if _owned(key, owned, base=False))
        self.ledger.trim()
        for store in owned:
            self.ledger.stores.setdefault(store, StoreSeries())
        self.owned_stores = owned
        self.joins.reset(self.seen.items())
        await self._forget_old_ids(after_reset=True)  # a record restored may be old


class _FinishBeforeRevoke(ConsumerRebalanceListener):
    """A rebalance waits for stage one's batches in flight to be delivered and committed,
    so the partition's next owner does not route (and dead-letter) them a second time."""

    def __init__(self, stream_app: StreamApp, in_flight: asyncio.Lock) -> None:
        self.stream_app = stream_app
        self.in_flight = in_flight

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self.in_flight:
            settling = self.stream_app.route_settling
        if settling is not None:
            with contextlib.suppress(Exception):  # stage one's loop reports its own failure
                await asyncio.shield(settling)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        pass


@contextmanager
def _acked_only_when_done(events: list[faust.EventT]) -> Iterator[None]:
    """Let ``take_events`` acknowledge a batch only if its body ran to the end.

    Faust's ``take_events`` acks a batch in a ``finally``: also when the body was
    cancelled half-way (a worker stopping) or failed, and the offsets are committed as
    the consumer stops. One reference more per message while the body runs, dropped only
    when it completes, leaves such a batch unacknowledged: it is read again, where the
    last commit left off, by whoever owns the partition next.
    """
    for event in events:
        event.message.incref()
    yield  # no ``finally``: an exception or a cancellation keeps the references
    for event in events:
        event.message.decref()


async def send_as_batches(
    producer: AIOKafkaProducer, topic: str, partition: int, records: Sequence[tuple[bytes, bytes | None]]
) -> None:
    """Hand (key, value) records to ``producer`` for one partition, in their order, as
    record batches filled here (a new one when one is full), without waiting for delivery."""
    batch = producer.create_batch()
    for key, value in records:
        if batch.append(key=key, value=value, timestamp=None) is None:  # full: send it
            await producer.send_batch(batch, topic, partition=partition)
            batch = producer.create_batch()
            batch.append(key=key, value=value, timestamp=None)  # a first record always fits
    if batch.record_count():
        await producer.send_batch(batch, topic, partition=partition)


def send_held_batches(producer: AIOKafkaProducer | None) -> bool:
    """Close the producer's open record batches and wake its sender: they go out now
    instead of when their linger ends. False if this aiokafka does not allow it.

    This is the first half of what aiokafka does before a transaction commits
    (``MessageAccumulator.flush_for_commit``), without waiting for the deliveries;
    aiokafka has no public call for it (0.14), so the test suite checks it still works.
    """
    accumulator = getattr(producer, "_message_accumulator", None)
    batches = getattr(accumulator, "_batches", None)
    wakeup = getattr(accumulator, "_waiter_future", None)
    if batches is None or wakeup is None:
        return False
    for held in batches.values():
        for batch in held:
            batch._builder.close()
    if not wakeup.done():
        wakeup.set_result(None)
    return True


def _reader(table: faust.Table) -> Callable[[str], bytes | None]:
    """``table.get`` from the table's store itself. Faust's Table adds a sensor call and,
    for a key it does not hold (every new entity), a KeyError raised and caught: 2.6 µs a
    miss against 0.7 (``memory://``, measured 2026-11-23). The current event still picks
    the RocksDB database (``_as_if_from``), as it does through the Table."""
    return table.data.get  # type: ignore[no-any-return]


def _owned(key: str, stores: set[str], *, base: bool) -> bool:
    """A key of the store-chunks table of one of ``stores``: a base record's, or a chunk's."""
    store, start = parse_chunk_key(key)
    return store in stores and (start is None) == base


def _last_event_per_partition(events: list[faust.EventT]) -> dict[int, faust.EventT]:
    return {event.message.partition: event for event in events}


@contextmanager
def _as_if_from(event: faust.EventT) -> Iterator[None]:
    """Table reads and writes as if from ``event``: Faust picks a write's changelog
    partition and RocksDB database from the current event, and a read's database too.
    ``take_events`` leaves none set, and a read without one asked every partition's
    database (eight for a new key) before it found the key or gave up. An item's entity
    is in its message's partition: items are keyed by entity (``router``)."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)
