"""The worker's own code without Kafka: the ceiling its logic sets, stage by stage.

    python bench/logic_only.py [--events 100000] [--batch 1 100] [--totals-batch 500]

The messages of the throughput runs go through the three stages' code in one process,
one stage after the other, with dicts for tables: ``Router.route_message`` on batches of
input messages, the work items encoded and decoded as on the keyed topic,
``JoinStage.handle`` (a visit's messages for customers go round again, as through the
keyed topic), the steps encoded and decoded as on the store-steps topic, and
``Ledger.apply`` with each touched chunk encoded once per batch. No broker, no Faust, no
event loop: what is left of the worker's time per event is its KPI work and the JSON at
the stages' crossings (the garbage collector set as in the worker). The worker cannot go
faster than this in one process, whatever its I/O does; ``worker_throughput.py`` puts
the two side by side.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).parent))
import common  # bench/ is a folder of scripts, not a package

from shoppulse.runtime import tune_gc
from shoppulse.schemas.stores import Store, load_stores
from shoppulse.streams.app import MAX_ITEMS
from shoppulse.streams.codec import step_batch_from_wire, step_batch_to_wire
from shoppulse.streams.joins import JoinStage, seen_record_key
from shoppulse.streams.ledger import Ledger
from shoppulse.streams.router import Routed, Router

MESSAGES_PER_BATCH = 500  # the worker's batch_size


def run_stages(
    msgs: Sequence[common.Message],
    stores: Mapping[str, Store],
    partitions: int,
    stages: int = 3,
    totals_batch: int = MESSAGES_PER_BATCH,
) -> dict[str, float]:
    """Seconds each stage's code takes for ``msgs``, and how many events it counted;
    only the first ``stages`` stages run (``instructions.py`` counts them apart).

    Stage three takes ``totals_batch`` messages per batch, and writes each chunk a batch
    touched once. The worker asks for 500, but inside it stage three finds far fewer
    waiting (7 on average, ``docs/benchmarks.md``) and writes its chunks every quarter
    of a second, a few batches at a time: ``instructions.py --totals-batch 7`` (or 35)
    counts what the chunk writes cost there."""
    produced_ms = int(time.time() * 1000)
    router = Router(stores, partitions)

    started = time.perf_counter()
    keyed: list[tuple[int, bytes]] = []  # (partition, message) on the keyed topic
    for first in range(0, len(msgs), MESSAGES_PER_BATCH):
        routed = Routed()
        for _, value in msgs[first : first + MESSAGES_PER_BATCH]:
            router.route_message(value, produced_ms, routed)
        keyed.extend((partition, orjson.dumps(items)) for partition, items in routed.messages(MAX_ITEMS))
    routed_at = time.perf_counter()
    if stages < 2:
        return {"events": 0, "route_s": routed_at - started}

    joins = JoinStage(stores, partitions)
    entities: dict[str, bytes] = {}
    store_steps: list[bytes] = []
    events = 0
    for offset, (partition, raw) in enumerate(keyed):  # grows with the visits' forwards
        joined = joins.handle(orjson.loads(raw), entities.get)
        for store, steps in joined.steps.items():
            store_steps.append(
                step_batch_to_wire((partition, offset), store, steps, joined.produced_ms[store])
            )
        keyed.extend((target, orjson.dumps(items)) for target, items in joined.forwards.items())
        entities.update(joined.entity_writes)
        if joined.seen_writes:
            joins.remember({seen_record_key(partition, offset): joined.seen_writes})
        events += sum(joined.events.values())
    joined_at = time.perf_counter()
    if stages < 3:
        return {"events": events, "route_s": routed_at - started, "joins_s": joined_at - routed_at}

    ledger = Ledger()
    chunks: dict[str, bytes] = {}
    chunk_bytes = 0  # written to the table (and its changelog), as the worker writes them
    for first in range(0, len(store_steps), totals_batch):
        touched: set[str] = set()
        for raw in store_steps[first : first + totals_batch]:
            source, store, steps, _ = step_batch_from_wire(raw)
            touched |= ledger.apply(store, steps, source, chunks.get)
        written = {key: ledger.value(key) for key in touched}
        chunk_bytes += sum(map(len, written.values()))
        chunks.update(written)
        ledger.trim()
    ended = time.perf_counter()
    return {
        "events": events,
        "route_s": routed_at - started,
        "joins_s": joined_at - routed_at,
        "totals_s": ended - joined_at,
        "total_s": ended - started,
        "chunk_bytes": chunk_bytes,
    }


def measure(
    msgs: Sequence[common.Message],
    partitions: int = common.PARTITIONS,
    runs: int = 3,
    totals_batch: int = MESSAGES_PER_BATCH,
) -> dict:
    """Events/s of the stages' code on ``msgs``: the fastest of ``runs`` runs, under the
    worker's garbage collector settings (``runtime.tune_gc``). With Python's defaults a
    stage-one batch of 500 messages of 100 events, alive until it is sent, had the
    collector rescan it again and again: routing cost twice as much per event as with
    one event per message (16 against 8 µs)."""
    events = sum(_events_in(value) for _, value in msgs)
    stores = load_stores(common.SAMPLES).by_id()
    thresholds = gc.get_threshold()
    tune_gc()
    try:
        timed = [run_stages(msgs, stores, partitions, totals_batch=totals_batch) for _ in range(runs)]
    finally:  # the bench's own process goes on with the defaults
        gc.unfreeze()
        gc.set_threshold(*thresholds)
    best = min(timed, key=lambda run: run["total_s"])
    if best["events"] != events:  # the bench's traffic is all valid, and new
        raise RuntimeError(f"the stages counted {best['events']:,} events of {events:,}")
    return {
        "events": events,
        "events_per_s": round(events / best["total_s"]),
        "microseconds_per_event": {
            stage: round(best[f"{stage}_s"] / events * 1e6, 2)
            for stage in ("route", "joins", "totals", "total")
        },
        "totals_batch": totals_batch,
        "chunk_bytes_per_event": round(best["chunk_bytes"] / events),
    }


def _events_in(value: bytes) -> int:
    decoded = orjson.loads(value)
    return len(decoded) if isinstance(decoded, list) else 1


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 100])
    parser.add_argument(
        "--totals-batch",
        type=int,
        default=MESSAGES_PER_BATCH,
        help="messages per stage-three batch and chunk write (inside the worker: batches of 7 on average)",
    )
    args = parser.parse_args()
    generated = common.make_events(args.events)
    for per_message in args.batch:
        result = measure(common.messages(generated, per_message), totals_batch=args.totals_batch)
        print(json.dumps({"events_per_message": per_message, **result}), flush=True)


if __name__ == "__main__":
    main()
