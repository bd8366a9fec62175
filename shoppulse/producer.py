"""A small async producer for Python storefronts: build events, send them with retries.

Events are built from the contract's models, so a bad event fails in the storefront,
not in the pipeline. ``event_id`` is a fresh UUID4 unless given; a retry sends the
very same bytes, so the collector answers a repeat as an accepted duplicate.

Two transports, one interface (``EventClient``: ``await client.send(events) -> SendReport``,
used as ``async with``):

- ``CollectorClient``: HTTP to the collector (``POST /v1/events``), requests of up to
  1,000 events and 1 MB, retried on connection errors, timeouts, 429 and 5xx.
- ``KafkaClient``: straight to ``storefront.events`` in the collector's message format
  (one JSON array per store), acks=all, idempotent where the broker allows it
  (``idempotence="auto"``, as the collector). Without the collector's id memory a retry
  after a lost acknowledgement can write an event twice; the workers count each
  ``event_id`` once.

The storefront's side of ingestion: it imports the collector's message format
(``shoppulse.ingest.kafka``) but runs none of the collector.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, NamedTuple, Self

import aiohttp
import orjson

from shoppulse.ingest.exceptions import BrokerUnavailable, IdempotenceRefused, ProducerError
from shoppulse.ingest.kafka import EVENTS_TOPIC, EventWriter, Idempotence, pack_events
from shoppulse.schemas.events import EVENT_ADAPTER, Event

__all__ = [
    "BrokerUnavailable",
    "CollectorClient",
    "EventClient",
    "KafkaClient",
    "ProducerError",
    "SendReport",
    "new_event",
    "to_wire",
]

log = logging.getLogger(__name__)

MAX_EVENTS_PER_REQUEST = 1000  # the collector's default limits
MAX_BODY_BYTES = 1_000_000


def new_event(
    type: str,
    *,
    store_id: str,
    ts: datetime | str | None = None,
    event_id: str | None = None,
    **fields: Any,
) -> Event:
    """Build and validate one event; raise pydantic's ValidationError when it breaks the contract.

    >>> new_event("visit", store_id="hometech-haven", visit_id="v-1")  # doctest: +SKIP
    """
    data = {
        "event_id": event_id or str(uuid.uuid4()),
        "type": type,
        "store_id": store_id,
        "ts": ts or datetime.now(UTC),
        **fields,
    }
    # Through JSON, as the collector sees it: strict models take times and money as strings.
    return EVENT_ADAPTER.validate_json(orjson.dumps(data, default=_encode))


def _encode(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def to_wire(event: Event) -> dict[str, Any]:
    """The event as the JSON object the contract describes."""
    return event.model_dump(mode="json", exclude_none=True)


class SendReport(NamedTuple):
    accepted: list[str]  # event ids now on the topic (written now or earlier)
    duplicates: list[str]  # the subset of accepted that was written earlier
    rejected: list[dict[str, Any]]  # {"event_id", "reason", "path", "message", ...}


class EventClient(ABC):
    """What both transports offer: ``send`` events, ``close`` when done, or use ``async with``."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @abstractmethod
    async def send(self, events: Sequence[Event]) -> SendReport:
        """Send events, retrying transient failures; raise ProducerError when giving up."""

    @abstractmethod
    async def close(self) -> None:
        """Release the connection; closing twice is harmless."""


def _retry_delay(attempt: int, backoff: float) -> float:
    return backoff * 2**attempt


