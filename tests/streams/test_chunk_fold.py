"""Stage three folds a store's chunks older than the longest window (and a day) into
one base record, so its table keeps a month of chunks, and the figures do not move:
live, after a batch that lands behind the line, and rebuilt after a crash."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections.abc import Iterable
from pathlib import Path

from aiokafka import AIOKafkaProducer

from shoppulse.broker import EmbeddedBroker
from shoppulse.export.collector import KpiCollector
from shoppulse.kpis.catalogue import kpis_for
from shoppulse.kpis.contributions import DEN, NUM, POINT, WINDOW_MINUTES, Steps
from shoppulse.schemas.stores import load_stores
from shoppulse.streams.app import changelog_topic, steps_topic
from shoppulse.streams.codec import step_batch_to_wire
from shoppulse.streams.ledger import Ledger, fold_line, parse_chunk_key
from shoppulse.streams.router import partition_for
from tests.streams.support import (
    changelog_values,
    exported,
    figures_after_restart,
    kpi_figures,
    start_worker,
    wait_until,
)
from tests.streams.traffic import SMART

APP = "fold"
PARTITIONS = 4  # start_worker's
STORE = SMART[0]
DAY = 1440
Figures = dict[tuple[str, str, str], tuple[float, float]]


def steps_between(seed: int, kpis: list[str], first: int, last: int, now: int, count: int) -> Steps:
    """Steps of ``kpis`` at minutes in [first, last), none within an hour of a window's
    edge (``now`` less a width): the figures stay put while the test runs."""
    rng = random.Random(seed)
    steps: Steps = {}
    while len(steps) < count:
        minute = rng.randrange(first, last)
        if any(abs(minute - (now - width)) < 60 for width in WINDOW_MINUTES):
            continue
        width = rng.choice([POINT, *WINDOW_MINUTES])
        steps[(rng.choice(kpis), rng.choice([NUM, DEN, DEN]), width, minute)] = rng.randrange(1, 5)
    return steps


def figures_of(ledger: Ledger, stores_file: Path) -> Figures:
    """What a worker holding ``ledger`` exports now: numerators and denominators by
    (store, kpi, window), through the worker's own collector."""
    collector = KpiCollector(load_stores(stores_file).by_id(), lambda: ledger.stores)
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in collector.collect()
        for sample in family.samples
    }
    return kpi_figures([samples])


def send_steps(bootstrap: str, batches: Iterable[tuple[tuple[int, int], Steps]]) -> None:
    """Step batches on stage three's input, as stage two sends them: tagged with their
    source, in the store's partition."""

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            partition = partition_for(STORE, PARTITIONS)
            for source, steps in batches:
                value = step_batch_to_wire(source, STORE, steps, int(time.time() * 1000))
                await producer.send_and_wait(steps_topic(APP), value, partition=partition)
        finally:
            await producer.stop()

    asyncio.run(send())


def test_old_chunks_are_folded_and_the_figures_stay_exact(
    tmp_path: Path, broker: EmbeddedBroker, stores_file: Path
) -> None:
    now = int(time.time() // 60)
    line = fold_line(time.time())  # the worker's can only be later
    kpis = [kpi.id for kpi in kpis_for(load_stores(stores_file).by_id()[STORE].vertical)]
    three_months = steps_between(1, kpis, now - 90 * DAY, now - 180, now, 3_000)
    behind_the_line = steps_between(2, kpis, now - 80 * DAY, now - 40 * DAY, now, 300)
    expected = Ledger()
    expected.apply(STORE, three_months, (0, 0))

    worker = start_worker(tmp_path, stores_file, broker.bootstrap, APP, state="rocksdb://")
    try:
        send_steps(broker.bootstrap, [((0, 0), three_months)])
        wait_until(lambda: exported([worker]) == figures_of(expected, stores_file), 60, worker.tail)
        # A batch a month late goes to the base; a replay of the first changes nothing.
        send_steps(broker.bootstrap, [((0, 0), three_months), ((0, 1), behind_the_line)])
        expected.apply(STORE, behind_the_line, (0, 1))
        wait_until(lambda: exported([worker]) == figures_of(expected, stores_file), 60, worker.tail)
        wait_until(lambda: f"{STORE}|base" in table(broker.bootstrap), 30, worker.tail)
    finally:
        worker.kill(signal.SIGKILL)

    held = table(broker.bootstrap)
    starts = [start for key in held if (start := parse_chunk_key(key)[1]) is not None]
    assert starts
    assert min(starts) >= line  # nothing behind the line but the base
    assert len(starts) < len({minute - minute % 15 for *_, minute in three_months}) / 2
    restarted = figures_after_restart(tmp_path, stores_file, broker.bootstrap, APP, "w2", state="rocksdb://")
    assert restarted == figures_of(expected, stores_file)


def table(bootstrap: str) -> dict[str, bytes]:
    """The store-chunks table as its changelog leaves it."""
    values = changelog_values(bootstrap, changelog_topic(APP, "store-chunks"), PARTITIONS)
    return {key: value for key, value in values.items() if value is not None}
