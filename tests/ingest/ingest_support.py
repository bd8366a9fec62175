"""Helpers for the ingest tests: a collector on a loopback port, plain HTTP, topic reading.

Tests outside this folder import it as ``tests.ingest.ingest_support``: it imports
nothing from this folder.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import orjson
import pytest
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import ConsumerRecord

from shoppulse.broker import free_port, wait_for_port
from shoppulse.ingest.config import CollectorSettings
from shoppulse.ingest.encoding import SERVER_OPTIONS
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
        self._runner = web.AppRunner(app, access_log=None, **SERVER_OPTIONS)

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


class CollectorProcess:
    """`shoppulse collector` as its own process, as deployed (no test hooks inside).

    ``with CollectorProcess.start(stores, bootstrap, folder=tmp_path) as collector:``
    stops it on leaving (SIGTERM, then SIGKILL after 15 s).
    """

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log

    @classmethod
    def start(
        cls,
        stores: Path,
        bootstrap: str | None,
        *,
        folder: Path,
        name: str | None = None,
        tokens: Path | None = None,
        options: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> Self:
        """Start a collector on a free loopback port and wait until it listens.

        ``bootstrap`` None passes no ``--broker``: the collector reads SHOPPULSE_BROKER
        from ``env`` (added to this process's environment). Output goes to
        ``folder/<name>.log``, or ``folder/collector-<port>.log`` without a name.
        """
        port = free_port()
        log = folder / f"{name or f'collector-{port}'}.log"
        command = [
            sys.executable, "-m", "shoppulse", "collector", "--stores", str(stores), "--port", str(port),
            *(["--broker", bootstrap] if bootstrap else []),
            *(["--tokens", str(tokens)] if tokens else []),
            *options,
        ]  # fmt: skip
        with log.open("ab") as output:  # the child keeps its own descriptor
            process = subprocess.Popen(
                command, stdout=output, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
            )
        collector = cls(process, port, log)
        deadline = time.monotonic() + timeout
        while not wait_for_port("127.0.0.1", port, 0.2):
            if process.poll() is not None or time.monotonic() > deadline:
                collector.stop()
                raise AssertionError(f"the collector {log.stem} did not start:\n{collector.log_tail()}")
        return collector

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_text()[-chars:]

    def assert_serving(self) -> None:
        assert self.process.poll() is None, f"the collector exited:\n{self.log_tail()}"
        assert request(self.url, "GET", "/healthz").status == 200

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, as an orchestrator stops it; kill it if it does not end in time."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
