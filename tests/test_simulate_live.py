"""The live simulator on the embedded broker: every event arrives, batched per store once a tick."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer

from shoppulse.broker import EmbeddedBroker, free_port
from shoppulse.schemas.stores import load_stores
from shoppulse.simulation.live import TOPIC, simulate
from shoppulse.simulation.network import Network
from shoppulse.simulation.sample import SAMPLE_STORES


async def read_messages(bootstrap: str, events_expected: int) -> list[list[dict[str, object]]]:
    """Every message of the topic, each a JSON array of events, once all events are in."""
    consumer = AIOKafkaConsumer(TOPIC, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    messages: list[list[dict[str, object]]] = []
    try:
        async with asyncio.timeout(30):
            while sum(map(len, messages)) < events_expected:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    messages.extend(orjson.loads(record.value) for record in records)
    finally:
        await consumer.stop()
    return messages


def test_live_events_go_out_once_a_tick_one_message_per_store(tmp_path: Path) -> None:
    stores = load_stores(SAMPLE_STORES)
    rate, seconds, tick = 100.0, 3.0, 0.5

    async def run(bootstrap: str) -> tuple[int, list[list[dict[str, object]]]]:
        sent = await simulate(stores, bootstrap, rate=rate, duration=seconds, profile="typical", tick=tick)
        return sent, await read_messages(bootstrap, sent)

    with EmbeddedBroker(log_path=tmp_path / "broker.log") as broker:
        sent, messages = asyncio.run(run(broker.bootstrap))

    events = [event for message in messages for event in message]
    assert sent == len(events) > 0
    assert len({event["event_id"] for event in events}) == len(events)
    assert all(len({event["store_id"] for event in message}) == 1 for message in messages)
    # Flushed before every wait (before the tick was honoured), the events of this run
    # went out as 97 messages for about 100 events. Once a tick: at most one message per
    # store and tick, plus the last flush.
    ticks = seconds / tick + 2
    assert len(messages) <= len(stores.stores) * ticks, len(messages)


def test_copies_and_late_sends_arrive_and_the_duration_still_bounds_the_run(tmp_path: Path) -> None:
    """Copies reach the topic (the backfill's, sent at once), and a live event sent late is
    sent before the run ends or not at all: ``--duration`` holds."""
    stores = load_stores(SAMPLE_STORES)
    network = Network(retried=0.2, delayed=0.5)

    async def run(bootstrap: str) -> tuple[int, float, list[list[dict[str, object]]]]:
        started = time.monotonic()
        sent = await simulate(
            stores,
            bootstrap,
            rate=50,
            duration=2,
            history=timedelta(minutes=10),
            profile="typical",
            network=network,
        )
        elapsed = time.monotonic() - started
        return sent, elapsed, await read_messages(bootstrap, sent)

    with EmbeddedBroker(log_path=tmp_path / "broker.log") as broker:
        sent, elapsed, messages = asyncio.run(run(broker.bootstrap))

    assert elapsed < 6  # a late send may be due 20 minutes on: it is dropped, not waited for
    ids = [event["event_id"] for message in messages for event in message]
    assert len(ids) == sent > 0
    assert len(set(ids)) < len(ids)  # retried copies, same event id


def test_no_broker_is_one_line_naming_the_address_and_what_to_do() -> None:
    """Not a KafkaConnectionError traceback, nor "Unclosed AIOKafkaProducer": the
    producer whose start failed is closed too."""
    port = free_port()
    command = ["simulate", "--stores", str(SAMPLE_STORES), "--broker", f"127.0.0.1:{port}"]
    done = subprocess.run(
        [sys.executable, "-m", "shoppulse", *command, "--rate", "10", "--duration", "2"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"shoppulse: no Kafka broker answers at 127.0.0.1:{port} (Connect call failed ('127.0.0.1', {port})):"
        " start one (shoppulse broker --port PORT) or pass --broker the host:port of a running one\n"
    )
