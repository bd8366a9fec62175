"""Writing accepted events to Kafka: the message format and the producer's lifecycle.

Message format (what the worker reads from ``storefront.events``): one message per
store per request, key = the store id (UTF-8), value = a JSON array of that request's
accepted events for that store, each the JSON object the storefront sent. A store's
batch that would exceed ``max_message_bytes`` is split into several such arrays
(Kafka refuses messages over about 1 MB by default); with the default body limit
(1 MiB) that happens only for bodies that shrink little when re-serialised.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Literal, TypeVar

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import BrokerResponseError, IncompatibleBrokerVersion, KafkaError

from shoppulse.ingest.exceptions import BrokerUnavailable, IdempotenceRefused

log = logging.getLogger(__name__)

EVENTS_TOPIC = "storefront.events"
MAX_MESSAGE_BYTES = 1_000_000

K = TypeVar("K")


def pack_events(
    events: Sequence[tuple[K, Any]], max_bytes: int = MAX_MESSAGE_BYTES
) -> list[tuple[list[K], bytes]]:
    """Pack ``(key, event)`` pairs into JSON arrays of at most ``max_bytes``.

    Returns the keys each array holds with the array. One event larger than
    ``max_bytes`` still gets an array of its own (and Kafka may refuse it).
    """
    packed: list[tuple[list[K], bytes]] = []
    keys: list[K] = []
    chunk: list[bytes] = []
    size = 2  # the brackets
    for key, event in events:
        encoded = orjson.dumps(event)
        if chunk and size + len(encoded) + 1 > max_bytes:
            packed.append((keys, b"[" + b",".join(chunk) + b"]"))
            keys, chunk, size = [], [], 2
        keys.append(key)
        chunk.append(encoded)
        size += len(encoded) + 1
    if chunk:
        packed.append((keys, b"[" + b",".join(chunk) + b"]"))
    return packed


Idempotence = Literal["auto", "on", "off"]
IDEMPOTENCE_MODES: tuple[Idempotence, ...] = ("auto", "on", "off")

# What AIOKafkaProducer.start() raises when the broker answers InitProducerId with an
# error code (Tansu 0.6: UnknownError, code -1) or does not know the request at all
# (Kafka before 0.11). Connection failures and timeouts are neither: aiokafka raises
# KafkaConnectionError, or keeps retrying until our timeout.
INIT_PRODUCER_ID_REFUSED = (BrokerResponseError, IncompatibleBrokerVersion)


class EventWriter:
    """An aiokafka producer started on first use and restarted after a failed start.

    ``acks="all"`` always. ``idempotence``: ``"on"`` requires an idempotent producer
    (a broker that refuses ``InitProducerId`` leaves the writer unavailable), ``"off"``
    never asks for one, ``"auto"`` asks and, when the broker refuses ``InitProducerId``
    (Tansu, the embedded broker, does), writes with a plain producer from then on.
    ``idempotent`` says what the running producer is: None until one has started.
    A write not acknowledged within ``timeout`` seconds fails: aiokafka expires a batch
    still waiting to be sent, but one already sent to a broker that stalled is written
    when the broker resumes, so the caller's retry may write it twice (docs/ingest.md).
    """

    def __init__(
        self,
        bootstrap: str,
        topic: str = EVENTS_TOPIC,
        *,
        idempotence: Idempotence = "auto",
        timeout: float = 10.0,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        if idempotence not in IDEMPOTENCE_MODES:
            raise ValueError(f"idempotence must be one of {IDEMPOTENCE_MODES}, not {idempotence!r}")
        self.bootstrap = bootstrap
        self.topic = topic
        self.idempotence: Idempotence = idempotence
        self.timeout = timeout
        self.max_message_bytes = max_message_bytes
        self.idempotent: bool | None = None
        self._refused = False  # "auto" only: the broker refused InitProducerId once
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is not None:
                return self._producer
            idempotent = self.idempotence == "on" or (self.idempotence == "auto" and not self._refused)
            try:
                try:
                    producer = await self._start(idempotent)
                except INIT_PRODUCER_ID_REFUSED as exc:
                    if not (idempotent and self.idempotence == "auto"):
                        raise
                    log.warning(
                        "Kafka at %s refused InitProducerId (%r): the producer cannot be idempotent,"
                        " writing with a plain acks=all producer instead (Tansu, the embedded broker,"
                        " always refuses it). Each event still counts once: the workers drop repeated"
                        " event ids, and the HTTP collector does not rewrite an id it wrote recently."
                        " Set idempotence to 'on' to require it, or 'off' not to ask.",
                        self.bootstrap,
                        exc,
                    )
                    self._refused, idempotent = True, False
                    producer = await self._start(idempotent)
            except (KafkaError, OSError, TimeoutError) as exc:
                refused = idempotent and isinstance(exc, INIT_PRODUCER_ID_REFUSED)
                hint = (
                    " (the broker refused InitProducerId, and idempotence is 'on':"
                    " use 'auto' or 'off' with a broker that has no idempotent producer,"
                    " such as Tansu, the embedded broker)"
                    if refused
                    else ""
                )
                log.error("cannot start the Kafka producer for %s: %r%s", self.bootstrap, exc, hint)
                unavailable = IdempotenceRefused if refused else BrokerUnavailable
                raise unavailable(f"Kafka at {self.bootstrap} is unavailable: {exc!r}{hint}") from exc
            if self.idempotent is None:
                log.info(
                    "Kafka producer for %s started: %s, acks=all (idempotence %s)",
                    self.bootstrap,
                    "idempotent" if idempotent else "not idempotent",
                    self.idempotence,
                )
            self.idempotent = idempotent
            self._producer = producer
            return producer

    def _new_producer(self, idempotent: bool) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            acks="all",
            enable_idempotence=idempotent,
            request_timeout_ms=int(self.timeout * 1000),
            max_request_size=self.max_message_bytes + 64 * 1024,
            linger_ms=0,
        )

    async def _start(self, idempotent: bool) -> AIOKafkaProducer:
        producer = self._new_producer(idempotent)
        try:
            await asyncio.wait_for(producer.start(), self.timeout)
        except BaseException:
            await producer.stop()
            raise
        return producer

    async def write(self, messages: Sequence[tuple[bytes, bytes]]) -> list[BaseException | None]:
        """Send ``(key, value)`` messages and wait for every acknowledgement.

        Returns one entry per message: None when written, else the error. Raises
        BrokerUnavailable when the producer cannot even start.
        """
        producer = await self._started()

        async def send(key: bytes, value: bytes) -> None:
            delivery = await producer.send(self.topic, value=value, key=key)
            await delivery

        results = await asyncio.gather(
            *(asyncio.wait_for(send(key, value), self.timeout + 1) for key, value in messages),
            return_exceptions=True,
        )
        errors: list[BaseException | None] = []
        for result in results:
            if isinstance(result, BaseException):
                log.warning("write to %s failed: %r", self.topic, result)
                errors.append(result)
            else:
                errors.append(None)
        return errors

    async def reachable(self, timeout: float = 2.0) -> bool:
        """True when the broker answers a metadata request."""

        async def metadata() -> None:
            producer = await self._started()
            await producer.client.fetch_all_metadata()

        try:
            await asyncio.wait_for(metadata(), timeout)
        except (BrokerUnavailable, KafkaError, OSError, TimeoutError):
            return False
        return True

    async def close(self) -> None:
        async with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
