"""Stage two's steps leave the producer at once, whatever its linger.

``send_held_batches`` reaches into aiokafka (it has no public call for this): this test
fails, rather than the worker silently slowing down, if an aiokafka upgrade moves it.
"""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaProducer
from faust.transport.drivers import aiokafka as aiokafka_driver

from shoppulse.broker import EmbeddedBroker
from shoppulse.streams.app import send_held_batches
from shoppulse.streams.worker import ensure_topics

LINGER_S = 5.0


async def seconds_to_deliver(bootstrap: str, send_now: bool) -> float:
    await ensure_topics(bootstrap, {"send-now": 1})
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=int(LINGER_S * 1000))
    await producer.start()
    try:
        started = time.perf_counter()
        delivery = await producer.send("send-now", b"step", partition=0)
        if send_now:
            assert send_held_batches(producer)
        await asyncio.wait_for(delivery, timeout=2 * LINGER_S)
        return time.perf_counter() - started
    finally:
        await producer.stop()


def test_held_batches_go_out_without_waiting_for_the_linger(broker: EmbeddedBroker) -> None:
    assert asyncio.run(seconds_to_deliver(broker.bootstrap, send_now=True)) < 1.0


def test_without_it_the_linger_is_waited_out(broker: EmbeddedBroker) -> None:
    # The baseline: what the worker would wait per batch without send_held_batches.
    assert asyncio.run(seconds_to_deliver(broker.bootstrap, send_now=False)) >= LINGER_S * 0.9


def test_the_worker_finds_the_aiokafka_producer_inside_fausts() -> None:
    # StreamApp._deliver_now reads it from Faust's producer (faust-streaming 0.15.3).
    assert "_producer" in vars(aiokafka_driver.Producer)


def test_a_producer_that_is_not_aiokafkas_is_left_alone() -> None:
    assert send_held_batches(None) is False
