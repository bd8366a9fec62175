"""One test per claim of docs/security.md that no other test already proves.

Claims proven elsewhere are cited in the document instead (tests/ingest/*, the two
fuzz tests, tests/schemas/test_validation.py). Real processes throughout: a `shoppulse
collector` and a `shoppulse worker` on the embedded broker.
"""

from __future__ import annotations

import asyncio
import gzip
import hmac
import http.client
import re
import socket
import sys
import time
import urllib.request
import uuid
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from shoppulse.broker import EmbeddedBroker, free_port
from shoppulse.config import WorkerSettings
from shoppulse.ingest import tokens as tokens_module
from shoppulse.ingest.tokens import Tokens
from shoppulse.schemas.events import MAX_ORDER_MINOR_UNITS
from shoppulse.schemas.jsonschema import event_schemas
from shoppulse.schemas.stores import Stores
from shoppulse.schemas.validation import MAX_MESSAGE_CHARS, MAX_PATH_CHARS, EventValidator, Reason, Rejection
from shoppulse.streams.worker import TOPIC_CONFIGS, topic_plan
from tests.builders import PARTY_STORE, SMART_STORE, event
from tests.builders import STORES_YAML as WORKER_STORES_YAML
from tests.streams.support import Sample, start_worker, total, wait_settled, wait_until

sys.path.insert(0, str(Path(__file__).parent / "ingest"))  # as pytest does for that folder
from ingest_support import (
    ALLOWED_ORIGIN,
    RAW_TOKENS,
    STORES_YAML,
    create_topic,
    events_on_topic,
    read_topic,
    request,
    visit,
    write_tokens_file,
)
from test_fuzz_collector import CollectorProcess, start_collector

CONFIGURED = frozenset({"store-a", "store-b"})
JSON = {"Content-Type": "application/json"}


def auth(token: str) -> dict[str, str]:
    return {**JSON, "Authorization": f"Bearer {token}"}


def post(url: str, payload: Any, token: str | None = "token-a", **headers: str) -> Any:
    sent = {**(auth(token) if token else JSON), **headers}
    return request(url, "POST", "/v1/events", orjson.dumps(payload), sent)


