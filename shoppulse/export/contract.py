"""The metric contract: the series a ShopPulse worker exports on /metrics.

Everything in this package builds on these names and labels only. The worker owns
the contract; a query naming a metric outside it is a bug (a test checks every
dashboard panel and rule against this list).
"""

from __future__ import annotations

# Gauges, labels store, vertical, kpi, window. No sample while the denominator is 0.
KPI_VALUE = "shoppulse_kpi_value"
KPI_NUMERATOR = "shoppulse_kpi_numerator"
KPI_DENOMINATOR = "shoppulse_kpi_denominator"
# Gauge = 1 for every configured store, labels store, vertical, currency.
STORE_INFO = "shoppulse_store_info"
# Gauge, labels store, vertical: the earliest event time (Unix seconds, to the quarter
# hour) of the data the worker holds for each store it owns. A window reaching further
# back is partial (after a fresh start, or state lost).
STORE_DATA_SINCE = "shoppulse_store_data_since_timestamp_seconds"
# Counters, one set per worker instance.
EVENTS = "shoppulse_events_total"  # labels store, type: valid events applied
EVENTS_REJECTED = "shoppulse_events_rejected_total"  # label reason
EVENTS_DUPLICATE = "shoppulse_events_duplicate_total"
EVENTS_LATE = "shoppulse_events_late_total"
# Histogram: event produced -> visible on /metrics.
LATENCY = "shoppulse_event_to_export_latency_seconds"
# Gauge, labels topic, partition.
CONSUMER_LAG = "shoppulse_consumer_lag_messages"
# Gauges of the worker's two memory holders that grow by design: the event ids kept for
# deduplication (30 days of them, ``streams.joins.SeenIndex``), and RocksDB's shared cache
# (up to its budget, ``streams.storage``; 0 with memory:// tables).
DEDUPE_IDS = "shoppulse_dedupe_ids"
ROCKSDB_MEMORY = "shoppulse_rocksdb_memory_bytes"
# prometheus_client's default process collector.
PROCESS_CPU = "process_cpu_seconds_total"
PROCESS_MEMORY = "process_resident_memory_bytes"
PROCESS_METRICS = (
    PROCESS_CPU,
    PROCESS_MEMORY,
    "process_virtual_memory_bytes",
    "process_start_time_seconds",
    "process_open_fds",
    "process_max_fds",
)

# The HTTP collector's series (shoppulse/ingest/metrics.py), scraped as a job of its own.
# Only what the pipeline alerts read is listed; a test checks them against the collector.
COLLECTOR_REQUESTS = "shoppulse_collector_requests_total"  # labels route, status
COLLECTOR_EVENTS_ACCEPTED = "shoppulse_collector_events_accepted_total"  # label store
COLLECTOR_EVENTS_DUPLICATE = "shoppulse_collector_events_duplicate_total"  # label store
COLLECTOR_EVENTS_REJECTED = "shoppulse_collector_events_rejected_total"  # label reason
COLLECTOR_EVENTS_ROUTE = "/v1/events"
# Prometheus's own per-target series: 1 when the last scrape succeeded, 0 when it failed.
UP = "up"

WINDOWS = ("1h", "24h", "7d", "30d")
KPI_LABELS = ("store", "vertical", "kpi", "window")


def collector_metric_names() -> frozenset[str]:
    """The collector's series the monitoring reads."""
    return frozenset(
        (COLLECTOR_REQUESTS, COLLECTOR_EVENTS_ACCEPTED, COLLECTOR_EVENTS_DUPLICATE, COLLECTOR_EVENTS_REJECTED)
    )


def exported_metric_names() -> frozenset[str]:
    """Every series name the worker exports (a histogram exports three)."""
    histogram = (f"{LATENCY}_bucket", f"{LATENCY}_sum", f"{LATENCY}_count")
    return frozenset(
        (
            KPI_VALUE,
            KPI_NUMERATOR,
            KPI_DENOMINATOR,
            STORE_INFO,
            STORE_DATA_SINCE,
            EVENTS,
            EVENTS_REJECTED,
            EVENTS_DUPLICATE,
            EVENTS_LATE,
            CONSUMER_LAG,
            DEDUPE_IDS,
            ROCKSDB_MEMORY,
            *histogram,
            *PROCESS_METRICS,
        )
    )
