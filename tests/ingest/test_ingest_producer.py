"""The Python producer: events built from the models, retries that keep the ids, both transports."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal

import aiohttp
import pytest
from aiohttp import web
from ingest_support import ServerThread, count_ids, events_on_topic
from pydantic import ValidationError

from shoppulse.broker import EmbeddedBroker, free_port
from shoppulse.producer import CollectorClient, KafkaClient, ProducerError, new_event, to_wire
from shoppulse.schemas.events import Order, Visit


def _order() -> Order:
    event = new_event(
        "order",
        store_id="store-a",
        order_id="o-1",
        currency="USD",
        items=[{"sku": "HUB-2", "category": "hub", "quantity": 1, "unit_price": Decimal("129.00")}],
    )
    assert isinstance(event, Order)
    return event


def test_new_event_fills_id_and_time_and_validates() -> None:
    event = new_event("visit", store_id="store-a", visit_id="v-1")
    assert isinstance(event, Visit)
    assert uuid.UUID(event.event_id).version == 4
    assert event.ts.tzinfo is not None
    assert new_event("visit", store_id="s", visit_id="v", event_id="mine").event_id == "mine"
    assert to_wire(_order())["items"][0]["unit_price"] == "129.00"
    with pytest.raises(ValidationError):
        new_event("visit", store_id="store-a")  # no visit_id
    with pytest.raises(ValidationError):
        new_event("visit", store_id="store-a", visit_id="v", ts="2026-05-01T12:00:00")  # naive


@pytest.fixture
def lossy_front(collector: ServerThread) -> Iterator[tuple[ServerThread, list[bytes]]]:
    """Forwards to the collector but loses the first answer (502), as a flaky network would."""
    bodies: list[bytes] = []

    async def forward(request: web.Request) -> web.Response:
        body = await request.read()
        bodies.append(body)
        async with aiohttp.ClientSession() as session:
            headers = {key: request.headers[key] for key in ("Authorization", "Content-Type")}
            async with session.post(f"{collector.url}/v1/events", data=body, headers=headers) as answer:
                payload = await answer.read()
                if len(bodies) == 1:
                    return web.Response(status=502, text="bad gateway")
                return web.Response(body=payload, status=answer.status, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/events", forward)
    front = ServerThread(app).start()
    yield front, bodies
    front.stop()


def test_collector_client_retries_with_the_same_ids_and_events_land_once(
    lossy_front: tuple[ServerThread, list[bytes]], broker: EmbeddedBroker
) -> None:
    front, bodies = lossy_front
    events = [new_event("visit", store_id="store-a", visit_id="v-9"), _order()]

    async def send() -> list[str]:
        async with CollectorClient(front.url, token="token-a", backoff=0.01) as client:
            report = await client.send(events)
        assert report.rejected == []
        assert report.duplicates == report.accepted  # the lost first try had written them
        return report.accepted

    ids = [event.event_id for event in events]
    assert asyncio.run(send()) == ids
    assert len(bodies) == 2
    assert bodies[0] == bodies[1]
    assert count_ids(events_on_topic(broker.bootstrap), ids) == dict.fromkeys(ids, 1)


def test_collector_client_reports_rejections_and_refusals(collector: ServerThread) -> None:
    foreign = new_event("visit", store_id="store-b", visit_id="v")
    wrong_currency = _order().model_copy(update={"currency": "EUR"})

    async def send() -> None:
        async with CollectorClient(collector.url, token="token-a", backoff=0.01) as client:
            report = await client.send([wrong_currency])
            assert [r["reason"] for r in report.rejected] == ["currency_mismatch"]
            with pytest.raises(ProducerError, match="403"):
                await client.send([foreign])

    asyncio.run(send())


def test_kafka_client_writes_the_collector_message_format(
    broker: EmbeddedBroker, caplog: pytest.LogCaptureFixture
) -> None:
    events = [new_event("visit", store_id="store-a", visit_id="v"), _order()]

    async def send() -> tuple[list[str], bool | None]:
        async with KafkaClient(broker.bootstrap) as client:  # idempotence="auto"
            return (await client.send(events)).accepted, client.idempotent

    ids = [event.event_id for event in events]
    accepted, idempotent = asyncio.run(send())
    assert accepted == ids
    assert idempotent is False  # Tansu refused InitProducerId: a plain acks=all producer
    assert "refused InitProducerId (UnknownError" in caplog.text
    assert count_ids(events_on_topic(broker.bootstrap), ids) == dict.fromkeys(ids, 1)


def test_kafka_client_with_idempotence_on_gives_up_against_tansu_at_once(broker: EmbeddedBroker) -> None:
    """A broker that refuses InitProducerId will refuse it again: no retries, and the
    error says which setting to change."""

    async def send() -> None:
        async with KafkaClient(broker.bootstrap, idempotence="on", retries=4, backoff=30) as client:
            await client.send([new_event("visit", store_id="store-a", visit_id="v")])

    started = time.monotonic()
    with pytest.raises(ProducerError, match=r"UnknownError.*use 'auto' or 'off'"):
        asyncio.run(send())
    assert time.monotonic() - started < 30  # a retry would have waited 30 s first


def test_kafka_client_retries_with_the_same_ids_until_the_broker_is_back() -> None:
    """No broker: the send gives up and nothing is written; the broker starts while a
    second send retries, and the very same events land once.

    What this cannot show on Tansu: a write whose acknowledgement is lost. That retry
    may write an event twice (no idempotent producer here), and the workers drop the
    repeated event id (tests/streams).
    """
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    events = [new_event("visit", store_id="store-a", visit_id="v-r"), _order()]
    ids = [event.event_id for event in events]
    started: list[EmbeddedBroker] = []

    async def scenario() -> list[str]:
        async with KafkaClient(bootstrap, retries=0, timeout=2.0) as client:
            with pytest.raises(ProducerError, match="unavailable"):
                await client.send(events)
        async with KafkaClient(bootstrap, retries=8, backoff=0.1, timeout=2.0) as client:
            sending = asyncio.create_task(client.send(events))
            await asyncio.sleep(0.3)  # a few refused attempts
            assert not sending.done()
            started.append(EmbeddedBroker(port=port).start())  # the first write creates the topic
            return (await sending).accepted

    try:
        assert asyncio.run(scenario()) == ids
        assert count_ids(events_on_topic(bootstrap), ids) == dict.fromkeys(ids, 1)
    finally:
        for running in started:
            running.stop(timeout=0.2)
