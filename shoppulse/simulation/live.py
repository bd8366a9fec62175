"""The simulator on the wire: generated events sent to Kafka as their time comes.

A backfill of ``history`` (events from the recent past, sent at once) gives the
longer windows something to show from the first minute; then events are sent when
the clock reaches their time, batched per store every ``tick`` seconds, the way a
busy storefront's producer batches them.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from shoppulse.kafka_client import start_client
from shoppulse.schemas.stores import Stores
from shoppulse.simulation.generator import generate_events
from shoppulse.simulation.network import PERFECT, Network, deliveries

TOPIC = "storefront.events"


async def simulate(
    stores: Stores,
    bootstrap: str,
    *,
    rate: float,
    duration: float,
    profile: str,
    history: timedelta = timedelta(0),
    seed: int = 1,
    topic: str = TOPIC,
    tick: float = 0.5,
    on_sent: Callable[[int], None] | None = None,
    stop: threading.Event | None = None,
    network: Network = PERFECT,
) -> int:
    """Send events until ``duration`` seconds of live time have passed, or ``stop`` is set
    (by another thread, while the broker is still up); return the count sent (retried
    copies included). ``network`` sends some twice and some late (``simulation.network``)."""
    now = datetime.now(UTC)
    start = now - history
    events = generate_events(
        stores,
        start=start,
        duration=history + timedelta(seconds=duration),
        rate=rate,
        profile=profile,
        seed=seed,
    )
    sends = deliveries(events, network, seed)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    await start_client(producer, bootstrap)
    sent = 0
    clock = asyncio.get_running_loop().time
    flushed_at = clock()
    try:
        pending: dict[str, list[dict[str, Any]]] = defaultdict(list)
        next_send = next(sends, None)
        deadline = now + timedelta(seconds=duration)  # late and retried sends past it are dropped
        while next_send is not None and not (stop is not None and stop.is_set()):
            due, next_event = next_send
            if due > deadline:
                break
            wait = (due - datetime.now(UTC)).total_seconds()
            if wait > 0:
                # Once a tick, not before every wait: at a few events a second that sent
                # each event as a record batch of its own, and Tansu's every request costs
                # more with each batch it holds (docs/streaming.md).
                if clock() - flushed_at >= tick:
                    sent += await _flush(producer, topic, pending)
                    flushed_at = clock()
                    if on_sent:
                        on_sent(sent)
                await asyncio.sleep(min(wait, tick))
                continue
            pending[next_event["store_id"]].append(next_event)
            if len(pending[next_event["store_id"]]) >= 500:
                sent += await _flush(producer, topic, pending)
            next_send = next(sends, None)
        sent += await _flush(producer, topic, pending)
    finally:
        await producer.stop()
    return sent


async def _flush(producer: AIOKafkaProducer, topic: str, pending: dict[str, list[dict[str, Any]]]) -> int:
    count = 0
    futures = []
    for store, batch in pending.items():
        if batch:
            futures.append(await producer.send(topic, orjson.dumps(batch), key=store.encode()))
            count += len(batch)
    pending.clear()
    if futures:
        await asyncio.gather(*futures)
    return count
