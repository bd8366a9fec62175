"""Stage one sizes its batches by bytes, not by messages: single events and arrays of a
hundred make batches of about the same number of events."""

from __future__ import annotations

from aiokafka import ConsumerRecord, TopicPartition

from shoppulse.streams.app import MIN_MESSAGE_BYTES, next_batch_records

MIB = 1 << 20


def records(*sizes: int | None, partition: int = 0) -> dict[TopicPartition, list[ConsumerRecord]]:
    """A fetch of one partition: records with values of these sizes (None: no value)."""
    tp = TopicPartition("storefront.events", partition)
    return {
        tp: [
            ConsumerRecord(
                tp.topic,
                partition,
                offset,
                0,
                0,
                None,
                None if size is None else b"x" * size,
                None,
                0,
                size or 0,
                (),
            )
            for offset, size in enumerate(sizes)
        ]
    }


def test_single_events_are_asked_for_by_the_thousand_and_arrays_by_the_ten() -> None:
    single = next_batch_records(records(*[250] * 500), MIB)  # 250 bytes an event
    arrays = next_batch_records(records(*[25_000] * 40), MIB)  # a hundred events of 250
    assert (single, arrays) == (4194, 41)
    assert 4_000 <= arrays * 100 <= single <= 4_200  # about the same number of events


def test_the_size_is_the_average_over_every_partition() -> None:
    fetched = records(*[100] * 10) | records(*[300] * 10, partition=1)
    assert next_batch_records(fetched, 200_000) == 1000


def test_empty_and_tiny_messages_count_for_a_floor_and_a_huge_one_for_itself() -> None:
    assert next_batch_records(records(None, 0, 1), MIB) == MIB // MIN_MESSAGE_BYTES
    assert next_batch_records(records(8 * MIB), MIB) == 1  # never none
