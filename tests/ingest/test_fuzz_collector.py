"""Hostile input through a real `shoppulse collector` process and a real broker (hypothesis).

Random bytes, any JSON, huge numbers, deep nesting, wrong types and every rule of the
contract broken one at a time (the catalogue of tests/schemas/test_validation.py): the
collector answers each request with a 4xx, or rejects each bad event with a reason code
and a field path, keeps serving, and writes to the topic only the good events it
reported accepted, each once.

Good events get fresh ids in the test body (never from a strategy), so a replayed or
shrunk example never meets its own earlier writes.
"""

from __future__ import annotations

import copy
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from ingest_support import CollectorProcess, create_topic, read_topic, request, write_tokens_file

from shoppulse.broker import EmbeddedBroker
from shoppulse.schemas.events import EVENT_MODELS, EVENT_TYPES, LineItem
from shoppulse.schemas.stores import Stores
from shoppulse.schemas.validation import EventValidator, Reason, Rejection
from tests.builders import PARTY_STORE, SMART_STORE, STORES_YAML
from tests.fuzzing import json_text, json_type, json_values
from tests.schemas.test_validation import CASES, VALID, mutate, setter

TOKENS = {"token-smart": SMART_STORE, "token-party": PARTY_STORE}
TOKEN_OF = {store: token for token, store in TOKENS.items()}
STORES = (SMART_STORE, PARTY_STORE)
REASONS = frozenset(reason.value for reason in Reason)
REQUEST_ERRORS = frozenset(
    {
        "invalid_json",
        "json_too_deep",
        "empty_batch",
        "too_many_events",
        "body_too_large",
        "forbidden_store",
        "unsupported_media_type",
        "missing_token",
        "unknown_token",
    }
)
MAX_DEPTH = 8  # the collector's default Limits.max_depth
VALIDATOR = EventValidator(Stores.model_validate(yaml.safe_load(STORES_YAML)).by_id())
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Event = dict[str, Any]
Case = tuple[str, str, Callable[[Event], Any], Reason, str]


def _huge_order(event: Event) -> None:
    event["items"][0].update(quantity=1_000_000, unit_price="99999999999999999999.99")


# Rules beyond the shared catalogue, each found or fixed with this fuzzing.
EXTRA_CASES: list[Case] = [
    ("ts-epoch-string", "visit", setter("ts", "1777636800"), Reason.INVALID_TIMESTAMP, "ts"),
    ("ts-tiny-epoch-string", "visit", setter("ts", "2"), Reason.INVALID_TIMESTAMP, "ts"),
    ("ts-no-seconds", "visit", setter("ts", "2026-05-01T12:00Z"), Reason.INVALID_TIMESTAMP, "ts"),
    ("ts-offset-no-colon", "visit", setter("ts", "2026-05-01T12:00:00+0200"), Reason.INVALID_TIMESTAMP, "ts"),
    (
        "ts-fullwidth-digit",
        "visit",
        setter("ts", "\uff12026-05-01T12:00:00Z"),
        Reason.INVALID_TIMESTAMP,
        "ts",
    ),
    ("order-total-over-the-bound", "order", _huge_order, Reason.OUT_OF_RANGE, "items"),
    (
        "price-33-chars",
        "order",
        setter("items.0.unit_price", "1" * 33),
        Reason.INVALID_MONEY,
        "items.0.unit_price",
    ),
    ("ts-null", "visit", setter("ts", None), Reason.INVALID_TIMESTAMP, "ts"),
]
ALL_CASES: list[Case] = [*CASES, *EXTRA_CASES]


# --- real processes ----------------------------------------------------------------------


def start_collector(
    folder: Path, name: str, bootstrap: str, tokens: Path | None, *options: str
) -> CollectorProcess:
    """A collector process on ``folder/stores.yaml``, logging to ``folder/<name>.log``.

    tests/test_security.py starts its collectors with this too.
    """
    return CollectorProcess.start(
        folder / "stores.yaml", bootstrap, folder=folder, name=name, tokens=tokens, options=options
    )


@pytest.fixture(scope="module")
def fuzz_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz-collector")
    (folder / "stores.yaml").write_text(STORES_YAML, encoding="utf-8")
    write_tokens_file(folder / "tokens.yaml", TOKENS)
    return folder


@pytest.fixture(scope="module")
def fuzz_broker(fuzz_folder: Path) -> Iterator[EmbeddedBroker]:
    """A broker of this module's own: its topic holds only what these tests sent."""
    with EmbeddedBroker(log_path=fuzz_folder / "broker.log") as broker:
        create_topic(broker.bootstrap)
        yield broker


