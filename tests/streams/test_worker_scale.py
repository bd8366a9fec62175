"""Many events, several workers, a crash: /metrics stays equal to `shoppulse report`."""

from __future__ import annotations

import signal
from pathlib import Path

import orjson

from shoppulse.broker import EmbeddedBroker
from shoppulse.streams.router import dead_letter_source
from tests.ingest.ingest_support import read_topic
from tests.streams.support import (
    exported,
    figures_after_restart,
    produce,
    reference,
    start_worker,
    total,
    wait_settled,
    wait_until,
)
from tests.streams.traffic import traffic


def test_two_workers_on_four_partitions_equal_the_reference(
    tmp_path: Path, broker: EmbeddedBroker, stores_file: Path
) -> None:
    events, messages, unique = traffic(100_000, seed=11)
    workers = [start_worker(tmp_path, stores_file, broker.bootstrap, "scale", name=f"w{i}") for i in (1, 2)]
    try:
        produce(broker.bootstrap, "storefront.events", messages)
        wait_settled(workers, broker.bootstrap, "scale")
        applied = sum(total(w.scrape(), "shoppulse_events_total") for w in workers)
        got = exported(workers)
        owners = [
            {
                dict(labels)["store"]
                for (name, labels), _ in w.scrape().items()
                if name == "shoppulse_kpi_denominator"
            }
            for w in workers
        ]
        rejected = sum(total(w.scrape(), "shoppulse_events_rejected_total") for w in workers)
        duplicates = sum(total(w.scrape(), "shoppulse_events_duplicate_total") for w in workers)
    finally:
        for worker in workers:
            worker.kill()
    assert got == reference(tmp_path, stores_file, events)
    assert all(owners)  # both workers own stores
    assert not owners[0] & owners[1]  # and no store is exported twice
    assert applied >= unique  # a replay after a rebalance may count an event twice; KPIs stay exact
    assert duplicates >= len(events) // 100  # exact unless a stage replayed after a rebalance
    # Every invalid event is kept, once per input position. Under load a worker can miss
    # its session timeout, and the input it had routed but not yet committed is routed
    # again (by it or by the other worker): those dead letters are written, and counted,
    # again. The source headers name each one exactly, so the copies can be told apart.
    letters = read_topic(broker.bootstrap, "storefront.events.dlq")
    assert rejected == len(letters)
    by_source = {dead_letter_source(letter.headers): letter.value for letter in letters}
    assert len(by_source) == len(events) // 100
    assert all(orjson.loads(value)["event_id"].startswith("bad-") for value in by_source.values())


def test_sigkill_mid_stream_loses_and_doubles_nothing(
    tmp_path: Path, broker: EmbeddedBroker, stores_file: Path
) -> None:
    events, messages, unique = traffic(30_000, seed=12)
    worker = start_worker(tmp_path, stores_file, broker.bootstrap, "crash")
    half = len(messages) // 2
    produce(broker.bootstrap, "storefront.events", messages[:half])
    wait_until(lambda: total(worker.scrape(), "shoppulse_events_total") > unique // 8, 120, worker.tail)
    worker.kill(signal.SIGKILL)  # mid-stream: some work applied, some not, offsets partly committed
    produce(broker.bootstrap, "storefront.events", messages[half:])
    got = figures_after_restart(tmp_path, stores_file, broker.bootstrap, "crash", "w1-again")
    assert got == reference(tmp_path, stores_file, events)


def test_rocksdb_state_survives_a_restart(tmp_path: Path, broker: EmbeddedBroker, stores_file: Path) -> None:
    """The production store: tables on local disk, reopened by the next process. Its
    memory gauges: every unique event's id is kept for deduplication, across the
    restart, and RocksDB holds some memory, within its budget (and a margin: the cache's
    limit is not strict)."""
    events, messages, unique = traffic(3_000, seed=13)
    budget = 16 << 20
    env = {"SHOPPULSE_ROCKSDB_MEMORY": str(budget)}
    worker = start_worker(tmp_path, stores_file, broker.bootstrap, "rocks", state="rocksdb://", env=env)
    produce(broker.bootstrap, "storefront.events", messages[: len(messages) // 2])
    wait_settled([worker], broker.bootstrap, "rocks")
    worker.kill()  # a clean stop: RocksDB keeps the tables on disk
    produce(broker.bootstrap, "storefront.events", messages[len(messages) // 2 :])
    again = start_worker(
        tmp_path, stores_file, broker.bootstrap, "rocks", name="again", state="rocksdb://", env=env
    )
    try:
        wait_settled([again], broker.bootstrap, "rocks")
        got = exported([again])
        samples = again.scrape()
    finally:
        again.kill()
    assert got == reference(tmp_path, stores_file, events)
    assert total(samples, "shoppulse_dedupe_ids") == unique
    assert 0 < total(samples, "shoppulse_rocksdb_memory_bytes") <= 1.25 * budget


def test_a_worker_keeping_one_chunk_decoded_survives_sigkill_exactly(
    tmp_path: Path, broker: EmbeddedBroker, stores_file: Path
) -> None:
    """Stage three reads every chunk but one back from RocksDB when a batch touches it
    (``SHOPPULSE_CHUNK_CACHE=1``), and still skips replays after a crash."""
    events, messages, unique = traffic(10_000, seed=14)
    lean = {"SHOPPULSE_CHUNK_CACHE": "1"}
    worker = start_worker(tmp_path, stores_file, broker.bootstrap, "lean", state="rocksdb://", env=lean)
    half = len(messages) // 2
    produce(broker.bootstrap, "storefront.events", messages[:half])
    wait_until(lambda: total(worker.scrape(), "shoppulse_events_total") > unique // 8, 120, worker.tail)
    worker.kill(signal.SIGKILL)
    produce(broker.bootstrap, "storefront.events", messages[half:])
    got = figures_after_restart(tmp_path, stores_file, broker.bootstrap, "lean", "w1", "rocksdb://", lean)
    assert got == reference(tmp_path, stores_file, events)
