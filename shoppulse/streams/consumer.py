"""Faust's consumer, made to hand stages two and three their input strictly in order.

Faust (faust-streaming 0.15.3) can commit past input its agents never processed. When
the next message it reads from a partition is more than one offset ahead of the last
one, it records the offsets in between as a *gap*, and gaps count as acknowledged
when it computes the offset to commit (``Consumer._drain_messages``, ``_add_gap``,
``_new_offset``). That is meant for compacted topics and transaction markers; around a
rebalance, messages fetched for the old assignment, or a position the broker never
sought to (``seek_to_committed`` skips offset 0), open such a gap in ordinary topics,
and the group's committed offset jumps over messages no worker will ever read again
(measured: stores missing a fifth to a half of their orders; ``docs/reliability.md``).

Our internal topics (``<app>-keyed``, ``<app>-store-steps``) are neither compacted nor
transactional, so their offsets have no holes. This consumer therefore lets a message of
those topics through only if it is the next one after the last it let through, counted
from the committed offset at the latest assignment:

* an earlier offset was delivered already (or belongs to an old fetch): dropped;
* a later offset means something in between went missing: dropped, and the partition
  is sought back to the offset it expects, so the missing messages are fetched again;
* a partition not (yet) positioned after an assignment delivers nothing.

Every message that reaches an agent is then contiguous with the last, Faust never sees
a gap, and the offset it commits is one its agents processed (Faust commits only a
contiguous run of acknowledged offsets). Replays are harmless: stage two drops repeated
event ids and stage three repeated source offsets.

Positioning races with reading, so five more rules (each from a measured loss or stall):

* Seeks are serialised (``_positioning``) and a seek back always goes to the position
  expected *now*: a stale seek that lands after a reassignment's own could leave the
  fetcher past the end of the log, reading nothing and seeking nowhere (a stall).
* After an assignment the expected offsets are set before the partitions are sought
  there, not after: what a fetch brings back between a seek and that moment would be
  dropped as not positioned while the fetcher moved on past it, and nothing would seek
  it back (a stall: a restarted worker never read some partitions again).
* The expected offsets are read live, not from a copy taken when a fetch started: a
  fetch begun before a reassignment finishes under the new positions.
* Faust drops a message below its own "read offset" (``_drain_messages``), which a
  callback finishing after a seek can leave too high. Each message let through moves
  that offset to itself, so Faust takes whatever this consumer passes; otherwise a
  message counted as delivered here was dropped there, and Faust's commit (which lets
  one missing offset after the committed one through) skipped it.
* Faust hands a message on only while its flow runs: a rebalance that stops the flow
  during a hand-over cancels it. A message let through that Faust neither holds nor has
  acknowledged afterwards is expected again and fetched again. Otherwise one such message
  is lost (Faust's commit lets it through), and several hold the partition's commit back
  for good (``_new_offset`` waits for them). ``tests/streams/test_handover.py`` drops one.
* Faust's flow control empties every agent's queue when it resumes, and the end of a
  rebalance resumes it after the partitions were sought, when messages may be queued
  already (``Recovery._resume_streams``). The app's flow control tells this consumer
  what a clear drops, and those offsets are read again (``on_cleared``). Before, the
  new owner of a partition could process from five offsets on and never commit again:
  the stall of the join-and-leave test.

Under ``exactly_once`` the producer writes transaction markers, which take offsets:
there the check is off and Faust's gap handling is what it relies on.

It also sets how long a fetch may wait on the broker (``WorkerSettings.fetch_wait``),
which Faust fixes at 1.5 s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import faust
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP, Message
from mode.utils.objects import cached_property
from mode.utils.queues import FlowControlEvent

log = logging.getLogger(__name__)


class InOrderConsumer(aiokafka_driver.Consumer):
    """Faust's aiokafka consumer; see the module docstring for what it adds."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.next_offsets: dict[TP, int] = {}  # next offset to deliver, per watched partition
        self.reseeks = 0  # how often a missing run was fetched again (tests read it)
        self.rehandovers = 0  # how often a message Faust dropped after this check was read again
        self.requeued = 0  # how often messages cleared from the agents' queues were read again
        self._positioning = asyncio.Lock()  # one seek (or assignment's positioning) at a time
        self._seeks_back: set[asyncio.Future[None]] = set()  # scheduled by ``on_cleared``

    def _new_consumer_thread(self) -> aiokafka_driver.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    @property
    def in_order_topics(self) -> frozenset[str]:
        return getattr(self.app, "in_order_topics", frozenset())

    async def perform_seek(self) -> None:
        """Position every watched partition explicitly, at its committed offset.

        Faust calls this after each assignment, just before the flow resumes (and when a
        fetch comes back while the flow is stopped). Its own seek skips partitions
        committed at 0 or never (``seek_to_committed``); here they are sought to the
        start of the log, so that what was fetched meanwhile cannot decide where reading
        starts. Nothing of a watched partition is delivered until its position is set.
        """
        async with self._positioning:
            self.next_offsets = {}
            await super().perform_seek()
            watched = self.in_order_topics
            partitions = [tp for tp in self.assignment() if tp.topic in watched]
            committed = {tp: self._committed_offset.get(tp) for tp in partitions}
            never = [tp for tp, offset in committed.items() if not offset]  # Faust keeps 0 as None
            starts = await self.earliest_offsets(*never) if never else {}
            positions = {tp: offset or max(starts.get(tp) or 0, 0) for tp, offset in committed.items()}
            # Expected before the seeks, not after: a fetch that comes back between a
            # partition's seek and this line would be dropped as not positioned, with its
            # fetcher already at the end of what it read and nothing to seek it back (a
            # stall: the partition never delivered again, 2026-11-24).
            self.next_offsets = positions
            for tp, offset in positions.items():
                await self._seek_in_thread(tp, offset)

    async def _seek_back(self, tp: TP) -> None:
        """Fetch ``tp`` again from the offset expected now (if it is still expected)."""
        async with self._positioning:
            expected = self.next_offsets.get(tp)
            if expected is not None:
                await self._seek_in_thread(tp, expected)

    async def _seek_in_thread(self, tp: TP, offset: int) -> None:
        """Faust's ``seek``, run on the consumer's own thread.

        Faust's ``seek`` calls aiokafka from the caller's thread, racing the consumer
        thread's fetch (measured: a ``KeyError`` in aiokafka's fetcher that stopped the
        worker).
        """
        thread = self._thread
        await thread.call_thread(thread.seek, tp, offset)
        self._read_offset[tp] = offset if offset else None  # as Faust's ``seek`` does

    def on_cleared(self, dropped: Mapping[TP, int]) -> None:
        """Faust's flow control dropped handed-over messages from the agents' queues
        (``dropped``: the earliest offset per partition): expect those again, and fetch
        them again."""
        next_offsets = self.next_offsets
        for tp, offset in dropped.items():
            expected = next_offsets.get(tp)
            if expected is not None and offset < expected:
                next_offsets[tp] = offset
                self.requeued += 1
                log.info("%s: offsets from %d were cleared unprocessed: reading again from there", tp, offset)
                seek = asyncio.ensure_future(self._seek_back(tp))
                self._seeks_back.add(seek)
                seek.add_done_callback(self._seeks_back.discard)

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        for tp in revoked:
            self.next_offsets.pop(tp, None)
        await super().on_partitions_revoked(revoked)

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:
        watched = self.in_order_topics
        read_offsets = self._read_offset
        sought: set[TP] = set()  # at most one seek per partition and fetch
        async for tp, message in super().getmany(timeout):
            if tp.topic not in watched:
                yield tp, message
                continue
            next_offsets = self.next_offsets  # live: a reassignment replaces it
            expected = next_offsets.get(tp)
            offset = message.offset
            if expected is None or offset < expected:
                continue  # not positioned since the last assignment, or delivered already
            if offset > expected:
                if tp not in sought:
                    sought.add(tp)
                    self.reseeks += 1
                    log.info("%s: read %d, expected %d: reading again from there", tp, offset, expected)
                    await self._seek_back(tp)
                continue
            next_offsets[tp] = offset + 1
            read_offsets[tp] = offset  # Faust's own check passes exactly this message
            try:
                yield tp, message
            finally:
                # Faust hands a message on to its agent only while the flow runs
                # (``_drain_messages``): a rebalance that stops the flow meanwhile
                # cancels the hand-over, and the message is gone, unprocessed and never
                # acknowledged. Expected again, it is read again.
                dropped = message.refcount == 0 and not message.acked and self.next_offsets is next_offsets
                if dropped:
                    next_offsets[tp] = offset
            if dropped:
                self.rehandovers += 1
                log.info("%s: offset %d was not handed on: reading again from there", tp, offset)
                if tp not in sought:
                    sought.add(tp)
                    await self._seek_back(tp)