@pytest.fixture(scope="module")
def guarded(fuzz_folder: Path, fuzz_broker: EmbeddedBroker) -> Iterator[CollectorProcess]:
    """The collector as deployed: with a tokens file."""
    tokens = fuzz_folder / "tokens.yaml"
    with start_collector(fuzz_folder, "guarded", fuzz_broker.bootstrap, tokens) as collector:
        yield collector


@pytest.fixture(scope="module")
def unguarded(fuzz_folder: Path, fuzz_broker: EmbeddedBroker) -> Iterator[CollectorProcess]:
    """Development mode, no tokens file: unknown stores are per-event rejections, not 403."""
    with start_collector(fuzz_folder, "unguarded", fuzz_broker.bootstrap, None) as collector:
        yield collector


@pytest.fixture(scope="module")
def accepted_ids() -> Counter[str]:
    """Every event id a collector reported accepted (not duplicate) in this module."""
    return Counter()


def post(url: str, body: bytes, token: str | None, content_type: str = "application/json") -> Any:
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return request(url, "POST", "/v1/events", body, headers)


def assert_topic_holds_only_accepted_events(bootstrap: str, accepted_ids: Counter[str]) -> None:
    """Nothing bad on the topic: every event there is valid, reported accepted, and there once."""
    on_topic: Counter[str] = Counter()
    for record in read_topic(bootstrap):
        results = VALIDATOR.validate_message(record.value)
        assert not [r for r in results if isinstance(r, Rejection)], record.value[:500]
        assert {event.store_id for event in results} == {record.key.decode()}  # type: ignore[union-attr]
        on_topic.update(event.event_id for event in results)  # type: ignore[union-attr]
    assert on_topic == accepted_ids


# --- every rule broken once --------------------------------------------------------------


def _store_of(kind: str) -> str:
    return str(VALID[kind]["store_id"])


def good(kind: str) -> Event:
    return dict(copy.deepcopy(VALID[kind]), event_id=f"good-{uuid.uuid4()}")


def _refused_as_a_whole(answer: Any, status: int, error: str) -> None:
    assert answer.status == status, answer.body[:500]
    assert answer.json()["error"] == error
    assert "results" not in answer.json()


def test_every_broken_rule_is_refused_with_its_reason_and_path(
    guarded: CollectorProcess,
    unguarded: CollectorProcess,
    fuzz_broker: EmbeddedBroker,
    accepted_ids: Counter[str],
) -> None:
    # Without tokens: every break in one batch, each between two good events.
    batch: list[Event] = []
    expected: list[tuple[str, str] | None] = []
    for _, kind, change, reason, path in ALL_CASES:
        batch += [good(kind), mutate(kind, change)]
        expected += [None, (reason.value, path)]
    answer = post(unguarded.url, orjson.dumps(batch), token=None)
    assert answer.status == 207
    results = answer.json()["results"]
    assert [r["index"] for r in results] == list(range(len(batch)))
    for event, want, result in zip(batch, expected, results, strict=True):
        if want is None:
            assert (result["status"], result["event_id"]) == ("accepted", event["event_id"]), result
            accepted_ids[event["event_id"]] += 1
        else:
            assert (result["status"], result["reason"], result["path"]) == ("rejected", *want), result
            assert result["message"]
    assert answer.json()["accepted"] == len(ALL_CASES)

    # With tokens: each break alone, with the token of the store it was made for.
    for name, kind, change, reason, path in ALL_CASES:
        broken = mutate(kind, change)
        answer = post(guarded.url, orjson.dumps(broken), token=TOKEN_OF[_store_of(kind)])
        store = broken.get("store_id")
        if isinstance(store, str) and store != _store_of(kind):
            _refused_as_a_whole(answer, 403, "forbidden_store")  # another store's event: all refused
            continue
        assert answer.status == 400, (name, answer.body[:500])
        [result] = answer.json()["results"]
        assert (result["status"], result["reason"], result["path"]) == ("rejected", reason.value, path), name

    guarded.assert_serving()
    unguarded.assert_serving()
    assert_topic_holds_only_accepted_events(fuzz_broker.bootstrap, accepted_ids)


# --- strategies --------------------------------------------------------------------------

MODELS = dict(zip(EVENT_TYPES, EVENT_MODELS, strict=True))


def _wrong_for(example: Any, required: bool) -> st.SearchStrategy[Any]:
    """A JSON value of another type than ``example`` (null only where the field is required)."""
    kind = json_type(example)

    def other(value: Any) -> bool:
        if value is None:
            return required
        got = json_type(value)
        if kind == "number":  # a float field takes integers too
            return got not in ("number", "int")
        return got != kind

    return json_values.filter(other)


