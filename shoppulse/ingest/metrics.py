"""The collector's own Prometheus metrics, in a registry of its own (never the global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

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

    def observe(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route=route, status=str(status)).inc()
        self.latency.labels(route=route).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
