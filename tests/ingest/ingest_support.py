"""Helpers for the ingest tests: a collector on a loopback port, plain HTTP, topic reading."""

from __future__ import annotations

import asyncio
import http.client
import shutil
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import ConsumerRecord

from shoppulse.broker import free_port
from shoppulse.ingest.config import CollectorSettings
from shoppulse.ingest.limits import Limits
from shoppulse.ingest.tokens import hash_token

STORES_YAML = """\
stores:
  - id: store-a
    vertical: smart_home
    currency: USD
    timezone: America/New_York
  - id: store-b
    vertical: party_favors
    currency: EUR
    timezone: Europe/Paris
"""

# Raw tokens as storefronts hold them; only their hashes go to the tokens file.
RAW_TOKENS = {"token-a": "store-a", "token-a-rotated": "store-a", "token-b": "store-b"}
ALLOWED_ORIGIN = "https://shop.example"


def write_tokens_file(path: Path, raw_tokens: Mapping[str, str]) -> Path:
    """A tokens file for ``raw_tokens`` (token → store), holding only their hashes."""
    lines = ["tokens:"] + [
        f"  - {{store: {store}, token_sha256: '{hash_token(token)}'}}" for token, store in raw_tokens.items()
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


TOPIC = "storefront.events"
PARTITIONS = 2


def require_tool(name: str) -> str:
    """The path of a system tool the tests need; fail (never skip) when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run scripts/setup-system.sh (as root) to install it")
    return path


def create_topic(bootstrap: str, topic: str = TOPIC, partitions: int = PARTITIONS) -> None:
    """Create the topic explicitly: Tansu would auto-create it with 4 partitions."""

    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, partitions, 1)])
        finally:
            await admin.close()

    asyncio.run(create())


def read_topic(
    bootstrap: str, topic: str = TOPIC, timeout: float = 10.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record now on the topic, read with a plain aiokafka consumer (no group)."""

    async def read() -> list[ConsumerRecord[bytes, bytes]]:
        # "earliest" also for the reset that assign() starts, which could race seek_to_beginning.
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, p) for p in sorted(await _partitions(consumer, topic))]
            consumer.assign(partitions)
            end = await consumer.end_offsets(partitions)
            await consumer.seek_to_beginning(*partitions)
            records: list[ConsumerRecord[bytes, bytes]] = []
            deadline = time.monotonic() + timeout
            while any([await consumer.position(tp) < end[tp] for tp in partitions]):
                assert time.monotonic() < deadline, "the topic could not be read to its end in time"
                for batch in (await consumer.getmany(*partitions, timeout_ms=200)).values():
                    records.extend(batch)
            return records
        finally:
            await consumer.stop()

    return asyncio.run(read())


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer.topics()  # refresh metadata
    return consumer.partitions_for_topic(topic) or set()


def events_on_topic(bootstrap: str) -> list[dict[str, Any]]:
    """The events of every message on the topic (each value is a JSON array)."""
    events: list[dict[str, Any]] = []
    for record in read_topic(bootstrap):
        value = orjson.loads(record.value)
        assert isinstance(value, list), "every message value is a JSON array of events"
        events.extend(value)
    return events


def count_ids(events: Iterable[dict[str, Any]], ids: Iterable[str]) -> dict[str, int]:
    wanted = set(ids)
    counts = dict.fromkeys(wanted, 0)
    for event in events:
        if event.get("event_id") in wanted:
            counts[event["event_id"]] += 1
    return counts


def visit(store: str = "store-a", **fields: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": "visit",
        "store_id": store,
        "ts": "2026-05-01T12:00:00Z",
        "visit_id": f"v-{uuid.uuid4().hex[:8]}",
        **fields,
    }


def order(store: str = "store-a", currency: str = "USD", **fields: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": "order",
        "store_id": store,
        "ts": "2026-05-01T12:05:00Z",
        "order_id": f"o-{uuid.uuid4().hex[:8]}",
        "currency": currency,
        "items": [
            {"sku": "HUB-2", "category": "hub", "quantity": 1, "unit_price": "129.00"},
            {
                "sku": "INSTALL",
                "category": "service",
                "service": "installation",
                "quantity": 1,
                "unit_price": "79.00",
            },
        ],
        **fields,
    }


def collector_settings(
    stores: Path, tokens: Path | None, bootstrap: str, **extra: object
) -> CollectorSettings:
    return CollectorSettings(
        stores_file=stores,
        tokens_file=tokens,
        broker=bootstrap,
        cors_origins=(ALLOWED_ORIGIN,),
        limits=Limits(max_body_bytes=1024 * 1024, max_events=1000, max_depth=8),
        **extra,  # type: ignore[arg-type]
    )


class Answer:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return orjson.loads(self.body)


def request(
    url: str, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> Answer:
    """One HTTP request with exactly the given headers (http.client adds no Content-Type)."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=15)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def post_events(url: str, payload: Any, token: str | None = "token-a", raw: bytes | None = None) -> Answer:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = raw if raw is not None else orjson.dumps(payload)
    return request(url, "POST", "/v1/events", body, headers)


class ServerThread:
    """An aiohttp application served on a free loopback port from a background thread."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._runner = web.AppRunner(app, access_log=None)

    def start(self) -> ServerThread:
        self._thread.start()

        async def start() -> None:
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

        asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()
