"""The fourteen seed examples through Kafka and a worker: /metrics equals `shoppulse report`.

Each example goes to a store of its own, so one worker checks all fourteen at once. The
events are moved to the last day (the worker's windows end now) keeping their spacing.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import yaml

from shoppulse.broker import EmbeddedBroker
from tests.builders import SMART_STORE, T0, Event, write_jsonl
from tests.kpis.test_seed_examples import CASES
from tests.streams.support import batches, kpi_samples, produce, settled, start_worker, total, wait_until


def shifted(events: list[Event], delta: timedelta, store: str, smart: bool) -> list[Event]:
    out = []
    for original in events:
        moved = dict(original, store_id=store)
        for field in ("ts", "promised_delivery_at", "promised_at"):
            if field in moved:
                moved[field] = (datetime.fromisoformat(moved[field]) + delta).isoformat()
        if moved["type"] == "order":
            moved["currency"] = "USD" if smart else "EUR"
        out.append(moved)
    return out


def test_seed_examples_on_metrics_equal_report(tmp_path: Path, broker: EmbeddedBroker) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    delta = now - timedelta(hours=20) - T0  # whole minutes: minute alignment is kept
    stores: list[dict[str, Any]] = []
    events: list[Event] = []
    expected: dict[str, tuple[str, float, float, float]] = {}
    for index, (store, kpi_id, build, numerator, denominator, value) in enumerate(CASES):
        smart = store == SMART_STORE
        store_id = f"ex{index:02d}-{kpi_id.replace('_', '-')}"
        stores.append(
            {
                "id": store_id,
                "vertical": "smart_home" if smart else "party_favors",
                "currency": "USD" if smart else "EUR",
            }
        )
        events += shifted(build(), delta, store_id, smart)
        expected[store_id] = (kpi_id, numerator, denominator, value)
    stores_file = tmp_path / "stores.yaml"
    stores_file.write_text(yaml.safe_dump({"stores": stores}))

    worker = start_worker(tmp_path, stores_file, broker.bootstrap, "seeds")
    try:
        produce(broker.bootstrap, "storefront.events", batches(events[: len(events) // 2], 100))
        produce(broker.bootstrap, "storefront.events", batches(events[len(events) // 2 :], 1))
        wait_until(lambda: settled(worker, broker.bootstrap, "seeds"), 120, worker.tail)
        samples = worker.scrape()
    finally:
        worker.kill()

    at = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    events_file = write_jsonl(tmp_path / "events.jsonl", events)
    report = orjson.loads(
        subprocess.run(
            [
                sys.executable,
                "-m",
                "shoppulse",
                "report",
                str(events_file),
                "--stores",
                str(stores_file),
                "--json",
                "--window",
                "24h",
                "--at",
                at.isoformat(),
            ],
            capture_output=True,
            check=True,
        ).stdout
    )
    reported = {(k["store_id"], k["kpi"]): k for k in report["kpis"]}

    metrics = kpi_samples(samples, "24h")
    for store_id, (kpi_id, numerator, denominator, value) in expected.items():
        on_metrics = (
            metrics[("shoppulse_kpi_numerator", store_id, kpi_id)],
            metrics[("shoppulse_kpi_denominator", store_id, kpi_id)],
            metrics[("shoppulse_kpi_value", store_id, kpi_id)],
        )
        assert on_metrics == (numerator, denominator, value), store_id
        row = reported[(store_id, kpi_id)]
        assert (row["numerator"], row["denominator"], row["value"]) == on_metrics, store_id
    # Every other KPI of every store agrees with the report too (most have no data: no sample).
    for (store_id, kpi_id), row in reported.items():
        if row["denominator"]:
            assert metrics[("shoppulse_kpi_denominator", store_id, kpi_id)] == row["denominator"]
            assert metrics[("shoppulse_kpi_numerator", store_id, kpi_id)] == row["numerator"]
        else:
            assert ("shoppulse_kpi_value", store_id, kpi_id) not in metrics
    assert total(samples, "shoppulse_events_rejected_total") == 0
    # The earliest event time held per store: the quarter hour of its earliest event. A
    # delivery's steps lie at its order's promise, not at its own time: it is left out.
    for store in stores:
        times = [
            datetime.fromisoformat(event["ts"])
            for event in events
            if event["store_id"] == store["id"] and event["type"] != "delivery"
        ]
        earliest_minute = int(min(times).timestamp()) // 60
        labels = (("store", store["id"]), ("vertical", store["vertical"]))
        since = samples[("shoppulse_store_data_since_timestamp_seconds", labels)]
        assert since == (earliest_minute - earliest_minute % 15) * 60, store["id"]
