"""Messages Faust drops after the in-order check passed them are read again.

The in-order consumer counts a message delivered once it lets it through, and Faust's
commit lets one missing offset after the committed one through. So a message Faust
drops between that check and its agent was lost (one message: committed past) or held
the partition's commit back for good (several: a stall). Both were seen in the
join-and-leave test on a loaded host (``docs/reliability.md``), through two doors:

* Faust's fetch loop (``Consumer._drain_messages``) hands a message on only while its
  flow runs: a rebalance that stops the flow during a hand-over cancels it;
* Faust's flow control empties every agent's queue when it resumes, which the end of a
  rebalance does after the partitions were sought and had handed messages over.

Here a real Faust app on the embedded broker drops messages through each door.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import faust
from aiokafka import AIOKafkaProducer
from faust.types import TP

from shoppulse.broker import EmbeddedBroker
from shoppulse.streams.consumer import InOrderApp, InOrderConsumer
from shoppulse.streams.worker import ensure_topics

TOPIC = "handover-in"
RAW = faust.Schema(key_serializer="raw", value_serializer="raw")
PARTITION = TP(TOPIC, 0)


@dataclass
class Probe:
    """A running app with one agent that records the offsets it gets."""

    app: InOrderApp
    producer: AIOKafkaProducer
    got: list[int] = field(default_factory=list)
    gate: asyncio.Event = field(default_factory=asyncio.Event)  # the agent waits at offset 4 until set

    @property
    def consumer(self) -> InOrderConsumer:
        return self.app.consumer  # type: ignore[return-value]

    async def send(self, *values: int) -> None:
        for value in values:
            await self.producer.send_and_wait(TOPIC, b"%d" % value, partition=0)

    async def committed_after_acks(self, offset: int) -> int | None:
        """Commit until the agent's acknowledgements reach ``offset``; the offset committed."""
        for _ in range(100):
            await self.consumer.commit()
            if self.consumer._committed_offset.get(PARTITION) == offset:
                break
            await asyncio.sleep(0.05)
        return self.consumer._committed_offset.get(PARTITION)


@asynccontextmanager
async def probe(bootstrap: str, datadir: Path) -> AsyncIterator[Probe]:
    await ensure_topics(bootstrap, {TOPIC: 1})
    app = InOrderApp(
        "handover",
        broker=f"kafka://{bootstrap}",
        store="memory://",
        datadir=str(datadir),
        topic_partitions=1,
        topic_replication_factor=1,
        broker_session_timeout=2,
        broker_heartbeat_interval=0.5,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
    )
    app.read_in_order([TOPIC])
    app.fetch_wait = 0.05
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    running = Probe(app, producer)

    async def record(stream: faust.StreamT) -> None:
        async for event in stream.events():
            running.got.append(event.message.offset)
            if event.message.offset == 4:
                await running.gate.wait()

    app.agent(app.topic(TOPIC, schema=RAW, partitions=1), name="record")(record)
    await producer.start()
    await app.start()
    try:
        yield running
    finally:
        await producer.stop()
        await app.stop()


async def until(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def hand_over_cancelled(bootstrap: str, datadir: Path) -> tuple[list[int], int, int | None]:
    async with probe(bootstrap, datadir) as running:
        running.gate.set()
        await running.send(0, 1, 2, 3, 4)
        await until(lambda: running.got == [0, 1, 2, 3, 4])
        consumer, app = running.consumer, running.app
        app.flow_control.suspend()  # the next hand-over waits
        await running.send(5)
        await until(lambda: consumer.next_offsets.get(PARTITION) == 6)  # offset 5 passed the check
        await asyncio.sleep(0.1)
        consumer.stop_flow()  # as a rebalance starts: the waiting hand-over is cancelled
        await asyncio.sleep(0.1)
        consumer.resume_flow()  # and carries on without a seek
        app.flow_control.resume()
        await running.send(6, 7, 8, 9)
        await until(lambda: 9 in running.got)
        return running.got, consumer.rehandovers, await running.committed_after_acks(10)


async def queue_cleared(bootstrap: str, datadir: Path) -> tuple[list[int], int, int | None]:
    async with probe(bootstrap, datadir) as running:
        await running.send(0, 1, 2, 3, 4)
        await until(lambda: running.got == [0, 1, 2, 3, 4])  # the agent waits at offset 4
        await running.send(5, 6)
        consumer = running.consumer
        await until(lambda: consumer.next_offsets.get(PARTITION) == 7)  # 5 and 6 handed over, queued
        running.app.flow_control.resume()  # as the end of a rebalance does: the queue is emptied
        running.gate.set()
        await running.send(7)
        await until(lambda: 7 in running.got)
        return running.got, consumer.requeued, await running.committed_after_acks(8)


def test_a_hand_over_cancelled_by_a_stopped_flow_is_read_again(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    got, rehandovers, committed = asyncio.run(hand_over_cancelled(broker.bootstrap, tmp_path))
    assert rehandovers == 1  # the drop happened, and was seen
    assert sorted(set(got)) == list(range(10)), got  # offset 5 too, once the flow ran again
    assert committed == 10


def test_messages_cleared_from_a_queue_are_read_again(broker: EmbeddedBroker, tmp_path: Path) -> None:
    got, requeued, committed = asyncio.run(queue_cleared(broker.bootstrap, tmp_path))
    assert requeued == 1  # one partition read again from offset 5
    assert sorted(set(got)) == list(range(8)), got
    assert committed == 8  # not held at 5 by the two that were never acknowledged