def _fields(kind: str) -> list[tuple[str, Any, bool]]:
    """(path, example value, required) of every field of a valid event, line items included."""
    event, model = VALID[kind], MODELS[kind]
    out = [(field, value, model.model_fields[field].is_required()) for field, value in event.items()]
    if kind == "order":
        for field, value in event["items"][0].items():
            out.append((f"items.0.{field}", value, LineItem.model_fields[field].is_required()))
    return out


@st.composite
def wrong_typed(draw: st.DrawFn, store: str) -> tuple[Event, str]:
    """A valid event of ``store`` with one field (perhaps in a line item) of the wrong type."""
    kind = draw(st.sampled_from([k for k in VALID if _store_of(k) == store]))
    path, example, required = draw(st.sampled_from(_fields(kind)))
    event = copy.deepcopy(VALID[kind])
    setter(path, draw(_wrong_for(example, required)))(event)
    return event, path


# Numbers no double holds, integers past 64 bits, and one that underflows to 0.
HUGE_NUMBERS = [
    "1e400", "-1e400", "1" * 400, "1e30", "-1e30", str(2**63), str(2**64), str(-(2**63) - 1),
    "1e-400", "123456789012345678901234567890.5",
]  # fmt: skip


def _parses(literal: str) -> bool:
    try:
        orjson.loads(literal)
    except orjson.JSONDecodeError:
        return False
    return True


@st.composite
def huge_numbered(draw: st.DrawFn, store: str) -> tuple[bytes, str, str]:
    """(JSON text of a valid event with one field set to a huge number, its path, the literal)."""
    kind = draw(st.sampled_from([k for k in VALID if _store_of(k) == store]))
    path, _, _ = draw(st.sampled_from(_fields(kind)))
    literal = draw(st.sampled_from(HUGE_NUMBERS))
    event = copy.deepcopy(VALID[kind])
    setter(path, "@@HUGE@@")(event)
    return orjson.dumps(event).replace(b'"@@HUGE@@"', literal.encode()), path, literal


