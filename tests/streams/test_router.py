"""Stage one's guarantees that need no broker: a bug costs one message, not the stage."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
import yaml

from shoppulse.schemas.stores import Stores
from shoppulse.schemas.validation import Reason, Rejection
from shoppulse.streams import router as router_module
from shoppulse.streams.router import DeadLetter, Routed, Router, dead_letter_source
from tests.builders import SMART_STORE, STORES_YAML, event, order

STORES = Stores.model_validate(yaml.safe_load(STORES_YAML)).by_id()
NOW = datetime(2026, 5, 3, tzinfo=UTC)


def rating(ticket: str) -> dict[str, object]:
    return event("support_rating", SMART_STORE, datetime(2026, 5, 2, tzinfo=UTC), ticket_id=ticket, rating=4)


def test_a_message_the_code_fails_on_is_dead_lettered_whole_and_taken_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    router = Router(STORES, 4, clock=NOW.timestamp)
    routed = Routed()
    router.route_message(orjson.dumps(rating("before")), 0, routed)
    before = {partition: list(items) for partition, items in routed.items.items()}

    real_route = router_module.route_parts
    calls = iter([False, True])  # the batch's first event routes, the second hits a bug

    def flaky(*args: object) -> object:
        if next(calls):
            raise RuntimeError("boom")
        return real_route(*args)

    monkeypatch.setattr(router_module, "route_parts", flaky)
    batch = orjson.dumps([rating("a"), rating("b")])
    router.route_message(batch, 0, routed)

    assert {partition: items for partition, items in routed.items.items() if items} == before
    (dead,) = routed.dead
    assert dead.raw == batch
    assert dead.rejection.reason is Reason.INTERNAL_ERROR
    assert "RuntimeError: boom" in dead.rejection.message


def test_refused_elements_of_a_batch_are_kept_one_by_one() -> None:
    router = Router(STORES, 4, clock=NOW.timestamp)
    routed = Routed()
    bad = {**rating("x"), "rating": 9}
    late = event("support_rating", SMART_STORE, datetime(2025, 1, 1, tzinfo=UTC), ticket_id="y", rating=3)
    router.route_message(orjson.dumps([rating("ok"), bad, late]), 0, routed)
    assert [(orjson.loads(d.raw), d.rejection.reason, d.index) for d in routed.dead] == [
        (bad, Reason.OUT_OF_RANGE, 1),  # each with its place in the array, to name it exactly
        (late, Reason.LATE_EVENT, 2),
    ]
    assert sum(len(items) for items in routed.items.values()) >= 1


def test_a_dead_letters_source_headers_read_back_as_its_source() -> None:
    refusal = Rejection(Reason.UNKNOWN_STORE, "store_id", "unknown store")
    element = DeadLetter(b"{}", refusal, index=0, source=("storefront.events", 3, 41))
    whole = DeadLetter(b"{}", refusal, source=("storefront.events", 3, 42))
    assert dead_letter_source(element.source_headers().items()) == ("storefront.events", "3", "41", "0")
    assert dead_letter_source(whole.source_headers().items()) == ("storefront.events", "3", "42", "")


def test_an_order_is_routed_by_its_own_time_though_its_promise_is_behind_the_windows() -> None:
    router = Router(STORES, 4, clock=NOW.timestamp)
    routed = Routed()
    promised_long_ago = order(SMART_STORE, NOW, order_id="o", promised_delivery_at="2026-01-01T00:00:00Z")
    router.route_message(orjson.dumps(promised_long_ago), 0, routed)
    assert routed.dead == []
    assert sum(len(items) for items in routed.items.values()) == 2  # seen, and the order's message
