"""The collector against a real broker: exactly once, reasons, stores, hostile bodies, CORS."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiohttp
import orjson
import pytest
from ingest_support import (
    ALLOWED_ORIGIN,
    ServerThread,
    count_ids,
    events_on_topic,
    order,
    post_events,
    read_topic,
    request,
    visit,
)

from shoppulse.broker import EmbeddedBroker
from shoppulse.schemas.jsonschema import event_schemas


def test_retried_requests_put_each_event_on_the_topic_once(
    collector: ServerThread, broker: EmbeddedBroker
) -> None:
    batch = [visit(), order(), visit(), order(discount="10.00")]
    ids = [event["event_id"] for event in batch]

    first = post_events(collector.url, batch)
    assert first.status == 200
    assert [r["status"] for r in first.json()["results"]] == ["accepted"] * 4
    assert first.json()["duplicates"] == 0

    # The client did not get the answer and retries: sequentially, then several at once.
    again = post_events(collector.url, batch)
    assert again.status == 200
    assert all(r["duplicate"] for r in again.json()["results"])

    async def concurrent_retries() -> list[int]:
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer token-a"}) as session:

            async def post() -> int:
                async with session.post(f"{collector.url}/v1/events", json=batch) as response:
                    return response.status

            return list(await asyncio.gather(*(post() for _ in range(5))))

    assert asyncio.run(concurrent_retries()) == [200] * 5

    assert count_ids(events_on_topic(broker.bootstrap), ids) == dict.fromkeys(ids, 1)
    # One message per store per request: key = store id, value = the JSON array as sent.
    [message] = [r for r in read_topic(broker.bootstrap) if ids[0].encode() in r.value]
    assert message.key == b"store-a"
    assert orjson.loads(message.value) == batch


def test_concurrent_new_events_are_all_written(collector: ServerThread, broker: EmbeddedBroker) -> None:
    batches = [[visit() for _ in range(20)] for _ in range(10)]

    async def post_all() -> list[int]:
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer token-a-rotated"}) as session:

            async def post(batch: list[dict[str, Any]]) -> int:
                async with session.post(f"{collector.url}/v1/events", json=batch) as response:
                    return response.status

            return list(await asyncio.gather(*(post(batch) for batch in batches)))

    assert asyncio.run(post_all()) == [200] * 10
    ids = [event["event_id"] for batch in batches for event in batch]
    assert count_ids(events_on_topic(broker.bootstrap), ids) == dict.fromkeys(ids, 1)


def _without(event: dict[str, Any], field: str) -> dict[str, Any]:
    return {key: value for key, value in event.items() if key != field}


def _item(**changes: Any) -> list[dict[str, Any]]:
    return [{"sku": "BULB-4", "category": "lighting", "quantity": 2, "unit_price": "19.50", **changes}]


@pytest.mark.parametrize(
    ("event", "reason", "path"),
    [
        (_without(visit(), "visit_id"), "missing_field", "visit_id"),
        (_without(visit(), "event_id"), "missing_field", "event_id"),
        (visit(referrer="x"), "unknown_field", "referrer"),
        (visit(type="teleport"), "unknown_type", "type"),
        (visit(ts="2026-05-01T12:00:00"), "naive_timestamp", "ts"),
        (visit(ts="yesterday"), "invalid_timestamp", "ts"),
        (order(currency="EUR"), "currency_mismatch", "currency"),
        (order(currency="XYZ"), "invalid_currency", "currency"),
        (order(items=_item(unit_price="19.999")), "invalid_money", "items.0.unit_price"),
        (order(items=_item(unit_price=19.5)), "invalid_money", "items.0.unit_price"),
        (order(items=_item(quantity=0)), "out_of_range", "items.0.quantity"),
        (order(items=_item(quantity="2")), "wrong_type", "items.0.quantity"),
        (visit(schema_version=2), "unsupported_schema_version", "schema_version"),
        ("not an event", "not_an_object", ""),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_rejected_events_get_the_documented_reason(
    collector: ServerThread, broker: EmbeddedBroker, event: Any, reason: str, path: str
) -> None:
    good = visit()
    mixed = post_events(collector.url, [good, event])
    assert mixed.status == 207
    accepted, rejected = mixed.json()["results"]
    assert accepted["status"] == "accepted"
    assert (rejected["status"], rejected["reason"], rejected["path"]) == ("rejected", reason, path)
    assert rejected["index"] == 1
    assert rejected["message"]

    alone = post_events(collector.url, event)
    assert alone.status == 400
    assert alone.json()["results"][0]["reason"] == reason

    if isinstance(event, dict) and isinstance(event.get("event_id"), str):
        assert count_ids(events_on_topic(broker.bootstrap), [event["event_id"]]) == {event["event_id"]: 0}


def test_a_token_writes_only_for_its_own_store(collector: ServerThread, broker: EmbeddedBroker) -> None:
    for_b = order("store-b", currency="EUR")
    refused = post_events(collector.url, [visit(), for_b], token="token-a")
    assert refused.status == 403
    assert refused.json()["error"] == "forbidden_store"
    assert post_events(collector.url, [for_b], token="token-a-rotated").status == 403

    assert post_events(collector.url, [for_b], token="token-b").status == 200
    assert post_events(collector.url, [visit()], token="token-a-rotated").status == 200

    missing = post_events(collector.url, [visit()], token=None)
    assert missing.status == 401
    assert missing.json()["error"] == "missing_token"
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    unknown = post_events(collector.url, [visit()], token="token-c")
    assert (unknown.status, unknown.json()["error"]) == (401, "unknown_token")

    assert count_ids(events_on_topic(broker.bootstrap), [for_b["event_id"]]) == {for_b["event_id"]: 1}


def _nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


JSON = {"Content-Type": "application/json", "Authorization": "Bearer token-a"}


@pytest.mark.parametrize(
    ("body", "headers", "status", "error"),
    [
        pytest.param(b"[" + b" " * (10 * 1024 * 1024) + b"]", JSON, 413, "body_too_large", id="10MB-body"),
        pytest.param(_nested(100), JSON, 400, "json_too_deep", id="100-levels"),
        pytest.param(b'{"event_id": "\xff\xfe"}', JSON, 400, "invalid_json", id="invalid-utf8"),
        pytest.param(orjson.dumps([visit()])[:-20], JSON, 400, "invalid_json", id="truncated-json"),
        pytest.param(b"", JSON, 400, "invalid_json", id="empty-body"),
        pytest.param(b"[]", JSON, 400, "empty_batch", id="empty-array"),
        pytest.param(orjson.dumps([visit()] * 1001), JSON, 413, "too_many_events", id="1001-events"),
        pytest.param(orjson.dumps(visit()), {"Authorization": "Bearer token-a"}, 415, None, id="no-type"),
        pytest.param(orjson.dumps(visit()), {**JSON, "Content-Type": "text/plain"}, 415, None, id="text"),
        pytest.param(
            orjson.dumps(visit()), {**JSON, "Content-Type": "application/json; charset=latin-1"}, 415, None
        ),
    ],
)
def test_hostile_bodies_get_a_clear_4xx_and_the_collector_keeps_serving(
    collector: ServerThread, body: bytes, headers: dict[str, str], status: int, error: str | None
) -> None:
    answer = request(collector.url, "POST", "/v1/events", body, headers)
    assert answer.status == status
    assert answer.json()["error"] == (error or "unsupported_media_type")
    assert answer.json()["message"]
    assert request(collector.url, "GET", "/healthz").status == 200
    assert post_events(collector.url, [visit()]).status == 200


def test_an_upload_cut_off_midway_leaves_the_collector_serving(collector: ServerThread) -> None:
    head = (
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Authorization: Bearer token-a\r\nContent-Length: 5000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", collector.port)) as sock:
        sock.sendall(head.encode() + orjson.dumps([visit()])[:50])
    assert request(collector.url, "GET", "/healthz").status == 200
    assert post_events(collector.url, [visit()]).status == 200


def test_cors_preflight_and_response_headers(collector: ServerThread) -> None:
    preflight = {"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST"}
    allowed = request(collector.url, "OPTIONS", "/v1/events", headers=preflight)
    assert allowed.status == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
    assert {"authorization", "content-type"} <= {
        h.strip().lower() for h in allowed.headers["Access-Control-Allow-Headers"].split(",")
    }

    other = request(
        collector.url, "OPTIONS", "/v1/events", headers={**preflight, "Origin": "https://evil.example"}
    )
    assert other.status == 403
    assert "Access-Control-Allow-Origin" not in other.headers

    answer = request(
        collector.url, "POST", "/v1/events", orjson.dumps(visit()), {**JSON, "Origin": ALLOWED_ORIGIN}
    )
    assert answer.status == 200
    assert answer.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN


def test_health_readiness_schemas_and_metrics(collector: ServerThread) -> None:
    assert request(collector.url, "GET", "/healthz").json() == {"status": "ok"}
    assert request(collector.url, "GET", "/readyz").json() == {"status": "ready"}

    schemas = request(collector.url, "GET", "/v1/schemas")
    assert schemas.status == 200
    assert schemas.json() == event_schemas()
    one = request(collector.url, "GET", "/v1/schemas/order")
    assert one.json() == event_schemas()["order.json"]
    assert request(collector.url, "GET", "/v1/schemas/nope").status == 404

    post_events(collector.url, [visit(), visit(ts="2026-05-01T12:00:00")])
    metrics = request(collector.url, "GET", "/metrics").body.decode()
    assert 'shoppulse_collector_requests_total{route="/v1/events",status="207"}' in metrics
    assert 'shoppulse_collector_events_accepted_total{store="store-a"}' in metrics
    assert 'shoppulse_collector_events_rejected_total{reason="naive_timestamp"}' in metrics
    assert "shoppulse_collector_request_duration_seconds_bucket" in metrics
    assert request(collector.url, "GET", "/nowhere").status == 404