def nested(depth: int, shape: str) -> bytes:
    if shape == "arrays":
        return b"[" * depth + b"]" * depth
    if shape == "objects":
        return b'{"a":' * depth + b"1" + b"}" * depth
    return b'[{"x":' * (depth // 2) + b"0" + b"}]" * (depth // 2)  # alternating, depth 2·(d//2)


def _depth_of(depth: int, shape: str) -> int:
    return depth if shape != "mixed" else 2 * (depth // 2)


@dataclass(frozen=True)
class Body:
    """A hostile request body and what the collector must answer."""

    raw: bytes
    error: str | None = None  # the whole-request error it must get, when known


def _bytes_bodies() -> st.SearchStrategy[Body]:
    return st.binary(max_size=2000).map(Body)


def _json_bodies() -> st.SearchStrategy[Body]:
    return (json_values | st.lists(json_values, max_size=20)).map(lambda v: Body(json_text(v)))


@st.composite
def _deep_bodies(draw: st.DrawFn) -> Body:
    depth = draw(st.integers(1, 3000) | st.integers(MAX_DEPTH - 1, MAX_DEPTH + 2))
    shape = draw(st.sampled_from(["arrays", "objects", "mixed", "in-event", "in-batch"]))
    if shape in ("in-event", "in-batch"):
        event = copy.deepcopy(VALID["visit"])
        event["visit_id"] = "@@DEEP@@"
        raw = orjson.dumps([event] if shape == "in-batch" else event)
        raw = raw.replace(b'"@@DEEP@@"', nested(depth, "arrays"))
        total = depth + (2 if shape == "in-batch" else 1)
    else:
        raw, total = nested(depth, shape), _depth_of(depth, shape)
    return Body(raw, "json_too_deep" if total > MAX_DEPTH else None)


@st.composite
def _huge_bodies(draw: st.DrawFn) -> Body:
    literal = draw(st.sampled_from(HUGE_NUMBERS))
    if draw(st.booleans()):
        return Body(literal.encode(), None if _parses(literal) else "invalid_json")
    raw, _, literal = draw(huge_numbered(SMART_STORE))
    return Body(raw, None if _parses(literal) else "invalid_json")


@st.composite
def _oversized_bodies(draw: st.DrawFn) -> Body:
    if draw(st.booleans()):
        count = draw(st.integers(1001, 1500))
        return Body(b"[" + b",".join([b"{}"] * count) + b"]", "too_many_events")
    event = dict(VALID["content_view"], padding="x" * draw(st.integers(1024 * 1024, 3 * 1024 * 1024)))
    return Body(orjson.dumps(event), "body_too_large")


@st.composite
def _mutated_bodies(draw: st.DrawFn) -> Body:
    """Event-like objects: one field of a wrong type, and random fields changed or added."""
    event, path = draw(wrong_typed(SMART_STORE))
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from([*event, "colour", "", "type ", "\u0000"]))
        if name != path.split(".")[0]:  # the wrong-typed field stays wrong
            event[name] = draw(json_values)
    return Body(json_text(event))


hostile_bodies = st.one_of(
    _bytes_bodies(), _json_bodies(), _deep_bodies(), _huge_bodies(), _oversized_bodies(), _mutated_bodies()
)


# --- whole hostile bodies ----------------------------------------------------------------


def test_hostile_bodies_get_a_4xx_and_never_reach_the_topic(
    guarded: CollectorProcess, fuzz_broker: EmbeddedBroker, accepted_ids: Counter[str]
) -> None:
    @FUZZ
    @given(body=hostile_bodies)
    def check(body: Body) -> None:
        answer = post(guarded.url, body.raw, token="token-smart")
        assert 400 <= answer.status < 500, (answer.status, answer.body[:500])
        payload = answer.json()
        if body.error is not None:
            assert payload["error"] == body.error, payload
        elif "error" in payload:
            assert payload["error"] in REQUEST_ERRORS, payload
            assert payload["message"]
        else:
            assert payload["accepted"] == 0, payload
            for result in payload["results"]:
                assert result["status"] == "rejected", result
                assert result["reason"] in REASONS, result
                assert isinstance(result["path"], str), result
                assert result["message"], result
        guarded.assert_serving()

    check()
    assert_topic_holds_only_accepted_events(fuzz_broker.bootstrap, accepted_ids)


# --- bad events among good ones ----------------------------------------------------------


def depth(value: Any) -> int:
    """Levels of arrays and objects, as the collector counts them (``[]`` is one)."""
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


@dataclass(frozen=True)
class Entry:
    """One element of a batch: its JSON text, and what the collector must say about it."""

    kind: str  # "good" (sent with a fresh event id) or "bad"
    raw: bytes
    depth: int
    reason: str | None = None  # the exact reason, where the break fixes it
    path: str | None = None
    parseable: bool = True


ids_text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), min_size=1, max_size=128)
tricky_ids = (
    st.sampled_from(["[[[[[[[[[[[[[[[[", '{"a": [', '\\"]}', "\u2028", "\ufeff", "'; DROP"]) | ids_text
)


@st.composite
def entries(draw: st.DrawFn, store: str) -> Entry:
    kinds = [k for k in VALID if _store_of(k) == store]
    choice = draw(st.sampled_from(["good", "good", "case", "wrong", "huge"]))
    if choice == "good":
        kind = draw(st.sampled_from(kinds))
        event = copy.deepcopy(VALID[kind])
        id_fields = [f for f in event if f.endswith("_id") and f not in ("event_id", "store_id")]
        if id_fields:
            event[draw(st.sampled_from(id_fields))] = draw(tricky_ids)  # valid: any 1-128 chars
        return Entry("good", orjson.dumps(event), depth(event))
    if choice == "case":
        cases = [
            c for c in ALL_CASES if _store_of(c[1]) == store and mutate(c[1], c[2]).get("store_id") == store
        ]
        _, kind, change, reason, path = draw(st.sampled_from(cases))
        broken = mutate(kind, change)
        return Entry("bad", orjson.dumps(broken), depth(broken), reason.value, path)
    if choice == "wrong":
        event, path = draw(wrong_typed(store))
        return Entry("bad", json_text(event), depth(event), None, path)
    raw, path, literal = draw(huge_numbered(store))
    return Entry(
        "bad", raw, depth(orjson.loads(raw.replace(literal.encode(), b"0"))), None, path, _parses(literal)
    )


@st.composite
def batches(draw: st.DrawFn) -> tuple[str, list[Entry], bool]:
    store = draw(st.sampled_from(STORES))
    batch = draw(st.lists(entries(store), min_size=1, max_size=12))
    foreign = draw(st.integers(0, 9)) == 0  # now and then, one event of the other store
    return store, batch, foreign


def _fresh(raw: bytes) -> tuple[bytes, str]:
    event_id = f"good-{uuid.uuid4()}"
    event = orjson.loads(raw)
    event["event_id"] = event_id
    return orjson.dumps(event), event_id


