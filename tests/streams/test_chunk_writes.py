"""Stage three shows a batch at once but writes its chunks, and lets its input be
committed, only at its next chunk write (``SHOPPULSE_TOTALS_FLUSH_INTERVAL``)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from aiokafka import TopicPartition

from shoppulse.broker import EmbeddedBroker
from shoppulse.streams import worker as worker_module
from shoppulse.streams.app import changelog_topic, steps_topic
from shoppulse.streams.offsets import end_offsets
from tests.streams.support import (
    exported,
    figures_after_restart,
    produce,
    reference,
    start_worker,
    wait_until,
)
from tests.streams.traffic import traffic

APP = "writes"
PARTITIONS = 4  # start_worker's
# No chunk write falls due while the test looks: not by time, nor by the number of
# chunks waiting (a write is due when they would fill the ledger's cache).
HOLD = {"SHOPPULSE_TOTALS_FLUSH_INTERVAL": "300", "SHOPPULSE_CHUNK_CACHE": "1000000"}


def chunk_records(bootstrap: str) -> int:
    topic = changelog_topic(APP, "store-chunks")
    ends = asyncio.run(end_offsets(bootstrap, [TopicPartition(topic, p) for p in range(PARTITIONS)]))
    return sum(ends.values())


def stage_three_committed(bootstrap: str) -> bool:
    """The Faust group has committed everything of the store-steps topic."""
    return asyncio.run(worker_module.caught_up(bootstrap, APP, [steps_topic(APP)]))


def test_figures_show_at_once_and_a_crash_before_the_chunk_write_replays_them(
    tmp_path: Path, broker: EmbeddedBroker, stores_file: Path
) -> None:
    events, messages, _ = traffic(3_000, seed=5)
    expected = reference(tmp_path, stores_file, events)
    worker = start_worker(tmp_path, stores_file, broker.bootstrap, APP, env=HOLD)
    try:
        produce(broker.bootstrap, "storefront.events", messages)
        wait_until(lambda: exported([worker]) == expected, 120, worker.tail)
        # Applied and exported, but not written nor acknowledged: a crash now loses
        # nothing that a replay of stage three's input does not bring back.
        assert chunk_records(broker.bootstrap) == 0
        assert not stage_three_committed(broker.bootstrap)
    finally:
        worker.kill(signal.SIGKILL)
    assert figures_after_restart(tmp_path, stores_file, broker.bootstrap, APP, "after") == expected
    assert chunk_records(broker.bootstrap) > 0
    assert stage_three_committed(broker.bootstrap)
