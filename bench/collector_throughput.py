"""Collector throughput: accepted events/s for requests of 100 events over loopback,
next to the worker's throughput on what the collector wrote.

    python bench/collector_throughput.py [--events 100000] [--concurrency 8] [--json FILE]

(`--json bench/results/collector.json` is the file docs/benchmarks.md quotes.)

The traffic is the throughput runs' (``common.make_events``: the sample stores'
simulated events), cut into requests of ``--batch-size`` events of one store, each
sent with that store's token. On a fresh embedded broker (Tansu), `shoppulse collector`
runs as a real process with its defaults; this process posts the requests over
``--concurrency`` connections (after a warm-up of other events) and times them from
the first post to the last answer. Every answer comes after Kafka acknowledged the
write (acks=all), so the figure includes the write.

Then what the collector wrote (one message per request) is read back from the topic
and given to one `shoppulse worker`, timed as ``worker_throughput.py`` times it (worker
ready first, then the messages written, until the group's commits reach the end). The
collector must not be the bottleneck: its events/s should exceed the worker's.

On this machine the load generator, the broker and the process measured share two
cores, so the CPU each uses per event is printed too: what the collector costs
whatever its neighbours take.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer

sys.path.insert(0, str(Path(__file__).parent))
import common  # bench/ is a folder of scripts, not a package
from worker_throughput import run_workers

from shoppulse.broker import EmbeddedBroker, free_port, wait_for_port
from shoppulse.ingest.tokens import hash_token
from shoppulse.schemas.stores import load_stores
from shoppulse.streams.worker import ensure_topics

WARMUP_EVENTS = 2_000


def token_for(store: str) -> str:
    return f"bench-token-{store}"


def tokens_file(directory: Path, stores: list[str]) -> Path:
    path = directory / "tokens.yaml"
    lines = [f"  - {{store: {store}, token_sha256: '{hash_token(token_for(store))}'}}" for store in stores]
    path.write_text("tokens:\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


async def post_all(
    url: str, requests: list[common.Message], concurrency: int
) -> tuple[float, list[float], int]:
    """Post every (store, body) request; returns seconds, per-request latencies, events accepted."""
    queue: asyncio.Queue[common.Message] = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)
    latencies: list[float] = []
    accepted = 0

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal accepted
        while not queue.empty():
            store, body = queue.get_nowait()
            headers = {
                "Authorization": f"Bearer {token_for(store.decode())}",
                "Content-Type": "application/json",
            }
            started = time.perf_counter()
            async with session.post(f"{url}/v1/events", data=body, headers=headers) as response:
                answer = await response.json()
                if response.status != 200 or answer["duplicates"]:
                    raise SystemExit(f"unexpected answer {response.status}: {str(answer)[:500]}")
            latencies.append(time.perf_counter() - started)
            accepted += answer["accepted"]

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        return time.perf_counter() - started, latencies, accepted


async def read_topic(bootstrap: str, events: int) -> list[common.Message]:
    """Every message on the events topic, once they hold ``events`` events in all."""
    consumer = AIOKafkaConsumer(common.TOPIC, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    found: list[common.Message] = []
    seen = 0
    deadline = time.monotonic() + 120
    try:
        while seen < events:
            if time.monotonic() > deadline:
                raise SystemExit(f"read {seen:,} events back of {events:,}")
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    found.append((record.key or b"", record.value or b""))
                    seen += len(orjson.loads(record.value or b"[]"))
    finally:
        await consumer.stop()
    return found


def run_collector(
    requests: list[common.Message], warmup: list[common.Message], tmp: Path, concurrency: int
) -> dict:
    """Time the collector on ``requests``; returns its figures and the messages it wrote."""
    stores = common.stores_file(tmp)
    tokens = tokens_file(tmp, [store.id for store in load_stores(stores).stores])
    with EmbeddedBroker(log_path=tmp / "broker-collector.log") as broker:
        asyncio.run(ensure_topics(broker.bootstrap, {common.TOPIC: common.PARTITIONS}))
        port = free_port()
        command = [
            sys.executable, "-m", "shoppulse.cli", "collector", "--stores", str(stores),
            "--tokens", str(tokens), "--port", str(port), "--broker", broker.bootstrap,
        ]  # fmt: skip
        log = (tmp / "collector.log").open("wb")
        collector = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
        try:
            if not wait_for_port("127.0.0.1", port, 20):
                raise SystemExit("the collector did not start")
            url = f"http://127.0.0.1:{port}"
            warmed = asyncio.run(post_all(url, warmup, concurrency))[2]
            cpu_before = common.cpu_seconds(collector.pid)
            broker_before = common.cpu_seconds(broker.pid or 0)
            elapsed, latencies, accepted = asyncio.run(post_all(url, requests, concurrency))
            cpu = common.cpu_seconds(collector.pid) - cpu_before
            broker_cpu = common.cpu_seconds(broker.pid or 0) - broker_before
            written = asyncio.run(read_topic(broker.bootstrap, warmed + accepted))
        finally:
            collector.terminate()
            collector.wait(10)
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "events": accepted,
        "requests": len(latencies),
        "seconds": round(elapsed, 3),  # short runs (the tests) take tens of milliseconds
        "events_per_s": round(accepted / elapsed),
        "latency_p50_s": round(quantiles[49], 4),
        "latency_p99_s": round(quantiles[98], 4),
        "cpu_microseconds_per_event": round(cpu / accepted * 1e6, 1),
        "broker_cpu_microseconds_per_event": round(broker_cpu / accepted * 1e6, 1),
        "messages_written": written,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    events = common.make_events(args.events)
    requests = common.messages(events, args.batch_size)
    warmup = common.messages(common.make_events(WARMUP_EVENTS, seed=1_000), args.batch_size)
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        common.log(f"collector: {len(requests):,} requests of up to {args.batch_size} events")
        collector = run_collector(requests, warmup, tmp, args.concurrency)
        written = collector.pop("messages_written")
        common.log(f"worker: the {len(written):,} messages the collector wrote")
        total = sum(len(orjson.loads(value)) for _, value in written)
        worker = run_workers(written, total, 1, tmp, "collector")

    ratio = collector["events_per_s"] / worker["events_per_s"]
    result = {
        "machine": common.machine(),
        "code": common.code(),
        "started_at": started_at,
        "concurrency": args.concurrency,
        "events_per_request": args.batch_size,
        "collector": collector,
        "worker": {
            "events": total,
            "events_per_s": worker["events_per_s"],
            "seconds": worker["seconds"],
            "cpu_microseconds_per_event": round(worker["worker_cpu_seconds"] / total * 1e6, 1),
        },
        "collector_over_worker": round(ratio, 2),
    }
    c = collector
    print(
        f"collector: {c['events_per_s']:,} events/s accepted ({c['events']:,} events, "
        f"{c['requests']:,} requests, {args.concurrency} connections)"
    )
    print(f"  request latency p50 {c['latency_p50_s'] * 1000:.1f} ms, p99 {c['latency_p99_s'] * 1000:.1f} ms")
    print(
        f"  CPU per event: collector {c['cpu_microseconds_per_event']} µs, "
        f"broker {c['broker_cpu_microseconds_per_event']} µs"
    )
    w = result["worker"]
    print(
        f"worker on the collector's messages: {w['events_per_s']:,} events/s ({total:,} events), "
        f"CPU per event {w['cpu_microseconds_per_event']} µs"
    )
    print(f"collector / worker: {ratio:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
