"""Hostile messages straight onto storefront.events, through a real worker (hypothesis).

Random bytes, any JSON, huge numbers, deep nesting, wrong types, every rule of the
contract broken one at a time (the catalogue of tests/schemas/test_validation.py), late
and future events, alone or inside batches next to good events. Each bad event must
land in storefront.events.dlq with its original bytes (a batch element: that element
as JSON) and the headers ``shoppulse-reason`` and ``shoppulse-path``; the worker keeps
running; and the KPIs it exports at the end equal ``shoppulse report`` on the good
events alone.

One worker serves every example. Good events get fresh ids in the test body, and times
away from the window edges (see tests/streams/traffic.py).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from shoppulse.broker import EmbeddedBroker
from shoppulse.schemas.validation import MAX_PATH_CHARS, Reason
from shoppulse.streams.router import dead_letter_source
from tests.builders import SMART_STORE, STORES_YAML, event, iso
from tests.fuzzing import json_text, json_type, json_values
from tests.schemas.test_validation import CASES, VALID, mutate, setter
from tests.streams.support import exported, reference, start_worker, total, wait_settled

TOPIC = "storefront.events"
DLQ = "storefront.events.dlq"
APP_ID = "fuzz"
REASONS = frozenset(reason.value for reason in Reason)
Event = dict[str, Any]


# --- the two ends of the worker ----------------------------------------------------------


@dataclass
class DeadLetter:
    value: bytes | None
    reason: str
    path: str
    message: str
    source: tuple[str, ...]  # topic, partition, offset, index in its array ("" if none)


class Wire:
    """A producer to the input topic and a reader of the dead-letter topic, kept open."""

    def __init__(self, bootstrap: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self._start(bootstrap))

    async def _start(self, bootstrap: str) -> None:  # aiokafka clients are made inside their loop
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=2 * 1024 * 1024)
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        await self.producer.start()
        await self.consumer.start()
        self.consumer.assign([TopicPartition(DLQ, 0)])  # the worker creates it with one partition

    def send(self, values: list[bytes]) -> None:
        async def send_all() -> None:
            pending = [await self.producer.send(TOPIC, value) for value in values]
            await asyncio.gather(*pending)

        self.loop.run_until_complete(send_all())

    def dead_letters(self, count: int, timeout: float = 120, linger: float = 0.0) -> list[DeadLetter]:
        """The next ``count`` dead letters (and any more arriving within ``linger`` seconds)."""

        async def read() -> list[DeadLetter]:
            got: list[DeadLetter] = []
            deadline = self.loop.time() + timeout
            while len(got) < count and self.loop.time() < deadline:
                for records in (await self.consumer.getmany(timeout_ms=200)).values():
                    got.extend(_dead_letter(record.value, record.headers) for record in records)
            if linger:
                for records in (await self.consumer.getmany(timeout_ms=int(linger * 1000))).values():
                    got.extend(_dead_letter(record.value, record.headers) for record in records)
            return got

        return self.loop.run_until_complete(read())

    def close(self) -> None:
        async def stop() -> None:
            await self.producer.stop()
            await self.consumer.stop()

        self.loop.run_until_complete(stop())
        self.loop.close()


def _dead_letter(value: bytes | None, headers: Any) -> DeadLetter:
    found = {key: raw.decode() for key, raw in headers}
    return DeadLetter(
        value,
        found["shoppulse-reason"],
        found["shoppulse-path"],
        found["shoppulse-message"],
        dead_letter_source(headers),
    )


# --- what is sent, and what must come back -----------------------------------------------


@dataclass(frozen=True)
class Bad:
    """A bad event: its bytes and what its dead letter must say."""

    raw: bytes
    reason: str | None = None  # exact, where the break fixes it
    path: str | None = None  # exact where the break fixes it ("" also allowed with invalid_json)


@dataclass(frozen=True)
class Good:
    event: Event  # event_id is set when sent


@dataclass(frozen=True)
class Message:
    parts: tuple[Bad | Good, ...]
    batch: bool


@dataclass
class Expected:
    dead: list[Bad] = field(default_factory=list)  # raw = the dead letter's value
    good: list[Event] = field(default_factory=list)


ids = itertools.count()


def materialise(message: Message) -> tuple[bytes, Expected]:
    """The bytes to produce, and the dead letters and counted events they must give."""
    expected = Expected()
    texts: list[bytes] = []
    for part in message.parts:
        if isinstance(part, Good):
            event = dict(part.event, event_id=f"good-{next(ids)}")
            expected.good.append(event)
            texts.append(orjson.dumps(event))
        else:
            texts.append(part.raw)
    if not message.batch:
        [part] = message.parts
        assert isinstance(part, Bad)
        return texts[0], Expected(dead=[part])
    raw = b"[" + b",".join(texts) + b"]"
    bad = [part for part in message.parts if isinstance(part, Bad)]
    if not all(_orjson_parses(part.raw) for part in bad):
        # A number no double holds, a lone surrogate: the message is not JSON to the
        # worker, so it goes to the dead letters whole, good events included.
        return raw, Expected(dead=[Bad(raw, Reason.INVALID_JSON.value, "")])
    if len(message.parts) == 1:
        expected.dead = [Bad(raw, b.reason, b.path) for b in bad]  # a batch of one: as sent
    else:  # each element on its own, as JSON
        expected.dead = [Bad(orjson.dumps(orjson.loads(b.raw)), b.reason, b.path) for b in bad]
    return raw, expected


# --- strategies --------------------------------------------------------------------------

CLOCK = {"now": datetime.now(UTC)}  # set again when the test starts


def _looks_like_a_batch(raw: bytes) -> bool:
    return raw.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"[")


@st.composite
def safe_times(draw: st.DrawFn) -> datetime:
    """[now - 6d, now - 25h] or [now - 23h, now - 2h]: no window edge is near (traffic.py)."""
    now = CLOCK["now"]
    if draw(st.booleans()):
        return now - timedelta(hours=draw(st.floats(25, 6 * 24)))
    return now - timedelta(hours=draw(st.floats(2, 23)))


@st.composite
def good_events(draw: st.DrawFn) -> Good:
    """A valid event of either store, joining on small pools of customers, orders, visits."""
    kind = draw(st.sampled_from(sorted(VALID)))
    event = copy.deepcopy(VALID[kind])
    at = draw(safe_times())
    event["ts"] = iso(at)
    for key, pool in (("customer_id", "c"), ("visit_id", "v"), ("order_id", "o")):
        if key in event:
            event[key] = f"{pool}{draw(st.integers(0, 5))}"
    event.pop("promised_delivery_at", None)
    event.pop("promised_at", None)
    if kind == "order" and draw(st.booleans()):
        promise = at + timedelta(hours=draw(st.floats(1, 72)))
        if promise < CLOCK["now"] - timedelta(hours=2):  # a promise near now could cross an edge
            event["promised_delivery_at"] = iso(promise)
    if kind == "tool_session":
        event["duration_seconds"] = draw(st.floats(0.5, 3600).map(lambda s: round(s, 1)))
    if "rating" in event:
        event["rating"] = draw(st.integers(1, 5))
    return Good(event)


@st.composite
def wrong_typed(draw: st.DrawFn) -> Bad:
    """A valid event with one top-level field of another JSON type (never null)."""
    kind = draw(st.sampled_from(sorted(VALID)))
    event = copy.deepcopy(VALID[kind])
    path = draw(st.sampled_from(sorted(event)))
    want = json_type(event[path])

    def other(value: Any) -> bool:
        got = json_type(value)
        return value is not None and (got not in ("number", "int") if want == "number" else got != want)

    event[path] = draw(json_values.filter(other))
    return Bad(json_text(event), None, path)


def broken_rules() -> st.SearchStrategy[Bad]:
    return st.sampled_from(CASES).map(
        lambda case: Bad(orjson.dumps(mutate(case[1], case[2])), case[3].value, case[4])
    )


HUGE_NUMBERS = [
    "1e400", "-1e400", "1" * 400, "1e30", "-1e30", str(2**63), str(2**64), str(-(2**63) - 1),
    "1e-400", "123456789012345678901234567890.5",
]  # fmt: skip


def _orjson_parses(text: str | bytes) -> bool:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


@st.composite
def huge_numbered(draw: st.DrawFn) -> Bad:
    """A valid event with one field set to a number no double or 64-bit integer holds (or 1e-400)."""
    kind = draw(st.sampled_from(sorted(VALID)))
    event = copy.deepcopy(VALID[kind])
    path = draw(st.sampled_from(sorted(event)))
    literal = draw(st.sampled_from(HUGE_NUMBERS))
    setter(path, "@@HUGE@@")(event)
    raw = orjson.dumps(event).replace(b'"@@HUGE@@"', literal.encode())
    return Bad(raw, None, path)


def _poison_order() -> Bad:
    """Valid but for its total: before the bound it stopped every worker (64-bit overflow)."""
    order = copy.deepcopy(VALID["order"])
    order["ts"] = iso(CLOCK["now"] - timedelta(hours=3))  # recent: validation is all that stops it
    order.pop("promised_delivery_at")
    order["items"][0].update(quantity=1_000_000, unit_price="99999999999999999999.99")
    return Bad(orjson.dumps(order), Reason.OUT_OF_RANGE.value, "items")


@st.composite
def mistimed(draw: st.DrawFn) -> Bad:
    """Valid events the worker refuses by time: older than every window, or from the future."""
    good = draw(good_events()).event
    good.pop("promised_delivery_at", None)
    if draw(st.booleans()):
        good["ts"] = iso(CLOCK["now"] - timedelta(days=draw(st.floats(31, 3000))))
        return Bad(orjson.dumps(good), Reason.LATE_EVENT.value, "ts")
    good["ts"] = iso(CLOCK["now"] + timedelta(days=draw(st.floats(1, 3000))))
    return Bad(orjson.dumps(good), Reason.FUTURE_EVENT.value, "ts")


def _nested(depth: int, shape: str) -> bytes:
    if shape == "arrays":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


@st.composite
def deep(draw: st.DrawFn) -> Bad:
    """Nesting from 1 to 3,000 levels: objects, or arrays inside an event's field."""
    depth = draw(st.integers(1, 3000))
    if draw(st.booleans()):
        return Bad(_nested(depth, "objects"))
    event = copy.deepcopy(VALID["visit"])
    event["visit_id"] = "@@DEEP@@"
    return Bad(orjson.dumps(event).replace(b'"@@DEEP@@"', _nested(depth, "arrays")))


