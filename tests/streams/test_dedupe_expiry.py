"""The workers' dedupe forgets what no copy of an event can reach it with any more."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from shoppulse.broker import EmbeddedBroker
from shoppulse.streams.app import changelog_topic
from shoppulse.streams.joins import parse_seen_record_key
from shoppulse.streams.router import partition_for
from tests.builders import iso
from tests.streams.support import (
    changelog_values,
    produce,
    start_worker,
    total,
    wait_settled,
    write_changelog,
)
from tests.streams.traffic import SMART

APP = "forget"
PARTITIONS = 4  # start_worker's
CHANGELOG = changelog_topic(APP, "seen")
DAY = 86_400


def _visit(event_id: str, at: datetime) -> bytes:
    event = {
        "event_id": event_id,
        "type": "visit",
        "store_id": SMART[0],
        "ts": iso(at),
        "visit_id": event_id,
    }
    return orjson.dumps(event)


@pytest.mark.parametrize("state", ["memory://", "rocksdb://"])
def test_ids_older_than_any_input_are_forgotten_and_their_records_deleted(
    tmp_path: Path, broker: EmbeddedBroker, stores_file: Path, state: str
) -> None:
    """A seen record holding only ids of days stage one refuses now (older than the
    longest window, and a day more) is deleted with a tombstone, and its ids are new
    again; a record holding a recent id stays, and that id is still a duplicate."""
    first = start_worker(tmp_path, stores_file, broker.bootstrap, APP, state=state)  # creates the topics
    first.kill()
    today = int(time.time()) // DAY
    old_key = f"{partition_for('old-id', PARTITIONS)}:1000"
    recent_key = f"{partition_for('recent-id', PARTITIONS)}:1001"
    records = {old_key: {"old-id": today - 40}, recent_key: {"recent-id": today - 2}}
    # Seen records as the worker writes them: key "<partition>:<offset>", value {event_id: day}.
    written = [(parse_seen_record_key(key)[0], key, orjson.dumps(ids)) for key, ids in records.items()]
    write_changelog(broker.bootstrap, CHANGELOG, written)

    worker = start_worker(
        tmp_path, stores_file, broker.bootstrap, APP, name="w2", state=state
    )  # restores them
    try:
        an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
        # the same ids again, in events of today (a different event under a reused id)
        produce(
            broker.bootstrap, "storefront.events", [_visit(i, an_hour_ago) for i in ("old-id", "recent-id")]
        )
        wait_settled([worker], broker.bootstrap, APP)
        samples = worker.scrape()
        assert total(samples, "shoppulse_events_total", type="visit") == 1  # old-id, new again
        assert total(samples, "shoppulse_events_duplicate_total") == 1  # recent-id
    finally:
        worker.kill()
    last = changelog_values(broker.bootstrap, CHANGELOG, PARTITIONS)
    assert last[old_key] is None  # deleted: a tombstone
    assert orjson.loads(last[recent_key] or b"{}") == {"recent-id": today - 2}
