"""CPU a changelog record costs the producer: one ``send`` each, or one record batch.

    python bench/producer_records.py [--records 50000] [--rounds 3]

On a fresh embedded broker, one aiokafka producer (the worker's linger and batch size)
writes the same records (entity-sized keys and values, 500 to a partition at a time, as
stage two writes a batch's entities) twice per round: through ``send``, a future and
the accumulator's checks per record, as the worker did before; and through
``create_batch`` / ``send_batch``, one batch filled and handed over whole, by the
worker's own ``send_as_batches`` (what ``StreamApp._send_records`` calls). Each way is
timed in process CPU seconds up to its ``flush`` and printed per record.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import orjson
from aiokafka import AIOKafkaProducer

from shoppulse.broker import EmbeddedBroker
from shoppulse.streams.app import send_as_batches
from shoppulse.streams.worker import ensure_topics

TOPIC = "producer-records"
PARTITIONS = 4
PER_WRITE = 500  # records of one table write (one partition)
VALUE = b'[["0|smart-a|o1",[1795000000,"ev-1",5,34824,null]],null,{"o1":[1795000000]}]'


async def per_record(producer: AIOKafkaProducer, keys: list[bytes]) -> float:
    started = time.process_time()
    for first in range(0, len(keys), PER_WRITE):
        partition = first // PER_WRITE % PARTITIONS
        for key in keys[first : first + PER_WRITE]:
            await producer.send(TOPIC, VALUE, key=key, partition=partition)
        await asyncio.sleep(0)
    await producer.flush()
    return time.process_time() - started


async def batched(producer: AIOKafkaProducer, keys: list[bytes]) -> float:
    started = time.process_time()
    for first in range(0, len(keys), PER_WRITE):
        partition = first // PER_WRITE % PARTITIONS
        records = [(key, VALUE) for key in keys[first : first + PER_WRITE]]
        await send_as_batches(producer, TOPIC, partition, records)
        await asyncio.sleep(0)
    await producer.flush()
    return time.process_time() - started


async def run(bootstrap: str, records: int, rounds: int) -> None:
    await ensure_topics(bootstrap, {TOPIC: PARTITIONS})
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=50, max_batch_size=1 << 20)
    await producer.start()
    try:
        for round_ in range(rounds):
            keys = [orjson.dumps(f"1|smart-a|c{round_}-{i}") for i in range(records)]
            one, whole = await per_record(producer, keys), await batched(producer, keys)
            print(
                f"round {round_ + 1}: send {one / records * 1e6:.2f} µs a record; "
                f"one record batch {whole / records * 1e6:.2f} µs a record"
            )
    finally:
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with EmbeddedBroker() as broker:
        asyncio.run(run(broker.bootstrap, args.records, args.rounds))


if __name__ == "__main__":
    main()
