"""How Tansu's CPU grows with the record batches it holds (not part of ``make bench``).

    python bench/broker_batches.py [--rate 4600] [--seconds 60] [--linger-ms 5 100]

For each linger, on a fresh embedded broker (memory storage): one aiokafka producer
sends ``--rate`` one-record messages a second (300 bytes, 8 partitions), one consumer
reads and commits them. Every 10 s it prints the broker's share of a core. A short
linger makes many small record batches; a long one, few large ones. On these machines
the broker's CPU climbed with the number of batches it held (docs/streaming.md), which
is why the worker's producer batches more than Faust's default.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import common
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shoppulse.broker import EmbeddedBroker
from shoppulse.streams.worker import ensure_topics

PAYLOAD = b"x" * 300
REPORT_EVERY = 10.0


async def run(bootstrap: str, broker_pid: int, rate: float, seconds: float, linger_ms: int) -> list[float]:
    """The broker's share of a core in each 10 s of the run."""
    await ensure_topics(bootstrap, {common.TOPIC: common.PARTITIONS})
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=linger_ms)
    consumer = AIOKafkaConsumer(
        common.TOPIC,
        bootstrap_servers=bootstrap,
        group_id="broker-batches",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
    )
    await producer.start()
    await consumer.start()

    async def consume() -> None:
        while True:
            if await consumer.getmany(timeout_ms=200):
                await consumer.commit()

    reading = asyncio.create_task(consume())
    shares: list[float] = []
    try:
        started = last = time.monotonic()
        cpu_last = common.cpu_seconds(broker_pid)
        sent = 0
        while (now := time.monotonic()) - started < seconds:
            due = int((now - started) * rate)
            while sent < due:
                await producer.send(common.TOPIC, PAYLOAD, key=str(sent % 50).encode())
                sent += 1
            await asyncio.sleep(0.005)
            if now - last >= REPORT_EVERY:
                cpu = common.cpu_seconds(broker_pid)
                shares.append((cpu - cpu_last) / (now - last))
                common.log(f"linger {linger_ms} ms, {now - started:4.0f} s: broker {shares[-1]:.2f} cores")
                cpu_last, last = cpu, now
    finally:
        reading.cancel()
        await producer.stop()
        await consumer.stop()
    return shares


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=4600)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--linger-ms", type=int, nargs="+", default=[5, 100])
    args = parser.parse_args()
    for linger in args.linger_ms:
        with TemporaryDirectory() as tmp, EmbeddedBroker(log_path=Path(tmp) / "broker.log") as broker:
            shares = asyncio.run(run(broker.bootstrap, broker.pid or 0, args.rate, args.seconds, linger))
        print(f"linger {linger} ms: broker cores per 10 s: {', '.join(f'{s:.2f}' for s in shares)}")


if __name__ == "__main__":
    main()
