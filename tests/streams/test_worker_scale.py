"""Many events, several workers, a crash: /metrics stays equal to `shoppulse report`."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from shoppulse.broker import EmbeddedBroker
from tests.builders import write_jsonl
from tests.streams.support import WorkerProcess, produce, settled, start_worker, total, wait_until
from tests.streams.traffic import STORES_YAML, traffic

WINDOWS = ("1h", "24h", "7d", "30d")


def reference(tmp: Path, stores: Path, events: list[dict]) -> dict[tuple[str, str, str], tuple[float, float]]:
    """(store, kpi, window) → (numerator, denominator) from `shoppulse report`, at the next minute."""
    events_file = write_jsonl(tmp / "events.jsonl", events)
    at = (datetime.now(UTC) + timedelta(minutes=1)).replace(second=0, microsecond=0).isoformat()
    figures = {}
    for window in WINDOWS:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "shoppulse",
                "report",
                str(events_file),
                "--stores",
                str(stores),
                "--json",
                "--window",
                window,
                "--at",
                at,
            ],
            capture_output=True,
            check=True,
        )
        for row in orjson.loads(done.stdout)["kpis"]:
            if row["denominator"]:
                figures[(row["store_id"], row["kpi"], window)] = (row["numerator"], row["denominator"])
    return figures


def exported(workers: list[WorkerProcess]) -> dict[tuple[str, str, str], tuple[float, float]]:
    """Figures from all workers; a series exported by two workers at once is an error."""
    figures: dict[tuple[str, str, str], dict[str, float]] = {}
    for worker in workers:
        for (name, labels), value in worker.scrape().items():
            if name in ("shoppulse_kpi_numerator", "shoppulse_kpi_denominator"):
                label = dict(labels)
                key = (label["store"], label["kpi"], label["window"])
                part = figures.setdefault(key, {})
                assert name not in part, f"{key} exported by two workers"
                part[name] = value
    return {k: (v["shoppulse_kpi_numerator"], v["shoppulse_kpi_denominator"]) for k, v in figures.items()}


def wait_settled(workers: list[WorkerProcess], bootstrap: str, app_id: str, timeout: float = 240) -> None:
    wait_until(
        lambda: all(settled(w, bootstrap, app_id) for w in workers),
        timeout,
        lambda: "workers did not settle:\n" + "\n".join(w.tail() for w in workers),
    )


@pytest.fixture
def stores_file(tmp_path: Path) -> Path:
    path = tmp_path / "stores.yaml"
    path.write_text(STORES_YAML)
    return path


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
    assert rejected == len(events) // 100
    assert duplicates >= len(events) // 100  # exact unless a stage replayed after a rebalance


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
    restarted = start_worker(tmp_path, stores_file, broker.bootstrap, "crash", name="w1-again")
    try:
        wait_settled([restarted], broker.bootstrap, "crash")
        got = exported([restarted])
    finally:
        restarted.kill()
    assert got == reference(tmp_path, stores_file, events)


def test_rocksdb_state_survives_a_restart(tmp_path: Path, broker: EmbeddedBroker, stores_file: Path) -> None:
    """The production store: tables on local disk, reopened by the next process."""
    events, messages, _ = traffic(3_000, seed=13)
    worker = start_worker(tmp_path, stores_file, broker.bootstrap, "rocks", state="rocksdb://")
    produce(broker.bootstrap, "storefront.events", messages[: len(messages) // 2])
    wait_settled([worker], broker.bootstrap, "rocks")
    worker.kill()  # a clean stop: RocksDB keeps the tables on disk
    produce(broker.bootstrap, "storefront.events", messages[len(messages) // 2 :])
    again = start_worker(tmp_path, stores_file, broker.bootstrap, "rocks", state="rocksdb://")
    try:
        wait_settled([again], broker.bootstrap, "rocks")
        got = exported([again])
    finally:
        again.kill()
    assert got == reference(tmp_path, stores_file, events)
