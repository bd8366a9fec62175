"""The collector's small parts on their own: tokens, depth check, id memory, packing, status codes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from shoppulse.ingest.config import CollectorSettings
from shoppulse.ingest.dedupe import RecentEventIds
from shoppulse.ingest.exceptions import TokensFileError
from shoppulse.ingest.kafka import pack_events
from shoppulse.ingest.limits import json_depth_exceeds
from shoppulse.ingest.results import EventResult, Status, status_code
from shoppulse.ingest.tokens import Tokens, hash_token, load_tokens
from shoppulse.schemas.validation import Reason, Rejection


def test_tokens_map_to_their_store_with_rotation() -> None:
    tokens = Tokens.from_raw({"store-a": ["old", "new"], "store-b": ["bee"]})
    assert [tokens.store_for(t) for t in ("old", "new", "bee", "nope", "")] == [
        "store-a",
        "store-a",
        "store-b",
        None,
        None,
    ]
    assert hash_token("test") == "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


A = "a" * 64


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("tokens: []", "at least 1"),
        (f"tokens: [{{store: store-a, token_sha256: {'b' * 63}}}]", "token_sha256"),
        (f"tokens: [{{store: store-z, token_sha256: {'b' * 64}}}]", "store-z"),
        (
            f"tokens: [{{store: store-a, token_sha256: {A}}}, {{store: store-a, token_sha256: {A.upper()}}}]",
            "twice",
        ),
        (f"tokens: [{{store: store-a, token: {A}}}]", "token"),
        ("tokens: [", "expected"),
    ],
)
def test_bad_tokens_files_are_refused_with_a_reason(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TokensFileError, match=problem) as refused:
        load_tokens(path, {"store-a"})
    assert str(refused.value).startswith(f"{path}: ")
    assert "\n" not in str(refused.value)  # one line for the command's error message


@pytest.mark.parametrize(
    ("body", "max_depth", "too_deep"),
    [
        (b"{}", 1, False),
        (b"[{}]", 1, True),
        (b'[{"items": [{"sku": "x"}]}]', 4, False),  # a batch of orders is 4 deep
        (b'[{"items": [{"sku": "x"}]}]', 3, True),
        (b'{"note": "[[[[[[[[[[ \\" {{{{{{{{"}', 1, False),  # brackets inside strings do not count
        (b"[" * 100 + b"]" * 100, 8, True),
        (b"[" * 100, 8, False),  # malformed: left to the parser
        (b"", 8, False),
    ],
)
def test_json_depth_is_checked_before_parsing(body: bytes, max_depth: int, too_deep: bool) -> None:
    assert json_depth_exceeds(body, max_depth) is too_deep


def test_recent_ids_forget_by_age_and_by_size() -> None:
    now = [0.0]
    recent = RecentEventIds(ttl=10, max_size=2, clock=lambda: now[0])

    async def claim(*ids: str) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        return await recent.claim(("s", i) for i in ids)

    async def scenario() -> None:
        new, seen = await claim("a", "b")
        assert (len(new), seen) == (2, set())
        recent.written([("s", "a")])
        recent.written([("s", "b")])
        assert (await claim("a"))[1] == {("s", "a")}
        recent.released([("s", "a")])  # nothing pending: a no-op
        new, _ = await claim("c")
        recent.written(new)  # over max_size: "a" (oldest) goes
        assert ("s", "a") not in recent
        assert len(recent) == 2
        now[0] = 11.0
        assert ("s", "c") not in recent  # older than ttl

    asyncio.run(scenario())


def test_a_concurrent_claim_waits_for_the_pending_write() -> None:
    recent = RecentEventIds()
    key = ("s", "x")

    async def scenario(succeeds: bool) -> set[tuple[str, str]]:
        await recent.claim([key])
        waiter = asyncio.create_task(recent.claim([key]))
        await asyncio.sleep(0.01)
        assert not waiter.done()
        (recent.written if succeeds else recent.released)([key])
        new, seen = await waiter
        recent.released(new)
        return seen

    assert asyncio.run(scenario(succeeds=False)) == set()  # the first write failed: claim again
    assert asyncio.run(scenario(succeeds=True)) == {key}


def test_pack_events_splits_only_past_the_size_limit() -> None:
    events = [(i, {"event_id": str(i), "pad": "x" * 100}) for i in range(10)]
    [(keys, value)] = pack_events(events)
    assert keys == list(range(10))
    assert orjson.loads(value) == [event for _, event in events]
    packed = pack_events(events, max_bytes=500)
    assert all(len(value) <= 500 for _, value in packed)
    assert [key for keys, _ in packed for key in keys] == list(range(10))
    assert [e for _, value in packed for e in orjson.loads(value)] == [event for _, event in events]


def _result(status: Status) -> EventResult:
    rejection = Rejection(Reason.MISSING_FIELD, "ts", "missing") if status is Status.REJECTED else None
    return EventResult(0, "e", status, rejection=rejection)


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        ([Status.ACCEPTED], 200),
        ([Status.ACCEPTED, Status.ACCEPTED], 200),
        ([Status.ACCEPTED, Status.REJECTED], 207),
        ([Status.REJECTED], 400),
        ([Status.REJECTED, Status.REJECTED], 400),
    ],
)
def test_status_code_follows_the_results(statuses: list[Status], code: int) -> None:
    assert status_code([_result(status) for status in statuses]) == code


@pytest.mark.parametrize(
    ("broker", "bootstrap"),
    [("kafka://k1:9092", "k1:9092"), ("tcp://k1:9092/, k2:9092", "k1:9092,k2:9092"), ("k:1", "k:1")],
)
def test_broker_urls_become_bootstrap_lists(broker: str, bootstrap: str) -> None:
    assert CollectorSettings(stores_file=Path("s.yaml"), broker=broker).broker == bootstrap