def series(text: str) -> dict[Sample, float]:
    out: dict[Sample, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def collector_series(url: str) -> dict[Sample, float]:
    return series(request(url, "GET", "/metrics").body.decode())


def label_values(samples: dict[Sample, float], name: str) -> set[str]:
    return {value for _, labels in samples for key, value in labels if key == name}


# --- fixtures: one broker, collectors as processes -----------------------------------------


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("security")
    (path / "stores.yaml").write_text(STORES_YAML, encoding="utf-8")
    write_tokens_file(path / "tokens.yaml", RAW_TOKENS)
    return path


@pytest.fixture(scope="module")
def kafka(folder: Path) -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(log_path=folder / "broker.log") as broker:
        create_topic(broker.bootstrap)
        yield broker


@pytest.fixture(scope="module")
def guarded(folder: Path, kafka: EmbeddedBroker) -> Iterator[CollectorProcess]:
    """As deployed: a tokens file and one allowed browser origin."""
    with start_collector(
        folder, "guarded", kafka.bootstrap, folder / "tokens.yaml", "--cors-origin", ALLOWED_ORIGIN
    ) as collector:
        yield collector


@pytest.fixture(scope="module")
def unguarded(folder: Path, kafka: EmbeddedBroker) -> Iterator[CollectorProcess]:
    """Development mode: no tokens file."""
    with start_collector(folder, "unguarded", kafka.bootstrap, None) as collector:
        yield collector


# --- endpoints ----------------------------------------------------------------------------


def test_only_posting_events_needs_a_token_and_reads_reveal_no_ids(guarded: CollectorProcess) -> None:
    url = guarded.url
    sent = visit(customer_id=f"cust-{uuid.uuid4()}")
    assert post(url, sent).status == 200
    assert post(url, visit(), token=None).status == 401

    # Readable by anyone who can reach the port, token or not:
    assert request(url, "GET", "/healthz").json() == {"status": "ok"}
    assert request(url, "GET", "/readyz").json() == {"status": "ready"}
    assert request(url, "GET", "/v1/schemas").json() == event_schemas()  # the public contract
    metrics = request(url, "GET", "/metrics")
    assert metrics.status == 200
    samples = series(metrics.body.decode())
    names = {key for _, labels in samples for key, _ in labels}
    assert names <= {"route", "status", "store", "reason", "le"}
    assert label_values(samples, "store") <= CONFIGURED
    text = metrics.body.decode()
    for secret in (sent["event_id"], sent["customer_id"], sent["visit_id"], *RAW_TOKENS):
        assert secret not in text

    # Every other method or path is refused, as JSON.
    for method, path, status in [
        ("PUT", "/v1/events", 405),
        ("DELETE", "/metrics", 405),
        ("GET", "/admin", 404),
    ]:
        answer = request(url, method, path, headers={"Authorization": "Bearer token-a"})
        assert answer.status == status
        assert set(answer.json()) == {"error", "message"}
        if status == 405:  # RFC 9110: a 405 names the methods the route takes
            assert answer.headers["Allow"] in ("POST", "GET,HEAD")


def test_error_answers_do_not_reveal_the_broker_address(folder: Path) -> None:
    dead = f"127.0.0.1:{free_port()}"
    collector = start_collector(folder, "dead-broker", dead, folder / "tokens.yaml")
    try:
        answer = post(collector.url, [visit()])
        assert answer.status == 503
        assert answer.json() == {
            "error": "broker_unavailable",
            "message": "Kafka did not acknowledge the write; retry the same request",
        }
        assert request(collector.url, "GET", "/readyz").json()["status"] == "unready"
    finally:
        collector.stop()
    assert dead in collector.log.read_text()  # the operator still sees it, in the log


def test_answers_do_not_name_the_server_software(guarded: CollectorProcess) -> None:
    for answer in (
        request(guarded.url, "GET", "/healthz"),
        request(guarded.url, "GET", "/nowhere"),
        post(guarded.url, [visit()], token="nope"),
        post(guarded.url, [visit()]),
    ):
        assert answer.headers["Server"] == "shoppulse-collector"


def test_worker_metrics_listen_on_every_interface_by_default() -> None:
    """The worker's /metrics and /healthz have no token: keep the port off public networks."""
    assert WorkerSettings.model_fields["metrics_host"].default == "0.0.0.0"


# --- tokens -------------------------------------------------------------------------------


def test_every_known_hash_is_compared_whatever_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """No early exit and fixed-length operands: the time taken says nothing about the token."""
    tokens = Tokens.from_raw({"store-a": ["first", "second"], "store-b": ["third", "fourth", "fifth"]})
    calls: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(tokens_module.hmac, "compare_digest", spy)
    for presented, store in [
        ("first", "store-a"),
        ("fifth", "store-b"),
        ("unknown", None),
        ("", None),
        ("x" * 10_000, None),
        ("fifth\u00e9\udcff", None),  # not UTF-8 encodable as is: still hashed, never raises
    ]:
        calls.clear()
        assert tokens.store_for(presented) == store
        assert calls == [(32, 32)] * 5, presented


def test_duplicate_keys_cannot_smuggle_another_stores_event(
    guarded: CollectorProcess, kafka: EmbeddedBroker
) -> None:
    """Both parsers the collector uses keep the last of repeated keys: one meaning only."""
    template = visit()
    body = orjson.dumps(template)[:-1]
    smuggled = body + b',"store_id":"store-b"}'  # store-a first, store-b last
    answer = request(guarded.url, "POST", "/v1/events", smuggled, auth("token-a"))
    assert (answer.status, answer.json()["error"]) == (403, "forbidden_store")

    second = visit()
    disguised = orjson.dumps(second)[:1] + b'"store_id":"store-b",' + orjson.dumps(second)[1:]
    answer = request(guarded.url, "POST", "/v1/events", disguised, auth("token-a"))
    assert answer.status == 200  # store-b first, store-a last: an event of store-a
    [record] = [r for r in read_topic(kafka.bootstrap) if second["event_id"].encode() in r.value]
    assert record.key == b"store-a"
    assert orjson.loads(record.value) == [second]
    assert template["event_id"] not in {e["event_id"] for e in events_on_topic(kafka.bootstrap)}


def test_recent_event_ids_are_remembered_per_store(guarded: CollectorProcess, kafka: EmbeddedBroker) -> None:
    """Another store's writer cannot make a store's next event look like a duplicate."""
    shared = f"shared-{uuid.uuid4()}"
    first = post(guarded.url, [visit("store-b", event_id=shared)], token="token-b")
    second = post(guarded.url, [visit("store-a", event_id=shared)], token="token-a")
    assert first.json()["results"][0] == {"index": 0, "event_id": shared, "status": "accepted"}
    assert second.json()["results"][0] == {"index": 0, "event_id": shared, "status": "accepted"}
    stores = sorted(e["store_id"] for e in events_on_topic(kafka.bootstrap) if e["event_id"] == shared)
    assert stores == ["store-a", "store-b"]


def test_tokens_never_appear_in_answers_or_logs(guarded: CollectorProcess) -> None:
    secret = f"secret-{uuid.uuid4()}"
    answers = [
        post(guarded.url, [visit()], token=secret),
        post(guarded.url, [visit("store-b")], token="token-a"),
        post(guarded.url, [visit()], token="token-a"),
        request(guarded.url, "POST", "/v1/events", b"{", auth("token-a")),
    ]
    assert [a.status for a in answers] == [401, 403, 200, 400]
    for answer in answers:
        assert secret.encode() not in answer.body
        assert b"token-a" not in answer.body
    log = guarded.log.read_text()
    assert secret not in log
    assert "token-a" not in log


# --- label cardinality ---------------------------------------------------------------------


def test_a_flood_of_unknown_stores_or_paths_adds_no_collector_series(
    guarded: CollectorProcess, unguarded: CollectorProcess
) -> None:
    # Every kind of answer once, so the flood below could only add label values.
    assert post(guarded.url, [visit("warm-up-store")]).status == 403
    assert post(unguarded.url, [visit("warm-up-store")], token=None).status == 400
    for collector in (guarded, unguarded):
        assert request(collector.url, "GET", "/warm-up").status == 404
        collector_series(collector.url)  # a scrape is an answer too
    before = {c.url: set(collector_series(c.url)) for c in (guarded, unguarded)}

    flood = [f"flood-{uuid.uuid4().hex[:12]}" for _ in range(600)]
    for store in flood[:200]:  # with tokens: each request refused whole
        assert post(guarded.url, [visit(store)]).status == 403
    for start in range(200, 600, 200):  # without tokens: each event refused on its own
        answer = post(unguarded.url, [visit(store) for store in flood[start : start + 200]], token=None)
        assert {r["reason"] for r in answer.json()["results"]} == {"unknown_store"}
    for collector in (guarded, unguarded):
        for _ in range(50):
            assert request(collector.url, "GET", f"/{uuid.uuid4().hex}").status == 404

    for collector in (guarded, unguarded):
        after = collector_series(collector.url)
        assert set(after) == before[collector.url]
        assert label_values(after, "store") <= CONFIGURED
        assert label_values(after, "route") <= {
            "/v1/events", "/v1/schemas", "/v1/schemas/{name}", "/healthz", "/readyz", "/metrics", "unmatched",
        }  # fmt: skip
    rejected = collector_series(unguarded.url)
    assert rejected[("shoppulse_collector_events_rejected_total", (("reason", "unknown_store"),))] >= 401


def test_the_worker_exports_no_ids_and_no_unknown_store(tmp_path: Path) -> None:
    """Straight onto the topic (no token is asked there): ids never become label values, and
    1,000 events for 1,000 unknown stores add no series; they go to the dead letters."""
    stores = tmp_path / "stores.yaml"
    stores.write_text(WORKER_STORES_YAML)
    configured = {SMART_STORE, PARTY_STORE}
    now = datetime.now(UTC)
    at = now - timedelta(hours=3)
    ids = {f"{kind}-{uuid.uuid4().hex[:8]}" for kind in ("cust", "order", "visit", "ticket")}
    cust, order_id, visit_id, ticket = sorted(ids)
    good = [
        event("visit", PARTY_STORE, at, visit_id=visit_id, customer_id=cust),
        event("order", SMART_STORE, at, order_id=order_id, customer_id=cust, currency="USD",
              items=[{"sku": "HUB-2", "category": "hub", "quantity": 1, "unit_price": "129.00"}]),
        event("delivery", SMART_STORE, at + timedelta(minutes=30), order_id=order_id),
        event("support_rating", SMART_STORE, at, ticket_id=ticket, rating=4, customer_id=cust),
    ]  # fmt: skip
    flood = [
        event("visit", f"flood-{number:04d}-{uuid.uuid4().hex[:6]}", at, visit_id=f"fv-{number}")
        for number in range(1000)
    ]
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as broker:
        worker = start_worker(tmp_path, stores, broker.bootstrap, "security")
        try:
            _produce(broker.bootstrap, [orjson.dumps(good)])
            wait_settled([worker], broker.bootstrap, "security")
            before = worker.scrape()
            assert total(before, "shoppulse_events_total") == len(good)

            _produce(broker.bootstrap, [orjson.dumps(flood[i : i + 100]) for i in range(0, 1000, 100)])
            wait_until(
                lambda: (
                    total(worker.scrape(), "shoppulse_events_rejected_total", reason="unknown_store") == 1000
                ),
                120,
                worker.tail,
            )
            after = worker.scrape()
            health = get_json(f"http://127.0.0.1:{worker.metrics_port}/healthz")
            assert set(health) <= {"status", "owned_stores"}
            assert set(health["owned_stores"]) <= configured
        finally:
            worker.kill()

    def keys(samples: dict[Sample, float]) -> set[Sample]:
        return {key for key in samples if key[0] != "shoppulse_consumer_lag_messages"}  # by partition

    assert keys(after) == keys(before)
    assert label_values(after, "store") <= configured
    names = {key for _, labels in after for key, _ in labels}
    assert names <= {
        "store",
        "vertical",
        "kpi",
        "window",
        "currency",
        "type",
        "reason",
        "topic",
        "partition",
        "le",
    }
    every_value = {value for _, labels in after for _, value in labels}
    sent_ids = ids | {e["event_id"] for e in good + flood} | {e["store_id"] for e in flood}
    assert not every_value & sent_ids
    assert total(after, "shoppulse_events_total") == len(good)


def _produce(bootstrap: str, values: list[bytes]) -> None:
    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            for value in values:
                await producer.send_and_wait("storefront.events", value)
        finally:
            await producer.stop()

    asyncio.run(send())


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return orjson.loads(response.read())


# --- request limits ------------------------------------------------------------------------


def _hwm_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]


