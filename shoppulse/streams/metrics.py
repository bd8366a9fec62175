"""What a worker counts about itself, in its own registry (never the global one)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Histogram, disable_created_metrics
from prometheus_client import Counter as PromCounter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from shoppulse.export import contract
from shoppulse.schemas.validation import Reason

# `_created` samples double the series count and no rule or dashboard reads them.
disable_created_metrics()

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)

LagSource = Callable[[], Iterator[tuple[str, int, int]]]  # (topic, partition, lag)
Reading = Callable[[], int]


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self._events = PromCounter(
            "shoppulse_events",
            "Valid events applied (duplicates and refused events excluded)",
            ["store", "type"],
            registry=self.registry,
        )
        self._rejected = PromCounter(
            "shoppulse_events_rejected", "Events refused, by reason code", ["reason"], registry=self.registry
        )
        self._duplicates = PromCounter(
            "shoppulse_events_duplicate",
            "Events dropped as repeats of a known event_id",
            registry=self.registry,
        )
        self._late = PromCounter(
            "shoppulse_events_late",
            "Events too old to change any window (also in rejected)",
            registry=self.registry,
        )
        self._latency = Histogram(
            contract.LATENCY,
            "Seconds from an event reaching Kafka to its effect on the exported series",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        for reason in Reason:  # every reason shows from the start, at 0
            self._rejected.labels(reason.value)

    def rejected(self, reason: str) -> None:
        self._rejected.labels(reason).inc()
        if reason == Reason.LATE_EVENT:
            self._late.inc()

    def joined(self, events: Counter[tuple[str, str]], duplicates: int) -> None:
        for (store, event_type), count in events.items():
            self._events.labels(store, event_type).inc(count)
        if duplicates:
            self._duplicates.inc(duplicates)

    def exported(self, latency_seconds: float) -> None:
        self._latency.observe(max(latency_seconds, 0.0))

    def watch_lag(self, source: LagSource) -> None:
        self.registry.register(_LagCollector(source))

    def watch_memory(self, dedupe_ids: Reading, rocksdb_bytes: Reading) -> None:
        """Export what the two memory holders that grow by design hold, read at scrape
        time: an operator (and ``bench/freshness.py``) can tell their growth from a leak."""
        self.registry.register(_MemoryCollector(dedupe_ids, rocksdb_bytes))


class _LagCollector(Collector):
    def __init__(self, source: LagSource) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            contract.CONSUMER_LAG,
            "Messages not yet read, per assigned partition",
            labels=["topic", "partition"],
        )
        for topic, partition, behind in self.source():
            lag.add_metric([topic, str(partition)], behind)
        yield lag


class _MemoryCollector(Collector):
    def __init__(self, dedupe_ids: Reading, rocksdb_bytes: Reading) -> None:
        self.dedupe_ids = dedupe_ids
        self.rocksdb_bytes = rocksdb_bytes

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            contract.DEDUPE_IDS,
            "Event ids kept for deduplication (the 30-day window and a day), owned partitions",
            value=self.dedupe_ids(),
        )
        yield GaugeMetricFamily(
            contract.ROCKSDB_MEMORY,
            "Bytes in RocksDB's shared block cache, memtables included (bounded by its budget)",
            value=self.rocksdb_bytes(),
        )