class _ConsumerThread(aiokafka_driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Read by aiokafka when the consumer starts (it builds its fetcher then); Faust
        # passes a fixed 1.5 s and offers no setting.
        consumer._fetch_max_wait_ms = int(getattr(self.app, "fetch_wait", 1.5) * 1000)
        return consumer


class InOrderTransport(aiokafka_driver.Transport):
    Consumer = InOrderConsumer


class _ReportingFlowControl(FlowControlEvent):
    """Faust's flow control, telling the consumer which messages a clear drops."""

    def __init__(self, app: InOrderApp, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.app = app

    def clear(self) -> None:
        dropped: dict[TP, int] = {}
        watched = self.app.in_order_topics
        for queue in self._queues:
            for item in queue._queue:  # type: ignore[attr-defined]
                message = getattr(item, "message", None)  # a queued event
                if message is not None and message.topic in watched:
                    tp = message.tp
                    dropped[tp] = min(message.offset, dropped.get(tp, message.offset))
        super().clear()
        if dropped:  # only then: asking for the consumer before it exists would make it
            consumer = self.app.consumer
            if isinstance(consumer, InOrderConsumer):
                consumer.on_cleared(dropped)


class InOrderApp(faust.App):
    """A Faust app whose consumer reads ``in_order_topics`` strictly in order."""

    in_order_topics: frozenset[str] = frozenset()
    fetch_wait: float = 1.5  # seconds, Faust's own

    def read_in_order(self, topics: Iterable[str]) -> None:
        self.in_order_topics = frozenset(topics)

    @cached_property
    def flow_control(self) -> FlowControlEvent:
        """Faust's flow control, whose ``resume`` empties every agent's queue: at the end
        of a rebalance, after the partitions were sought and may have handed messages
        over already. Those are read again (``InOrderConsumer.on_cleared``)."""
        return _ReportingFlowControl(self, loop=self.loop)

    def _new_transport(self) -> Any:
        return InOrderTransport(self.conf.broker_consumer, self)