single_bad = st.one_of(
    st.binary(min_size=0, max_size=2000).filter(lambda raw: not _looks_like_a_batch(raw)).map(Bad),
    json_values.filter(lambda v: not isinstance(v, list)).map(lambda v: Bad(json_text(v))),
    broken_rules(),
    wrong_typed(),
    huge_numbered(),
    mistimed(),
    deep(),
    st.builds(_poison_order),
)
element_bad = st.one_of(broken_rules(), wrong_typed(), huge_numbered(), mistimed(), st.builds(_poison_order))


@st.composite
def messages(draw: st.DrawFn) -> Message:
    if draw(st.booleans()):
        return Message((draw(single_bad),), batch=False)
    parts = draw(st.lists(element_bad | good_events(), min_size=1, max_size=20))
    return Message(tuple(parts), batch=True)


# --- the test ----------------------------------------------------------------------------


def _check_dead_letters(expected: list[Bad], got: list[DeadLetter]) -> None:
    """Same values, each with its reason and path (where the break fixes them)."""
    assert Counter(d.value for d in got) == Counter(b.raw for b in expected), (expected, got)
    unmatched = list(got)
    for bad in expected:
        letters = [d for d in unmatched if d.value == bad.raw and _fits(bad, d)]
        assert letters, (bad, [d for d in got if d.value == bad.raw])
        unmatched.remove(letters[0])
    for letter in got:
        assert letter.reason in REASONS, letter
        assert letter.message, letter


