"""Stage two deletes, once a day, the entities no event can reach any more: those whose
every fact is older than the longest window, the attribution horizon and a day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from shoppulse.broker import EmbeddedBroker
from shoppulse.kpis.engine import Engine
from shoppulse.schemas.stores import load_stores
from shoppulse.schemas.validation import EventValidator, Rejection
from shoppulse.streams.app import changelog_topic
from shoppulse.streams.codec import encode_entity, entity_key
from shoppulse.streams.joins import JoinStage
from shoppulse.streams.router import partition_for
from tests.builders import event, order
from tests.streams.support import changelog_values, produce, start_worker, wait_settled, write_changelog
from tests.streams.traffic import PARTY, SMART

APP = "prune"
PARTITIONS = 4  # start_worker's
CHANGELOG = changelog_topic(APP, "entities")
STORE = SMART[0]


def entities_of(stores_file: Path, days_ago: int, tag: str) -> dict[str, bytes]:
    """The table values of the entities (orders, customers, visits) that a visit, a
    consultation and two orders of ``days_ago`` days ago, and a design-tool session in
    a party-favour store, leave, by entity key."""
    stores = load_stores(stores_file).by_id()
    at = datetime.now(UTC) - timedelta(days=days_ago)
    customer = f"c-{tag}"
    raw = [
        event("visit", STORE, at, visit_id=f"v-{tag}", customer_id=customer),
        event("consultation", STORE, at, customer_id=customer, consultation_id=f"k-{tag}"),
        order(
            STORE,
            at + timedelta(minutes=5),
            order_id=f"o1-{tag}",
            customer_id=customer,
            visit_id=f"v-{tag}",
            currency="USD",
        ),
        order(STORE, at + timedelta(days=1), order_id=f"o2-{tag}", customer_id=customer, currency="USD"),
        event("tool_session", PARTY[0], at, visit_id=f"v-{tag}", duration_seconds=60),
    ]
    validator, engine = EventValidator(stores), Engine(stores)
    for fields in raw:
        checked = validator.validate_json(orjson.dumps(fields))
        assert not isinstance(checked, Rejection), checked
        engine.apply(checked)
    held = engine.entities()
    return {entity_key(kind, store, key): encode_entity(entity) for kind, store, key, entity in held}


def test_an_entity_is_prunable_only_when_all_its_facts_are_old(stores_file: Path) -> None:
    joins = JoinStage(load_stores(stores_file).by_id(), PARTITIONS)
    before = int((datetime.now(UTC) - timedelta(days=61)).timestamp())
    old, recent = entities_of(stores_file, 70, "old"), entities_of(stores_file, 2, "new")
    assert {key.split("|")[0] for key in old} == {"0", "1", "2"}  # orders, a customer, a visit
    assert all(joins.prunable(key, raw, before) for key, raw in old.items())
    assert not any(joins.prunable(key, raw, before) for key, raw in recent.items())
    # A customer with one order inside the horizon stays, with its old facts.
    mixed = entities_of(stores_file, 61, "edge")
    assert not joins.prunable(f"1|{STORE}|c-edge", mixed[f"1|{STORE}|c-edge"], before)


@pytest.mark.parametrize("state", ["memory://", "rocksdb://"])
def test_entities_no_event_can_reach_are_deleted(
    tmp_path: Path, broker: EmbeddedBroker, stores_file: Path, state: str
) -> None:
    first = start_worker(tmp_path, stores_file, broker.bootstrap, APP, state=state)  # creates the topics
    first.kill()
    old, recent = entities_of(stores_file, 70, "old"), entities_of(stores_file, 2, "new")
    records = [(partition_for(key, PARTITIONS), key, raw) for key, raw in {**old, **recent}.items()]
    write_changelog(broker.bootstrap, CHANGELOG, records)

    # A worker restores them, and deletes the old ones after its first batch.
    worker = start_worker(tmp_path, stores_file, broker.bootstrap, APP, name="w2", state=state)
    try:
        visit = event("visit", STORE, datetime.now(UTC) - timedelta(minutes=1), visit_id="v-now")
        produce(broker.bootstrap, "storefront.events", [orjson.dumps(visit)])
        wait_settled([worker], broker.bootstrap, APP)
    finally:
        worker.kill()
    last = changelog_values(broker.bootstrap, CHANGELOG, PARTITIONS)
    assert {key: last[key] for key in old} == dict.fromkeys(old)  # deleted: a tombstone each
    assert {key: last[key] for key in recent} == recent  # untouched
