"""Worker throughput on the embedded broker, next to a plain consumer of the same messages.

    python bench/worker_throughput.py [--events 100000] [--batch 1 100]

For each message shape (one event per message; a JSON array of 100 events), the input
topic is filled first, then timed:

* **baseline**: a plain aiokafka consumer that only fetches and decodes (orjson) every
  message: the ceiling for any Python consumer here;
* **worker**: `shoppulse worker` (memory tables) from its first fetch until its group has
  committed every message of all three stages.

Prints one JSON line per shape and a table; figures are events per second of wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shoppulse.broker import EmbeddedBroker, free_port
from shoppulse.schemas.stores import load_stores
from shoppulse.simulation import generate_events
from shoppulse.streams.worker import caught_up, consumed_topics, worker_command

SAMPLES = Path(__file__).resolve().parents[1] / "shoppulse" / "samples" / "stores.yaml"
TOPIC = "storefront.events"


def make_events(count: int) -> list[bytes]:
    """Simulated traffic of the last day (so nothing is late), one JSON object each."""
    stores = load_stores(SAMPLES)
    start = datetime.now(UTC) - timedelta(hours=23)
    events = generate_events(
        stores, start=start, duration=timedelta(hours=22), rate=count / (22 * 3600), profile="typical", seed=7
    )
    return [orjson.dumps(e) for _, e in zip(range(count), events, strict=False)]


async def fill(bootstrap: str, events: list[bytes], per_message: int, partitions: int) -> int:
    from shoppulse.streams.worker import ensure_topics

    await ensure_topics(bootstrap, {TOPIC: partitions})
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=10, max_batch_size=1 << 20)
    await producer.start()
    messages = 0
    try:
        pending = []
        for start in range(0, len(events), per_message):
            chunk = events[start : start + per_message]
            value = chunk[0] if per_message == 1 else b"[" + b",".join(chunk) + b"]"
            pending.append(await producer.send(TOPIC, value))
            messages += 1
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return messages


async def plain_consumer(bootstrap: str, messages: int) -> float:
    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"baseline-{time.time()}",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen, started = 0, None
    try:
        while seen < messages:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            if started is None and batch:
                started = time.perf_counter()
            for records in batch.values():
                for record in records:
                    orjson.loads(record.value)
                    seen += 1
    finally:
        await consumer.stop()
    return time.perf_counter() - (started or time.perf_counter())


def run_worker(bootstrap: str, partitions: int, app_id: str, tmp: Path, stores: Path = SAMPLES) -> float:
    """Seconds from starting `shoppulse worker` until its group has committed everything."""
    env = {**os.environ, "SHOPPULSE_APP_ID": app_id}
    command = worker_command(stores, bootstrap, free_port(), tmp / app_id, partitions)
    started = time.perf_counter()
    worker = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=(tmp / f"{app_id}.log").open("wb"), env=env
    )
    topics = consumed_topics(app_id, TOPIC)
    try:
        while not asyncio.run(caught_up(bootstrap, app_id, topics)):
            if worker.poll() is not None:
                raise SystemExit(f"worker exited: {(tmp / f'{app_id}.log').read_text()[-2000:]}")
            time.sleep(0.5)
        return time.perf_counter() - started
    finally:
        worker.terminate()
        worker.wait(20)


def measure(events: list[bytes], per_message: int, partitions: int, tmp: Path) -> dict[str, float | int]:
    with EmbeddedBroker(log_path=tmp / "broker.log") as broker:
        messages = asyncio.run(fill(broker.bootstrap, events, per_message, partitions))
        baseline = asyncio.run(plain_consumer(broker.bootstrap, messages))
        worker = run_worker(broker.bootstrap, partitions, f"bench{per_message}", tmp)
    return {
        "events_per_message": per_message,
        "events": len(events),
        "messages": messages,
        "plain_consumer_events_per_s": round(len(events) / baseline),
        "worker_events_per_s": round(len(events) / worker),
        "worker_seconds_incl_start": round(worker, 2),
        "ratio_to_plain_consumer": round(baseline / worker, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    events = make_events(args.events)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for per_message in args.batch:
            result = measure(events, per_message, args.partitions, Path(tmp))
            result["machine"] = machine
            print(json.dumps(result), flush=True)
            results.append(result)
    print(
        "\n| events/message | plain consumer events/s | worker events/s | worker / plain |\n|---|---|---|---|"
    )
    for r in results:
        figures = (r["events_per_message"], r["plain_consumer_events_per_s"], r["worker_events_per_s"])
        print("| {} | {:,} | {:,} |".format(*figures), f"{r['ratio_to_plain_consumer']:.1%} |")


if __name__ == "__main__":
    main()
