"""Worker throughput and scaling, next to a plain consumer (ceiling) and Quix Streams (peer).

    python bench/worker_throughput.py [--events 30000] [--batch 1 100] [--workers 1 2 4]

For each message shape (one event per message; JSON arrays of 100 events of one store),
on the same messages, each on a fresh embedded broker (Tansu), 8 partitions:

* **plain consumer** (ceiling): aiokafka ``getmany`` + orjson of every message and
  nothing else, timed from its first batch to its last message; best of three runs;
* **Quix Streams** (peer, ``quix_peer.py``): a one-hour tumbling window per store by
  event time, count and sum, timed from its first message to its final commit;
* **the worker's code alone** (``logic_only.py``): the three stages' code on the first
  ``LOGIC_EVENTS`` events' messages in this process, dicts for tables, no Kafka: the
  ceiling the KPI work itself sets, whatever the I/O costs; fastest of three runs;
* **worker**: N `shoppulse worker` processes (memory tables) are started on an empty
  topic and waited for (all on /metrics, group stable), then the messages are written and
  timed from the first write until the broker shows the group's commits at the end of all
  three stages. Start-up and rebalances are not in the figure. Faust commits every
  2.8 s, so that end trails the work by up to 2.8 s (plus 0.2 s of polling): when a
  single-worker run is shorter than 3/4 of ``--min-seconds`` the shape is measured again
  with proportionally more events. The end of the workers' last busy stretch (CPU
  sampled every 0.1 s) is recorded too, as ``seconds_to_work_end``.

Also recorded per worker run: CPU seconds of the worker processes and of the broker, and
the workers' RSS at the end, which tell what bounded the run on this machine; and the
records on each table's changelog per event (what the workers wrote: one record per key
and write), a figure of the work inside the worker that host noise does not move.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

sys.path.insert(0, str(Path(__file__).parent))
import common  # bench/ is a folder of scripts, not a package
import logic_only
import quix_peer

from shoppulse.broker import EmbeddedBroker


async def plain_consumer(bootstrap: str, messages: int) -> float:
    """Seconds for a plain consumer to fetch and decode every message (from its first batch).

    It is assigned every partition (no group, so no JoinGroup wait) and reads from the start.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    seen, started = 0, None
    try:
        await consumer.topics()  # metadata of every topic
        partitions = [
            TopicPartition(common.TOPIC, p) for p in consumer.partitions_for_topic(common.TOPIC) or ()
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        while seen < messages:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            if started is None and batch:
                started = time.perf_counter()
            for records in batch.values():
                for record in records:
                    orjson.loads(record.value)
                    seen += 1
    finally:
        await consumer.stop()
    return time.perf_counter() - (started or time.perf_counter())


RUN_OVERHEAD = 15.0  # seconds a worker run takes beyond its timed part (start, ready, stop)
PEERS = 15.0  # seconds for the plain consumer, Quix Streams and the code alone
LOGIC_EVENTS = 20_000  # events the code alone is timed on (three runs of about a second)


def run_workers(
    msgs: list[common.Message], events: int, count: int, tmp: Path, label: str, state: str = "memory://"
) -> dict:
    """``count`` workers through ``msgs`` on a fresh broker (see the module's docstring)."""
    app_id = f"bench-{label}-{count}w" + ("-rocksdb" if state.startswith("rocksdb") else "")
    stores = common.stores_file(tmp)
    with EmbeddedBroker(log_path=tmp / f"broker-{app_id}.log") as broker:
        workers = [
            common.Worker(broker.bootstrap, app_id, stores, tmp, state=state, name=f"{app_id}-{i}")
            for i in range(count)
        ]
        try:
            for worker in workers:
                worker.start()
            ready_s = asyncio.run(common.wait_ready(workers, broker.bootstrap, app_id))
            cpu_before = [worker.cpu() for worker in workers]
            broker_before = common.cpu_seconds(broker.pid or 0)
            started = time.perf_counter()
            ends = asyncio.run(common.fill(broker.bootstrap, msgs))
            filled = time.perf_counter() - started
            work_ended, committed = asyncio.run(
                common.wait_done(workers, broker.bootstrap, app_id, ends, started=started)
            )
            seconds = committed - started
            records = asyncio.run(common.changelog_records(broker.bootstrap, app_id))
            cpu = sum(worker.cpu() - before for worker, before in zip(workers, cpu_before, strict=True))
            broker_cpu = common.cpu_seconds(broker.pid or 0) - broker_before
            rss = [worker.rss() for worker in workers]
        finally:
            for worker in workers:
                worker.stop()
    return {
        "workers": count,
        "state": state,
        "events_per_s": round(events / seconds),
        "seconds": round(seconds, 2),
        # when the workers' CPU says the work ended (their last busy stretch): up to the
        # commit interval earlier, but fooled by a tail of work that waits more than it runs
        "seconds_to_work_end": round(work_ended - started, 2),
        "events_per_s_to_work_end": round(events / (work_ended - started)),
        "fill_seconds": round(filled, 2),
        "ready_seconds": round(ready_s, 2),
        "worker_cpu_seconds": round(cpu, 2),
        "worker_cpu_share": round(cpu / seconds, 2),  # cores busy with workers, on average
        "broker_cpu_seconds": round(broker_cpu, 2),
        "worker_rss_bytes": rss,
        # table writes (changelog records) per event, by table: deterministic, unlike time
        "changelog_records_per_event": {table: round(n / events, 4) for table, n in records.items()},
    }


def seconds_to_lengthen(min_seconds: float, worker_counts: list[int], rocksdb: bool) -> float:
    """Time a longer first run needs, with the runs after it at its new length: the
    scaling runs, and the rocksdb:// run (about half as long again).

    A longer first run is worth less than those runs, so it is made only if they would
    all still fit after it: the suite of 2026-11-23 lengthened its batched run from
    260,000 to 406,987 events and then had no time for 2 and 4 workers.
    """
    later_runs = sum(1 for count in worker_counts if count != 1) + (1.5 if rocksdb else 0)
    return min_seconds * (1 + later_runs) + RUN_OVERHEAD * later_runs


def measure_shape(
    per_message: int,
    events: int,
    tmp: Path,
    worker_counts: list[int],
    min_seconds: float = 0,
    max_events: int = 2_000_000,
    quix: bool = True,
    deadline: float | None = None,
    rocksdb: bool = False,
) -> dict:
    """Every figure of one message shape on the same messages (see the module's docstring).

    ``deadline`` (``time.perf_counter()`` time): a second measurement, or a run with more
    workers, that would not end by then is skipped (and listed in ``skipped``); the first
    run and the peers always run. ``rocksdb``: one worker again with ``rocksdb://`` tables
    (``worker_rocksdb_events_per_s``), the store the run at constant rate uses.
    """
    label = "single" if per_message == 1 else f"batch{per_message}"
    skipped: list[str] = []

    def fits(seconds: float) -> bool:
        return deadline is None or time.perf_counter() + seconds + RUN_OVERHEAD + PEERS <= deadline

    lengthened = seconds_to_lengthen(min_seconds, worker_counts, rocksdb)
    while True:
        common.log(f"{label}: {events:,} events")
        generated = common.make_events(events)
        msgs = common.messages(generated, per_message)
        one = run_workers(msgs, events, 1, tmp, label)
        common.log(f"{label}: 1 worker {one['events_per_s']:,} events/s in {one['seconds']} s")
        if one["seconds"] >= 0.75 * min_seconds or events >= max_events:
            break
        if not fits(lengthened):
            skipped.append(f"a longer run than {one['seconds']} s (no time left for it and the runs after)")
            break
        events = min(max_events, int(events * min_seconds / one["seconds"] * 1.15))
    runs = [one]
    if rocksdb:
        if fits(one["seconds"] * 1.5):  # RocksDB costs about a quarter more per event
            runs.append(run_workers(msgs, events, 1, tmp, label, state="rocksdb://"))
            common.log(f"{label}: 1 worker on rocksdb:// {runs[-1]['events_per_s']:,} events/s")
        else:
            skipped.append("1 worker on rocksdb:// (no time left)")
    for count in worker_counts:
        if count == 1:
            continue
        if not fits(one["seconds"]):
            skipped.append(f"{count} workers (no time left)")
            common.log(f"{label}: {count} workers skipped, no time left")
            continue
        runs.append(run_workers(msgs, events, count, tmp, label))
        common.log(f"{label}: {count} workers {runs[-1]['events_per_s']:,} events/s")
    with EmbeddedBroker(log_path=tmp / f"broker-{label}-peers.log") as broker:
        asyncio.run(common.fill(broker.bootstrap, msgs))
        # a fraction of a second each: the best of three, as a ceiling should be
        plain = min(asyncio.run(plain_consumer(broker.bootstrap, len(msgs))) for _ in range(3))
        common.log(f"{label}: plain consumer {events / plain:,.0f} events/s")
        peer, peer_error = None, None
        if quix:
            try:
                peer = quix_peer.measure(broker.bootstrap, len(msgs), per_message > 1, tmp, f"quix-{label}")
            except (RuntimeError, subprocess.TimeoutExpired) as error:  # the worker's figures still count
                peer_error = str(error)[-1000:]
                common.log(f"{label}: Quix Streams failed: {peer_error}")
    if peer:
        common.log(f"{label}: Quix Streams {events / peer['processing_s']:,.0f} events/s")
    logic = logic_only.measure(msgs[: max(1, LOGIC_EVENTS // per_message)])
    common.log(f"{label}: the code alone {logic['events_per_s']:,} events/s")
    result = {
        "events_per_message": per_message,
        "events": events,
        "messages": len(msgs),
        "worker_events_per_s": one["events_per_s"],
        "plain_consumer_events_per_s": round(events / plain),
        "quix_events_per_s": round(events / peer["processing_s"]) if peer else None,
        "logic_only": logic,
        "worker_runs": runs,
        "skipped": skipped,
    }
    on_rocksdb = [run for run in runs if run["state"] == "rocksdb://"]
    if on_rocksdb:
        result["worker_rocksdb_events_per_s"] = on_rocksdb[0]["events_per_s"]
    if peer:
        result["quix"] = {key: round(value, 3) for key, value in peer.items()}
    if peer_error:
        result["quix_error"] = peer_error
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--workers", type=int, nargs="+", default=[1])
    parser.add_argument("--min-seconds", type=float, default=15)
    parser.add_argument("--no-quix", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for per_message in args.batch:
            result = measure_shape(
                per_message, args.events, Path(tmp), args.workers, args.min_seconds, quix=not args.no_quix
            )
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
