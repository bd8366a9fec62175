"""The collector's series the pipeline alerts read, as the real collector exports them.

The collector runs in this process against a broker address nobody listens on, so
every write fails with 503 (what `ShopPulseCollectorRefusingRequests` counts), while
validation still rejects bad events (what `ShopPulseCollectorRejectingEvents` counts).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from shoppulse.broker import free_port
from shoppulse.export import contract as c
from shoppulse.ingest.metrics import CollectorMetrics
from shoppulse.ingest.server import build_app
from tests.ingest.ingest_support import (
    RAW_TOKENS,
    STORES_YAML,
    ServerThread,
    collector_settings,
    post_events,
    request,
    visit,
    write_tokens_file,
)

Sample = tuple[str, frozenset[tuple[str, str]]]


@pytest.fixture
def collector_without_kafka(tmp_path: Path) -> Iterator[ServerThread]:
    stores = tmp_path / "stores.yaml"
    stores.write_text(STORES_YAML, encoding="utf-8")
    tokens = write_tokens_file(tmp_path / "tokens.yaml", RAW_TOKENS)
    nobody_listens = f"127.0.0.1:{free_port()}"
    settings = collector_settings(stores, tokens, nobody_listens, kafka_timeout_seconds=2.0)
    server = ServerThread(build_app(settings)).start()
    yield server
    server.stop()


def scraped(url: str) -> set[Sample]:
    text = request(url, "GET", "/metrics").body.decode()
    return {
        (sample.name, frozenset(sample.labels.items()))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_refusals_and_rejections_show_under_the_names_and_labels_the_alerts_read(
    collector_without_kafka: ServerThread,
) -> None:
    url = collector_without_kafka.url
    assert post_events(url, [visit()]).status == 503  # Kafka unavailable: refused whole
    assert post_events(url, [visit()], token="no-such-token").status == 401
    assert post_events(url, [visit(ts="nope")]).status == 400  # rejected per event, never written

    samples = scraped(url)
    route = ("route", c.COLLECTOR_EVENTS_ROUTE)
    for status in ("503", "401", "400"):
        assert (c.COLLECTOR_REQUESTS, frozenset({route, ("status", status)})) in samples, status
    rejected = {dict(labels).get("reason") for name, labels in samples if name == c.COLLECTOR_EVENTS_REJECTED}
    assert rejected == {"invalid_timestamp"}


def test_every_collector_counter_the_alerts_read_exists() -> None:
    """Accepted and duplicate events need a broker to happen: check their declared names."""
    families = {
        f"{family.name}_total": family.type
        for family in text_string_to_metric_families(CollectorMetrics().exposition().decode())
    }
    assert {name: families.get(name) for name in c.collector_metric_names()} == dict.fromkeys(
        c.collector_metric_names(), "counter"
    )