def test_bad_events_among_good_ones_are_rejected_one_by_one(
    guarded: CollectorProcess, fuzz_broker: EmbeddedBroker, accepted_ids: Counter[str]
) -> None:
    @FUZZ
    @given(drawn=batches())
    def check(drawn: tuple[str, list[Entry], bool]) -> None:
        store, batch, foreign = drawn
        parts: list[bytes] = []
        good_ids: dict[int, str] = {}
        for index, entry in enumerate(batch):
            if entry.kind == "bad":
                parts.append(entry.raw)
            else:
                raw, good_ids[index] = _fresh(entry.raw)
                parts.append(raw)
        if foreign:
            other = next(s for s in STORES if s != store)
            parts.append(orjson.dumps(good(next(k for k in VALID if _store_of(k) == other))))
        answer = post(guarded.url, b"[" + b",".join(parts) + b"]", token=TOKEN_OF[store])

        # The collector's order of checks: depth, parse, stores, then each event.
        if 1 + max(entry.depth for entry in batch) > MAX_DEPTH:
            _refused_as_a_whole(answer, 400, "json_too_deep")
        elif not all(entry.parseable for entry in batch):
            _refused_as_a_whole(answer, 400, "invalid_json")
        elif foreign:
            _refused_as_a_whole(answer, 403, "forbidden_store")
        else:
            expected_status = 200 if len(good_ids) == len(batch) else 400 if not good_ids else 207
            assert answer.status == expected_status, answer.body[:1000]
            for index, (entry, result) in enumerate(zip(batch, answer.json()["results"], strict=True)):
                assert result["index"] == index
                if entry.kind != "bad":
                    assert (result["status"], result["event_id"]) == ("accepted", good_ids[index]), result
                    assert "duplicate" not in result
                    accepted_ids[good_ids[index]] += 1
                    continue
                assert result["status"] == "rejected", result
                assert result["path"] == entry.path, (entry, result)
                assert result["reason"] == (entry.reason or result["reason"]), (entry, result)
                assert result["reason"] in REASONS, result
                assert result["message"], result
        guarded.assert_serving()

    check()
    assert_topic_holds_only_accepted_events(fuzz_broker.bootstrap, accepted_ids)


# --- headers -----------------------------------------------------------------------------

PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E)  # what http.client can send
AUTHORIZATIONS = st.sampled_from(
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dG9rZW4tc21hcnQ=",
        "Token token-smart",
        "Bearer token-party",
        "bearer token-smart",
        "Bearer  token-smart",
        "Bearer token-smart token-smart",
    ]
) | st.text(alphabet=PRINTABLE, max_size=60).map(lambda text: f"Bearer {text}")
CONTENT_TYPES = st.sampled_from(
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=latin-1",
        "application/json; charset=utf-16",
        "multipart/form-data; boundary=x",
    ]
) | st.text(alphabet=PRINTABLE, max_size=40)


def _expected_refusal(authorization: str | None, content_type: str | None) -> tuple[int, str] | None:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return 401, "missing_token"
    if token.strip() not in TOKENS:
        return 401, "unknown_token"
    media, _, params = (content_type or "").partition(";")
    charset = params.strip().lower().removeprefix("charset=") if "charset=" in params.lower() else None
    if media.strip().lower() != "application/json" or charset not in (None, "utf-8"):
        return 415, "unsupported_media_type"
    if TOKENS[token.strip()] != SMART_STORE:
        return 403, "forbidden_store"  # the order is for the smart-home store
    return None


def test_hostile_headers_are_refused_before_the_body_is_read(
    guarded: CollectorProcess, fuzz_broker: EmbeddedBroker, accepted_ids: Counter[str]
) -> None:
    @FUZZ
    @given(authorization=AUTHORIZATIONS, content_type=CONTENT_TYPES)
    @example(authorization="Bearer token-party", content_type=";0*")  # once a 500: the stdlib's parser
    def check(authorization: str | None, content_type: str | None) -> None:
        event = good("order")
        headers = {}
        if authorization is not None:
            headers["Authorization"] = authorization
        if content_type is not None:
            headers["Content-Type"] = content_type
        answer = request(guarded.url, "POST", "/v1/events", orjson.dumps(event), headers)
        refusal = _expected_refusal(authorization, content_type)
        if refusal is None:
            assert answer.status == 200, (authorization, content_type, answer.body[:300])
            accepted_ids[event["event_id"]] += 1
        else:
            assert (answer.status, answer.json()["error"]) == refusal, (authorization, content_type)
            if refusal[0] == 401:
                assert answer.headers["WWW-Authenticate"] == "Bearer"
        guarded.assert_serving()

    check()
    assert_topic_holds_only_accepted_events(fuzz_broker.bootstrap, accepted_ids)