class CollectorClient(EventClient):
    """Sends events to the collector over HTTP.

    >>> async with CollectorClient("http://127.0.0.1:8080", token="…") as client:  # doctest: +SKIP
    ...     report = await client.send([new_event("visit", store_id="s", visit_id="v")])
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        retries: int = 4,
        backoff: float = 0.25,
        timeout: float = 15.0,
    ) -> None:
        self.endpoint = url.rstrip("/") + "/v1/events"
        self.retries = retries
        self.backoff = backoff
        self._headers = {"Content-Type": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, events: Sequence[Event]) -> SendReport:
        """Send events in requests of up to 1,000 events and 1 MB; a retry resends the same bytes."""
        report = SendReport([], [], [])
        bodies = [
            body
            for start in range(0, len(events), MAX_EVENTS_PER_REQUEST)
            for _, body in pack_events(
                [(None, to_wire(event)) for event in events[start : start + MAX_EVENTS_PER_REQUEST]],
                MAX_BODY_BYTES,
            )
        ]
        for body in bodies:
            answer = await self.post(body)
            for result in answer["results"]:
                if result["status"] == "accepted":
                    report.accepted.append(result["event_id"])
                    if result.get("duplicate"):
                        report.duplicates.append(result["event_id"])
                else:
                    report.rejected.append(result)
        return report

    async def post(self, body: bytes) -> dict[str, Any]:
        """POST one body, retrying transient failures; return the collector's JSON answer."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        last_error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(_retry_delay(attempt - 1, self.backoff))
            try:
                async with self._session.post(self.endpoint, data=body, headers=self._headers) as response:
                    payload = await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                last_error = repr(exc)
                log.warning("POST %s failed (attempt %d): %s", self.endpoint, attempt + 1, last_error)
                continue
            answer = _json_object(payload)
            if status in (200, 207, 400) and "results" in answer:
                return answer  # 400 here: every event rejected, each with its reason
            last_error = f"HTTP {status}: {payload[:500].decode('utf-8', 'replace')}"
            if status != 429 and status < 500:
                raise ProducerError(f"the collector refused the request: {last_error}")
            log.warning("POST %s answered %s (attempt %d)", self.endpoint, status, attempt + 1)
        raise ProducerError(f"gave up after {self.retries + 1} attempts: {last_error}")


def _json_object(payload: bytes) -> dict[str, Any]:
    try:
        answer = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return {}
    return answer if isinstance(answer, dict) else {}


class KafkaClient(EventClient):
    """Writes events straight to Kafka, in the collector's message format.

    ``idempotence``: ``"auto"`` asks for an idempotent producer and falls back to a
    plain acks=all one when the broker refuses ``InitProducerId`` (Tansu, the embedded
    broker), with a warning; ``"on"`` requires it (``send`` then raises ProducerError
    against such a broker); ``"off"`` never asks.
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str = EVENTS_TOPIC,
        *,
        idempotence: Idempotence = "auto",
        retries: int = 3,
        backoff: float = 0.25,
        timeout: float = 10.0,
    ) -> None:
        self.retries = retries
        self.backoff = backoff
        self._writer = EventWriter(bootstrap, topic, idempotence=idempotence, timeout=timeout)

    @property
    def idempotent(self) -> bool | None:
        """Whether the running producer is idempotent; None before the first send."""
        return self._writer.idempotent

    async def close(self) -> None:
        await self._writer.close()

    async def send(self, events: Sequence[Event]) -> SendReport:
        """Write one message per store (split past ~1 MB); retry failed messages unchanged."""
        by_store: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        for event in events:
            by_store[event.store_id].append((event.event_id, to_wire(event)))
        pending = [
            (store.encode(), ids, value)
            for store, items in by_store.items()
            for ids, value in pack_events(items, self._writer.max_message_bytes)
        ]
        accepted: list[str] = []
        last_error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(_retry_delay(attempt - 1, self.backoff))
            try:
                errors = await self._writer.write([(key, value) for key, _, value in pending])
            except IdempotenceRefused as exc:
                raise ProducerError(str(exc)) from exc  # a setting, not an outage: no retry mends it
            except BrokerUnavailable as exc:
                last_error = str(exc)
                continue
            failed = []
            for message, error in zip(pending, errors, strict=True):
                if error is None:
                    accepted.extend(message[1])
                else:
                    failed.append(message)
                    last_error = repr(error)
            pending = failed
            if not pending:
                return SendReport(accepted, [], [])
        raise ProducerError(f"gave up after {self.retries + 1} attempts: {last_error}")
