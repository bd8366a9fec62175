"""The end of a partition, read so that it is right on Tansu too.

Tansu answers ListOffsets(latest) with the base offset of the partition's last record
batch + 1, not the end of the log (NOTES.md). A client asking "have I read everything?"
(Faust's table recovery, our caught-up check) stops short when the last batch holds
more than one record. The high watermark in a Fetch response is right, so this module
fetches the last batch and reads it from there. On Apache Kafka both answers agree.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition

FETCH_TIMEOUT_MS = 2_000
FETCH_ATTEMPTS = 15


async def end_offsets(bootstrap: str, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
    """The offset after the last record of each partition whose end the broker knows.

    A partition the broker answers -1 for (a topic created a moment ago, not yet in
    its metadata) is left out: the caller decides what unknown means.
    """
    wanted = list(partitions)
    if not wanted:
        return {}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        listed = await consumer.end_offsets(wanted)
        ends = {tp: 0 for tp in wanted if listed[tp] == 0}  # empty: nothing to fetch
        pending = [tp for tp in wanted if listed[tp] > 0]
        if pending:
            consumer.assign(pending)
            for tp in pending:
                consumer.seek(tp, listed[tp] - 1)  # the last batch starts here
            for _ in range(FETCH_ATTEMPTS):
                await consumer.getmany(*pending, timeout_ms=FETCH_TIMEOUT_MS, max_records=1)
                for tp in list(pending):
                    if (highwater := consumer.highwater(tp)) is not None:
                        ends[tp] = max(highwater, listed[tp])  # never behind ListOffsets
                        pending.remove(tp)
                if not pending:
                    break
            else:
                raise TimeoutError(f"no fetch answer for {pending} from {bootstrap}")
        return ends
    finally:
        await consumer.stop()
