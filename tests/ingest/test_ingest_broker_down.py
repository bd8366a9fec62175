"""Kafka unavailable: 503, nothing reported accepted, and a retry afterwards is written once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ingest_support import (
    ServerThread,
    collector_settings,
    count_ids,
    create_topic,
    events_on_topic,
    post_events,
    request,
    visit,
)

from shoppulse.broker import EmbeddedBroker, free_port
from shoppulse.ingest.server import build_app


@pytest.fixture
def dead_broker_collector(ingest_files: tuple[Path, Path]) -> Iterator[ServerThread]:
    stores, tokens = ingest_files
    nobody_listens = f"127.0.0.1:{free_port()}"
    server = ServerThread(build_app(collector_settings(stores, tokens, nobody_listens))).start()
    yield server
    server.stop()


def test_no_broker_answers_503_with_nothing_accepted(dead_broker_collector: ServerThread) -> None:
    url = dead_broker_collector.url
    answer = post_events(url, [visit(), visit()])
    assert answer.status == 503
    assert answer.json()["error"] == "broker_unavailable"
    assert "results" not in answer.json()
    assert request(url, "GET", "/readyz").status == 503
    assert request(url, "GET", "/healthz").status == 200
    # Refusals that need no write still get their answer.
    assert post_events(url, [visit(ts="nope")]).status == 400


def test_broker_lost_then_back_answers_503_then_writes_the_retry_once(
    ingest_files: tuple[Path, Path],
) -> None:
    stores, tokens = ingest_files
    port = free_port()
    first_broker = EmbeddedBroker(port=port).start()
    create_topic(first_broker.bootstrap)
    settings = collector_settings(stores, tokens, first_broker.bootstrap, kafka_timeout_seconds=2.0)
    server = ServerThread(build_app(settings)).start()
    second_broker: EmbeddedBroker | None = None
    try:
        assert post_events(server.url, [visit()]).status == 200
        first_broker.stop(timeout=0.2)  # Tansu ignores SIGTERM while clients are connected: kill

        batch = [visit(), visit()]
        started = time.monotonic()
        lost = post_events(server.url, batch)
        assert lost.status == 503
        assert lost.json()["error"] == "broker_unavailable"  # nothing reported accepted
        assert time.monotonic() - started < 5
        assert request(server.url, "GET", "/healthz").status == 200

        second_broker = EmbeddedBroker(port=port).start()  # Tansu keeps data in memory: an empty broker
        create_topic(second_broker.bootstrap)
        retried = post_events(server.url, batch)
        assert retried.status == 200
        assert [r.get("duplicate", False) for r in retried.json()["results"]] == [False, False]
        ids = [event["event_id"] for event in batch]
        assert count_ids(events_on_topic(second_broker.bootstrap), ids) == dict.fromkeys(ids, 1)
    finally:
        server.stop()
        first_broker.stop(timeout=0.2)
        if second_broker is not None:
            second_broker.stop(timeout=0.2)
