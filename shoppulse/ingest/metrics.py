"""The collector's own Prometheus metrics, in a registry of its own (never the global one)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector as ScrapeCollector

CONTENT_TYPE = CONTENT_TYPE_LATEST


class CollectorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "shoppulse_collector_requests",
            "HTTP requests answered, by route and status code.",
            ["route", "status"],
            registry=self.registry,
        )
        self.accepted = Counter(
            "shoppulse_collector_events_accepted",
            "Events written to Kafka, by store.",
            ["store"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "shoppulse_collector_events_duplicate",
            "Events answered as accepted duplicates (already written recently), by store.",
            ["store"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "shoppulse_collector_events_rejected",
            "Events refused, by reason code.",
            ["reason"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "shoppulse_collector_request_duration_seconds",
            "Time to answer a request, by route.",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )

    def watch_producer(self, idempotent: Callable[[], bool | None]) -> None:
        """Expose ``shoppulse_collector_idempotent_producer`` for the writer's producer."""
        self.registry.register(_IdempotentProducer(idempotent))

    def observe(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route=route, status=str(status)).inc()
        self.latency.labels(route=route).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _IdempotentProducer(ScrapeCollector):
    """Read at scrape time: 1 or 0 once a producer has started, no sample before."""

    NAME = "shoppulse_collector_idempotent_producer"
    HELP = "1 when the Kafka producer is idempotent, 0 when not (the broker refused it, or off)."

    def __init__(self, idempotent: Callable[[], bool | None]) -> None:
        self.idempotent = idempotent

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.NAME, self.HELP, labels=[])
        value = self.idempotent()
        if value is not None:
            family.add_metric([], float(value))
        yield family

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(self.NAME, self.HELP, labels=[])