def test_a_chunked_body_over_the_limit_is_refused(guarded: CollectorProcess) -> None:
    """No Content-Length to check up front: the limit holds while reading."""
    host, port = guarded.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    chunks = iter([b"[" + b" " * (256 * 1024)] + [b" " * (256 * 1024)] * 8 + [b"]"])
    try:
        connection.request("POST", "/v1/events", body=chunks, headers=auth("token-a"), encode_chunked=True)
        answer = connection.getresponse()
        assert (answer.status, orjson.loads(answer.read())["error"]) == (413, "body_too_large")
    finally:
        connection.close()
    guarded_serves(guarded)


def test_a_compressed_body_is_limited_after_decompression(guarded: CollectorProcess) -> None:
    """A 64 MiB gzip bomb (64 kB on the wire) is refused without being inflated in memory."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    block = b" " * (1024 * 1024)
    bomb = packer.compress(b"[") + b"".join(packer.compress(block) for _ in range(64))
    bomb += packer.compress(b"]") + packer.flush()
    assert len(bomb) < 1024 * 1024  # passes the Content-Length check: only decompression can stop it
    before = _hwm_kib(guarded.process.pid)
    answer = request(guarded.url, "POST", "/v1/events", bomb, {**auth("token-a"), "Content-Encoding": "gzip"})
    assert (answer.status, answer.json()["error"]) == (413, "body_too_large")
    assert _hwm_kib(guarded.process.pid) - before < 32 * 1024  # half of what inflating would take

    small_gzip = garbled = gzip.compress(orjson.dumps([visit()]))
    answer = request(
        guarded.url, "POST", "/v1/events", garbled, {**auth("token-a"), "Content-Encoding": "deflate"}
    )
    assert (answer.status, answer.json()["error"]) == (400, "invalid_json")  # was a 500 with a traceback
    for encoding in ("br", "zstd", "gzip, gzip", "compress"):  # aiohttp's parser had refused br in plain text
        answer = request(
            guarded.url, "POST", "/v1/events", small_gzip, {**auth("token-a"), "Content-Encoding": encoding}
        )
        assert (answer.status, answer.json()["error"]) == (415, "unsupported_media_type"), encoding
        assert answer.headers["Server"] == "shoppulse-collector"
    assert "Traceback" not in guarded.log.read_text()  # a body that does not inflate is no crash
    small = gzip.compress(orjson.dumps([visit()]))
    answer = request(
        guarded.url, "POST", "/v1/events", small, {**auth("token-a"), "Content-Encoding": "gzip"}
    )
    assert answer.status == 200, answer.json()
    guarded_serves(guarded)


def guarded_serves(collector: CollectorProcess) -> None:
    collector.assert_serving()
    assert post(collector.url, [visit()]).status == 200


VALIDATOR = EventValidator(Stores.model_validate(yaml.safe_load(STORES_YAML)).by_id())


def test_the_validator_bounds_what_it_takes_and_what_it_says() -> None:
    many = [{"sku": "S", "category": "hub", "quantity": 1, "unit_price": "1.00"}] * 1001
    order = {
        "event_id": "e", "type": "order", "store_id": "store-a", "ts": "2026-05-01T12:00:00Z",
        "order_id": "o", "currency": "USD", "items": many,
    }  # fmt: skip
    result = VALIDATOR.validate_json(orjson.dumps(order))
    assert isinstance(result, Rejection)
    assert (result.reason, result.path) == (Reason.INVALID_VALUE, "items")

    order["items"] = [
        {"sku": "S", "category": "hub", "quantity": 1, "unit_price": f"{MAX_ORDER_MINOR_UNITS}.00"}
    ]
    result = VALIDATOR.validate_json(orjson.dumps(order))
    assert isinstance(result, Rejection)
    assert (result.reason, result.path) == (Reason.OUT_OF_RANGE, "items")

    # Paths and messages travel as dead-letter headers: bounded whatever the input.
    wide = orjson.dumps({**visit(), "k" * 100_000: 1})
    result = VALIDATOR.validate_json(wide)
    assert isinstance(result, Rejection)
    assert result.reason is Reason.UNKNOWN_FIELD
    assert len(result.path) <= MAX_PATH_CHARS
    assert len(result.message) <= MAX_MESSAGE_CHARS

    # Never raises: a Kafka record without a value, an element too deep to re-encode.
    assert VALIDATOR.validate_message(None) == [
        Rejection(Reason.INVALID_JSON, "", "the message has no value (a Kafka record with a null value)")
    ]
    deep = b"[" + b"[" * 400 + b"]" * 400 + b"," + orjson.dumps(visit()) + b"]"
    first, second = VALIDATOR.validate_message(deep)
    assert isinstance(first, Rejection)
    assert first.reason is Reason.INVALID_JSON
    assert not isinstance(second, Rejection)


# --- CORS ----------------------------------------------------------------------------------


def test_pages_of_other_origins_cannot_write_or_read(guarded: CollectorProcess) -> None:
    evil = {"Origin": "https://evil.example"}
    # A page can send a "simple" cross-origin POST without a preflight, but not with a
    # bearer token or a JSON content type: both need the preflight, which is refused.
    form = request(
        guarded.url, "POST", "/v1/events", orjson.dumps([visit()]), {"Content-Type": "text/plain", **evil}
    )
    assert form.status == 401
    preflight = {
        **evil,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    assert request(guarded.url, "OPTIONS", "/v1/events", headers=preflight).status == 403
    # Answers to other origins carry no CORS header, so their scripts cannot read them.
    answer = post(guarded.url, [visit()], **evil)
    assert "Access-Control-Allow-Origin" not in answer.headers
    # No answer ever allows credentials (cookies): none are used.
    allowed = {"Origin": ALLOWED_ORIGIN}
    for answer in (
        post(guarded.url, [visit()], **allowed),
        request(
            guarded.url, "OPTIONS", "/v1/events", headers={**allowed, "Access-Control-Request-Method": "POST"}
        ),
    ):
        assert answer.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
        assert "Origin" in answer.headers["Vary"]
        assert "Access-Control-Allow-Credentials" not in answer.headers


# --- what is not protected -----------------------------------------------------------------


def test_there_is_no_rate_limit(guarded: CollectorProcess) -> None:
    """A token holder may send as fast as the collector answers: limit rates in front of it."""
    statuses = {post(guarded.url, [visit() for _ in range(10)]).status for _ in range(200)}
    assert statuses == {200}


def test_a_slow_client_keeps_its_connection(guarded: CollectorProcess) -> None:
    """No timeout while a request's headers arrive: put a proxy with timeouts in front."""
    host, port = guarded.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\n")
        time.sleep(2)
        sock.sendall(b"Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 401")  # still served: no token, after 2 s of silence


def test_dead_letters_are_kept_until_removed() -> None:
    """The worker creates its topics, the dead-letter one included, with no retention limit:
    bad events, and any personal data in them, stay until an operator sets one."""
    settings = WorkerSettings()
    assert settings.dead_letter_topic in topic_plan(settings)
    assert TOPIC_CONFIGS == {"retention.ms": "-1", "retention.bytes": "-1"}