def _fits(bad: Bad, letter: DeadLetter) -> bool:
    if bad.reason is not None and letter.reason != bad.reason:
        return False
    if bad.path is None:
        return True
    return letter.path == bad.path or (letter.reason == Reason.INVALID_JSON.value and letter.path == "")


def test_bad_messages_go_to_the_dead_letter_topic_and_kpis_stay_exact(
    tmp_path: Path, broker: EmbeddedBroker
) -> None:
    CLOCK["now"] = datetime.now(UTC)
    stores = tmp_path / "stores.yaml"
    stores.write_text(STORES_YAML)
    worker = start_worker(tmp_path, stores, broker.bootstrap, APP_ID)
    wire = Wire(broker.bootstrap)
    counted: list[Event] = []
    dead_total = 0
    try:

        @settings(
            max_examples=30,
            deadline=None,
            phases=(Phase.explicit, Phase.generate),  # no shrinking against a live worker
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(sent=st.lists(messages(), min_size=1, max_size=8))
        def check(sent: list[Message]) -> None:
            nonlocal dead_total
            values, expected = [], Expected()
            for message in sent:
                raw, outcome = materialise(message)
                values.append(raw)
                expected.dead += outcome.dead
                expected.good += outcome.good
            wire.send(values)
            got = wire.dead_letters(len(expected.dead))
            _check_dead_letters(expected.dead, got)
            # Each letter names the input record (and array element) its event was read from.
            assert all(d.source[0] == TOPIC and d.source[2].isdigit() for d in got), got
            assert len({d.source for d in got}) == len(got), got
            counted.extend(expected.good)
            dead_total += len(got)
            assert worker.process.poll() is None, worker.tail()

        check()

        # An unknown field whose name is 600 kB: the path header is cut, the letter fits Kafka.
        wide = dict(VALID["visit"], **{"k" * 600_000: 1})
        wire.send([orjson.dumps(wide)])
        [letter] = wire.dead_letters(1)
        assert (letter.value, letter.reason) == (orjson.dumps(wide), Reason.UNKNOWN_FIELD.value)
        assert len(letter.path) <= MAX_PATH_CHARS
        assert letter.path.startswith("kkkk")
        assert letter.source[0] == TOPIC
        assert letter.source[3] == ""  # a whole message: no index
        dead_total += 1

        wait_settled([worker], broker.bootstrap, APP_ID)
        assert wire.dead_letters(0, linger=1.0) == []  # no good event was dead-lettered late
        samples = worker.scrape()
        figures = exported([worker])
    finally:
        wire.close()
        worker.kill()

    assert total(samples, "shoppulse_events_total") == len(counted)
    assert total(samples, "shoppulse_events_rejected_total") == dead_total
    assert figures == reference(tmp_path, stores, counted)
    assert figures, "the good events moved no KPI: the comparison proved nothing"


def test_an_empty_record_and_a_message_over_a_megabyte_are_dead_lettered(
    tmp_path: Path, broker: EmbeddedBroker
) -> None:
    """Neither fits the usual path: an empty record has no bytes to keep, and a copy of a
    1.5 MB message plus headers exceeds Kafka's default 1 MB request."""
    stores = tmp_path / "stores.yaml"
    stores.write_text(STORES_YAML)
    worker = start_worker(tmp_path, stores, broker.bootstrap, APP_ID)
    wire = Wire(broker.bootstrap)
    try:
        rating = event("support_rating", SMART_STORE, datetime.now(UTC), ticket_id="t", rating=5)
        big = orjson.dumps({**rating, "padding": "x" * 1_500_000})

        async def send_empty() -> None:
            await (await wire.producer.send(TOPIC, key=b"k", value=None))

        wire.loop.run_until_complete(send_empty())
        wire.send([big])
        got = wire.dead_letters(2)
        alive = worker.process.poll() is None
        health = worker.scrape()  # /metrics still answers
    finally:
        wire.close()
        worker.kill()
    assert sorted(letter.reason for letter in got) == [Reason.INVALID_JSON, Reason.UNKNOWN_FIELD]
    assert {letter.value for letter in got} == {b"", big}
    assert alive
    assert health
