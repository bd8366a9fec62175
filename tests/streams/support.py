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
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from shoppulse.broker import free_port

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
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


def start_worker(
    tmp: Path,
    stores: Path,
    bootstrap: str,
    app_id: str,
    name: str = "w1",
    partitions: int = 4,
    state: str = "memory://",
) -> WorkerProcess:
    port = free_port()
    log = tmp / f"{name}.log"
    env = {**os.environ, "SHOPPULSE_APP_ID": app_id, "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable,
        "-m",
        "shoppulse",
        "worker",
        "--stores",
        str(stores),
        "--broker",
        bootstrap,
        "--metrics-port",
        str(port),
        "--partitions",
        str(partitions),
        "--state",
        state,
        "--data-dir",
        str(tmp / f"{name}-data"),
    ]
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


def wait_until(condition: Callable[[], bool], timeout: float, message: Callable[[], str] | str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
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


def batches(events: list[dict[str, Any]], size: int) -> Iterable[bytes]:
    for start in range(0, len(events), size):
        chunk = events[start : start + size]
        yield orjson.dumps(chunk if size > 1 else chunk[0])


def settled(worker: WorkerProcess, events_applied: float, metric: str = "shoppulse_events_total") -> bool:
    """All events applied and every stage caught up (no lag on any partition), twice in a row."""
    for _ in range(2):
        samples = worker.scrape()
        lags = [v for (name, _), v in samples.items() if name == "shoppulse_consumer_lag_messages"]
        if total(samples, metric) != events_applied or not lags or any(lags):
            return False
        time.sleep(0.3)
    return True


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
