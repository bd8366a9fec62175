"""Collector throughput: accepted events/s for batches of 100 events over loopback.

Starts the embedded broker (Tansu) and `shoppulse collector` as a real process, then
posts pre-built batches from this process with a few concurrent connections and
reports accepted events per second and request latency. Every figure includes the
Kafka write (acks=all) the collector awaits before answering.

    .venv/bin/python bench/collector_throughput.py [--batches 400] [--concurrency 8]

Then, in the same run, a `shoppulse worker` consumes exactly what the collector wrote
(one message per store per request) and the ratio of the two rates is printed: the
collector must not be the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import orjson
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shoppulse.broker import EmbeddedBroker, free_port, wait_for_port
from shoppulse.ingest.tokens import hash_token

sys.path.insert(0, str(Path(__file__).parent))
from worker_throughput import run_worker  # bench/ is a folder of scripts, not a package

STORES = "stores:\n  - {id: bench-store, vertical: smart_home, currency: USD}\n"
TOKEN = "bench-token"


def make_batch(size: int) -> bytes:
    events = []
    recent = (datetime.now(UTC) - timedelta(hours=1)).isoformat()  # inside every window but 1h
    for i in range(size):
        common = {"event_id": str(uuid.uuid4()), "store_id": "bench-store", "ts": recent}
        if i % 5 == 4:
            items = [{"sku": "HUB-2", "category": "hub", "quantity": 1, "unit_price": "129.00"}]
            events.append(
                {**common, "type": "order", "order_id": f"o-{i}", "currency": "USD", "items": items}
            )
        else:
            events.append({**common, "type": "visit", "visit_id": f"v-{i}"})
    return orjson.dumps(events)


async def create_topic(bootstrap: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic("storefront.events", partitions, 1)])
    finally:
        await admin.close()


async def post_all(url: str, bodies: list[bytes], concurrency: int) -> tuple[float, list[float], int]:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    accepted = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:

        async def worker() -> None:
            nonlocal accepted
            while not queue.empty():
                body = queue.get_nowait()
                started = time.perf_counter()
                async with session.post(f"{url}/v1/events", data=body) as response:
                    answer = await response.json()
                    if response.status != 200:
                        raise SystemExit(f"unexpected answer {response.status}: {answer}")
                latencies.append(time.perf_counter() - started)
                accepted += answer["accepted"] - answer["duplicates"]

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies, accepted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder, EmbeddedBroker() as broker:
        stores, tokens = Path(folder, "stores.yaml"), Path(folder, "tokens.yaml")
        stores.write_text(STORES, encoding="utf-8")
        tokens.write_text(f"tokens:\n  - {{store: bench-store, token_sha256: '{hash_token(TOKEN)}'}}\n")
        asyncio.run(create_topic(broker.bootstrap, args.partitions))
        port = free_port()
        command = [
            sys.executable, "-m", "shoppulse.cli", "collector", "--stores", str(stores),
            "--tokens", str(tokens), "--port", str(port), "--broker", broker.bootstrap, "--no-idempotence",
        ]  # fmt: skip
        collector = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if not wait_for_port("127.0.0.1", port, 20):
                raise SystemExit("the collector did not start")
            url = f"http://127.0.0.1:{port}"
            warmup = [make_batch(args.batch_size) for _ in range(20)]
            asyncio.run(post_all(url, warmup, args.concurrency))
            bodies = [make_batch(args.batch_size) for _ in range(args.batches)]
            elapsed, latencies, accepted = asyncio.run(post_all(url, bodies, args.concurrency))
        finally:
            collector.terminate()
            collector.wait(10)
        worker_seconds = run_worker(
            broker.bootstrap, args.partitions, "collector-bench", Path(folder), stores
        )

    per_second = accepted / elapsed
    quantiles = statistics.quantiles(latencies, n=100)
    print(f"machine: {os.cpu_count()} CPUs; broker: embedded Tansu (memory), {args.partitions} partitions")
    print(
        f"load: {args.batches} requests x {args.batch_size} events (1 in 5 an order), "
        f"{args.concurrency} concurrent connections over loopback"
    )
    print(f"accepted events/s: {per_second:,.0f}  ({accepted:,} events in {elapsed:.2f} s)")
    print(f"requests/s: {len(latencies) / elapsed:,.0f}")
    print(f"latency per request: p50 {quantiles[49] * 1000:.1f} ms, p99 {quantiles[98] * 1000:.1f} ms")
    # The worker's time includes its start (about 1.5 s) and the warm-up batches.
    worker_per_second = (accepted + 20 * args.batch_size) / worker_seconds
    print(f"worker events/s on the same messages: {worker_per_second:,.0f} (one worker, start included)")
    print(f"collector / worker: {per_second / worker_per_second:.1f}x")


if __name__ == "__main__":
    main()
