"""Real processes for stream tests: the embedded broker, workers, a producer, a scraper."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from shoppulse.broker import free_port
from shoppulse.streams.worker import consumer_groups, uncommitted, worker_caught_up, worker_command
from tests.builders import write_jsonl

Sample = tuple[str, tuple[tuple[str, str], ...]]  # (metric name, sorted labels)


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    metrics_port: int
    log: Path

    def scrape(self) -> dict[Sample, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            text = response.read().decode()
        samples: dict[Sample, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return samples

    def kill(self, sig: int = signal.SIGTERM) -> None:
        stop_process(self.process, sig)

    def tail(self) -> str:
        return log_tail(self.log)


def stop_process(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    """Signal a process and wait for it; kill it if it does not end in time."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def log_tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def start_worker(
    tmp: Path,
    stores: Path,
    bootstrap: str,
    app_id: str,
    name: str = "w1",
    partitions: int = 4,
    state: str = "memory://",
    env: dict[str, str] | None = None,
) -> WorkerProcess:
    port = free_port()
    log = tmp / f"{name}.log"
    env = {**os.environ, "SHOPPULSE_APP_ID": app_id, "PYTHONUNBUFFERED": "1", **(env or {})}
    command = worker_command(stores, bootstrap, port, tmp / f"{name}-data", partitions, state)
    process = subprocess.Popen(command, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env)
    worker = WorkerProcess(process, port, log)
    wait_until(lambda: _healthy(worker), 60, lambda: f"worker {name} did not start:\n{worker.tail()}")
    return worker


def _healthy(worker: WorkerProcess) -> bool:
    if worker.process.poll() is not None:
        raise AssertionError(f"worker exited with {worker.process.returncode}:\n{worker.tail()}")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.metrics_port}/healthz", timeout=1) as response:
            return bool(orjson.loads(response.read())["owned_stores"])
    except OSError:
        return False


def wait_until(
    condition: Callable[[], bool], timeout: float, message: Callable[[], str] | str = "", poll: float = 0.25
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(poll)
    raise AssertionError(message() if callable(message) else message or "condition not met in time")


def produce(bootstrap: str, topic: str, messages: Iterable[bytes]) -> int:
    async def send_all() -> int:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=512 * 1024)
        await producer.start()
        count = 0
        try:
            pending = []
            for value in messages:
                pending.append(await producer.send(topic, value))
                count += 1
            await asyncio.gather(*pending)
        finally:
            await producer.stop()
        return count

    return asyncio.run(send_all())


def write_changelog(bootstrap: str, topic: str, records: Iterable[tuple[int, str, bytes]]) -> None:
    """Table records as a worker writes them to ``topic``: (partition, key, value), the
    key JSON-encoded. A worker started next restores them."""

    async def write() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            for partition, key, value in records:
                await producer.send_and_wait(topic, value, key=orjson.dumps(key), partition=partition)
        finally:
            await producer.stop()

    asyncio.run(write())


def changelog_values(bootstrap: str, topic: str, partitions: int) -> dict[Any, bytes | None]:
    """A changelog's last value for each key (JSON-decoded; None: a tombstone): what a
    table restored from it holds."""

    async def read() -> dict[Any, bytes | None]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            assigned = [TopicPartition(topic, p) for p in range(partitions)]
            consumer.assign(assigned)
            await consumer.seek_to_beginning(*assigned)
            ends = await consumer.end_offsets(assigned)
            last: dict[Any, bytes | None] = {}
            deadline = time.monotonic() + 30
            while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
                assert time.monotonic() < deadline, "the changelog could not be read to its end"
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        last[orjson.loads(record.key)] = record.value
            return last
        finally:
            await consumer.stop()

    return asyncio.run(read())


def batches(events: list[dict[str, Any]], size: int) -> Iterable[bytes]:
    for start in range(0, len(events), size):
        chunk = events[start : start + size]
        yield orjson.dumps(chunk if size > 1 else chunk[0])


def caught_up(bootstrap: str, app_id: str) -> bool:
    return asyncio.run(worker_caught_up(bootstrap, app_id))


def settled(worker: WorkerProcess, bootstrap: str, app_id: str) -> bool:
    """Every stage has committed everything, and the exported counts no longer move."""
    if not caught_up(bootstrap, app_id):
        return False
    before = total(worker.scrape(), "shoppulse_events_total")
    time.sleep(0.5)
    return caught_up(bootstrap, app_id) and total(worker.scrape(), "shoppulse_events_total") == before


def total(samples: dict[Sample, float], name: str, **labels: str) -> float:
    """Sum of a metric's samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(
        value
        for (metric, sample_labels), value in samples.items()
        if metric == name and wanted <= set(sample_labels)
    )


def kpi_samples(samples: dict[Sample, float], window: str) -> dict[tuple[str, str, str], float]:
    """(metric, store, kpi) → value for one window."""
    out = {}
    for (metric, labels), value in samples.items():
        label = dict(labels)
        if metric.startswith("shoppulse_kpi_") and label.get("window") == window:
            out[(metric, label["store"], label["kpi"])] = value
    return out


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
    return kpi_figures(worker.scrape() for worker in workers)


def kpi_figures(scrapes: Iterable[dict[Sample, float]]) -> dict[tuple[str, str, str], tuple[float, float]]:
    """(store, kpi, window) → (numerator, denominator) of the KPI samples in ``scrapes``;
    a series in two of them is an error."""
    figures: dict[tuple[str, str, str], dict[str, float]] = {}
    for samples in scrapes:
        for (name, labels), value in samples.items():
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
        lambda: not_settled(workers, bootstrap, app_id),
    )


def not_settled(workers: list[WorkerProcess], bootstrap: str, app_id: str) -> str:
    return "workers did not settle:\n" + behind(bootstrap, app_id) + "\n".join(w.tail() for w in workers)


def behind(bootstrap: str, app_id: str) -> str:
    """Each partition a stage of ``app_id`` has not committed to its end: "group topic[p]
    committed/end", a line each. Says which stage a stall is in."""

    async def lines() -> list[str]:
        found = []
        for group, topics in consumer_groups(app_id).items():
            behind = await uncommitted(bootstrap, group, topics)
            if behind is None:
                found.append(f"{group}: a topic or a partition's end is not known yet")
            for tp, committed, end in behind or ():
                found.append(f"{group} {tp.topic}[{tp.partition}] {committed}/{end}")
        return found

    return "".join(f"  behind: {line}\n" for line in asyncio.run(lines()))


def figures_after_restart(
    tmp: Path,
    stores: Path,
    bootstrap: str,
    app_id: str,
    name: str,
    state: str = "memory://",
    env: dict[str, str] | None = None,
) -> dict[tuple[str, str, str], tuple[float, float]]:
    """Start a worker of ``app_id``, let it settle, and return its exported figures."""
    worker = start_worker(tmp, stores, bootstrap, app_id, name=name, state=state, env=env)
    try:
        wait_settled([worker], bootstrap, app_id)
        return exported([worker])
    finally:
        worker.kill()
