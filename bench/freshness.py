"""Freshness (event produced → its effect on /metrics) and memory over a run at constant rate.

    python bench/freshness.py --rate 700 [--duration 600]

One `shoppulse worker` (8 partitions; ``rocksdb://`` tables, what production runs, unless
``--state memory://``) on a fresh embedded broker. A
separate load process sends simulated traffic of the sample stores, one event per
message, at a constant ``--rate`` (the runner uses half the worker's measured maximum)
for ``--duration`` seconds. Meanwhile this process:

* **probes**: every ``--probe-interval`` seconds it sends one visit of the probe store
  (a store no other traffic touches), timestamped now, and polls /metrics every
  ``--poll-interval`` seconds until that store's visit count (the denominator of
  ``tool_time_per_visit``, 24h window) includes it. One probe is in flight at a time, so
  a count identifies its probe. Freshness is from just before the probe's send to the
  arrival of the first scrape that shows it: an upper bound, at most one poll interval
  plus one scrape late. The scrapes cost the worker CPU too: about 2 ms each here, so
  at most 20 a second (``scrapes`` in the results) cost it up to 5 % of a core.
* **histogram**: the worker's own ``shoppulse_event_to_export_latency_seconds``
  (Kafka timestamp of the input message → its steps applied in stage three, all
  traffic), read before and after, quantiles interpolated within its buckets;
* **cores**: the worker's and the broker's CPU with each memory sample, for each
  minute's share of a core (``freshness_by_minute``): on the embedded broker, a fetch
  costs more with every record batch the partition holds, so over a long run the broker
  takes the cores the worker needs (docs/benchmarks.md, "Longer than the suite");
* **memory**: the worker's RSS every few seconds. Flat means that after the first
  minute RSS grows by less than 10 %. The slope, in bytes per event, is what the
  worker keeps per event in the window. One thing must grow: deduplication keeps every
  event id for 30 days, in an index of about 19 bytes an id (``streams.joins.SeenIndex``).
  Its baseline, measured in the same run, is an index of as many ids built in a fresh
  process (its RSS growth); the growth *besides* it says whether anything else grows.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import orjson
from aiokafka import AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).parent))
import common  # bench/ is a folder of scripts, not a package

from shoppulse.broker import EmbeddedBroker

LATENCY = "shoppulse_event_to_export_latency_seconds"
PROBE_TIMEOUT = 60.0  # seconds; a probe still invisible by then ends the probing
FLAT_GROWTH = 0.10  # RSS may grow this much after the first minute and still count as flat
# Seconds from the end of the load to the worker's last commit, at most, for the worker
# to have kept up: one commit interval (2.8 s), polling and a margin.
SUSTAINED_CATCH_UP = 4.0
CATCH_UP_WAIT = 20.0  # then the worker is stopped: it did not sustain the rate, by far
# The run stops early when the worker's RSS passes this (its memory is not flat yet, and
# other sessions share the machine).
RSS_LIMIT = min(8 << 30, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 3)


# --- the load process -----------------------------------------------------------------


async def load(bootstrap: str, rate: float, duration: float, seed: int) -> dict:
    """Send ``rate`` events/s for ``duration`` s (runs in its own process).

    The events are the simulator's traffic of six hours (its mix once journeys are under
    way: orders, deliveries, returning customers), each sent with the moment it is sent
    as its event time, as a live storefront sends them: with their simulated times the
    run swept six hours of event time in ten minutes, 36 times as fast as a live stream
    moves through the stores' minutes and chunks. (Memory grew as much either way:
    13.7 % besides the dedupe index over five minutes, the swept run with an 8 MiB
    RocksDB budget.)
    """
    count = int(rate * duration)
    events = common.event_stream(count, seed, hours=6)
    producer = common.load_producer(bootstrap)
    await producer.start()
    ends: dict[int, int] = {}
    pending: list[asyncio.Future] = []

    async def settle() -> None:
        for record in await asyncio.gather(*pending):
            ends[record.partition] = max(ends.get(record.partition, 0), record.offset + 1)
        pending.clear()

    sent = 0
    started = time.monotonic()
    try:
        while sent < count:
            due = min(count, int((time.monotonic() - started) * rate) + 1)
            while sent < due:
                event = next(events)
                event["ts"] = datetime.now(UTC).isoformat(timespec="milliseconds")
                pending.append(
                    await producer.send(common.TOPIC, orjson.dumps(event), key=event["store_id"].encode())
                )
                sent += 1
            if len(pending) >= 2000:
                await settle()
            await asyncio.sleep(0.005)
        await settle()
    finally:
        await producer.stop()
    seconds = time.monotonic() - started
    return {"sent": sent, "seconds": round(seconds, 2), "rate": round(sent / seconds, 1), "ends": ends}


# --- probes, histogram and memory -----------------------------------------------------


def probe_event(run: str, number: int) -> bytes:
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    return orjson.dumps(
        {
            "event_id": f"probe-{run}-{number}",
            "type": "visit",
            "store_id": common.PROBE_STORE,
            "visit_id": f"probe-visit-{run}-{number}",
            "ts": now,
        }
    )


def probe_count(text: str) -> float:
    for labels, value in common.samples(text, "shoppulse_kpi_denominator"):
        if (
            f'store="{common.PROBE_STORE}"' in labels
            and 'kpi="tool_time_per_visit"' in labels
            and 'window="24h"' in labels
        ):
            return value
    return 0.0


def histogram(text: str) -> dict[float, float]:
    """Cumulative bucket counts of the latency histogram, by upper bound."""
    buckets = {}
    for labels, value in common.samples(text, f"{LATENCY}_bucket"):
        bound = labels.split('le="', 1)[1].split('"', 1)[0]
        buckets[float(bound)] = value
    return buckets


def histogram_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float | None:
    """Prometheus' histogram_quantile over the increase between two reads."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    if not counts or counts[-1] <= 0:
        return None
    rank = q * counts[-1]
    previous_bound, previous_count = 0.0, 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank:
            if bound == float("inf"):
                return previous_bound
            return previous_bound + (bound - previous_bound) * (rank - previous_count) / (
                count - previous_count
            )
        previous_bound, previous_count = bound, count
    return None


async def observe(
    worker: common.Worker,
    bootstrap: str,
    broker_pid: int | None,
    duration: float,
    probe_interval: float,
    poll_interval: float,
    sample_every: float,
    rss_limit: int,
) -> dict:
    """Probe, and sample memory, until ``duration`` has passed, or the worker's RSS is over
    ``rss_limit`` (on a shared machine a faster worker could otherwise take all of it)."""
    run = f"{int(time.time())}"
    timed_out = False
    scrapes = 0
    sent_times: list[float] = []
    latencies: list[float] = []
    memory: list[tuple[float, int]] = []
    holders: list[tuple[float, int, int]] = []  # (t, dedupe ids, RocksDB bytes) at each sample
    cpu: list[tuple[float, float, float]] = []  # (t, worker's CPU seconds, broker's) at each sample
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    started = time.perf_counter()
    deadline = started + duration
    stopped_at: float | None = None

    async def sample(session: aiohttp.ClientSession) -> None:
        at = time.perf_counter() - started
        memory.append((at, worker.rss()))
        cpu.append((at, worker.cpu(), common.cpu_seconds(broker_pid) if broker_pid else 0.0))
        text = await common.scrape(session, worker.metrics_url)
        if text is not None:
            holders.append((at, *common.holders(text)))

    async def sample_memory() -> None:
        nonlocal deadline, stopped_at
        async with aiohttp.ClientSession() as session:
            while time.perf_counter() < deadline:
                await sample(session)
                if memory[-1][1] > rss_limit:
                    stopped_at = memory[-1][0]
                    deadline = time.perf_counter()  # ends the probing too
                    return
                await asyncio.sleep(sample_every)
            await sample(session)

    sampler = asyncio.create_task(sample_memory())
    try:
        async with aiohttp.ClientSession() as session:
            first = await common.scrape(session, worker.metrics_url) or ""
            seen = probe_count(first)
            number = 0
            while time.perf_counter() < deadline:
                number += 1
                sent_at = time.perf_counter()
                await producer.send(common.TOPIC, probe_event(run, number), key=b"probe")
                while True:
                    text = await common.scrape(session, worker.metrics_url)
                    scrapes += 1
                    if text is not None and probe_count(text) >= seen + 1:
                        latencies.append(time.perf_counter() - sent_at)
                        sent_times.append(sent_at - started)
                        seen += 1
                        break
                    worker.check()
                    if time.perf_counter() - sent_at > PROBE_TIMEOUT:
                        break
                    await asyncio.sleep(poll_interval)
                if len(latencies) < number:  # the worker fell far behind: stop probing
                    timed_out = True
                    latencies.append(time.perf_counter() - sent_at)
                    sent_times.append(sent_at - started)
                    break
                await asyncio.sleep(max(0.0, sent_at + probe_interval - time.perf_counter()))
    finally:
        await producer.stop()
        await sampler
    return {
        "latencies": latencies,
        "sent_at": sent_times,
        "memory": memory,
        "holders": holders,
        "cpu": cpu,
        "probe_timed_out": timed_out,
        "scrapes": scrapes,
        "stopped_at_s": stopped_at,
    }


_DEDUPE_PROBE = """
import os, sys
sys.path.insert(0, sys.argv[2])
from common import rss_bytes
from shoppulse.streams.joins import SeenIndex

count, index = int(sys.argv[1]), SeenIndex()
before = rss_bytes(os.getpid())
for number in range(count):
    index.add(f"e-bench-{number}", 20_000)
print((rss_bytes(os.getpid()) - before) / count)
"""


def dedupe_bytes_per_id(count: int) -> float:
    """What the worker's dedupe index costs per event id, in RSS: an index of ``count`` ids
    built in a fresh process (the arrays, their spare capacity and what splits leave)."""
    done = subprocess.run(
        [sys.executable, "-c", _DEDUPE_PROBE, str(max(count, 100_000)), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout)


def flatness(
    memory: list[tuple[float, int]],
    warmup: float,
    rate: float,
    dedupe_per_id: float = 0.0,
    holders: list[tuple[float, int, int]] | None = None,
) -> dict:
    """RSS after warm-up: growth, least-squares slope, and whether it stayed flat, also
    besides the two holders that grow by design (``holders``: the worker's own gauges).

    The dedupe index grows with every new event id, ``dedupe_per_id`` bytes each (with
    the ids the worker reports; without them, one id per event sent). RocksDB's cache
    fills up to its budget and stops there: its growth is bounded, not a leak, and is
    given apart, as RSS growth besides both."""
    after = [(t, rss) for t, rss in memory if t >= warmup] or memory
    xs = [t for t, _ in after]
    ys = [float(rss) for _, rss in after]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread if spread else 0.0
    start, end = after[0][1], after[-1][1]
    growth = (end - start) / start if start else 0.0
    held = [row for row in holders or [] if row[0] >= after[0][0]]
    if len(held) >= 2:
        new_ids = held[-1][1] - held[0][1]
        rocksdb = held[-1][2] - held[0][2]
    else:  # no gauges (a worker before them): every event sent was a new id
        new_ids, rocksdb = round(rate * (after[-1][0] - after[0][0])), None
    dedupe = dedupe_per_id * new_ids
    besides = (end - start - dedupe) / start if start else 0.0
    result = {
        "rss_start_bytes": memory[0][1],
        "rss_after_warmup_bytes": start,
        "rss_end_bytes": end,
        "rss_growth_after_warmup": round(growth, 4),
        "rss_slope_bytes_per_s": round(slope),
        "rss_bytes_per_event": round(slope / rate, 1) if rate else None,
        "warmup_s": warmup,
        "flat": growth < FLAT_GROWTH,
        "dedupe_bytes_per_event": round(dedupe_per_id, 1),
        "dedupe_new_ids": new_ids,
        "dedupe_growth_bytes": round(dedupe),
        "rss_growth_besides_dedupe": round(besides, 4),
        "flat_besides_dedupe": besides < FLAT_GROWTH,
    }
    if rocksdb is not None and start:
        rest = (end - start - dedupe - rocksdb) / start
        result |= {
            "rocksdb_after_warmup_bytes": held[0][2],
            "rocksdb_end_bytes": held[-1][2],
            "rocksdb_growth_bytes": rocksdb,
            "rss_growth_besides_dedupe_and_rocksdb": round(rest, 4),
            "flat_besides_dedupe_and_rocksdb": rest < FLAT_GROWTH,
        }
    return result


def measure(
    tmp: Path,
    rate: float,
    duration: float,
    probe_interval: float = 0.5,
    poll_interval: float = 0.05,
    sample_every: float = 5.0,
    warmup: float = 60.0,
    state: str = "rocksdb://",
) -> dict:
    app_id = "bench-fresh"
    stores = common.stores_file(tmp)
    with EmbeddedBroker(log_path=tmp / "broker-fresh.log") as broker:
        worker = common.Worker(broker.bootstrap, app_id, stores, tmp, state=state, name="fresh")
        try:
            worker.start()
            asyncio.run(common.wait_ready([worker], broker.bootstrap, app_id))
            before = asyncio.run(common.scrape_once(worker))
            load_process = subprocess.Popen(
                [
                    sys.executable, __file__, "--load", "--broker", broker.bootstrap, "--rate", str(rate),
                    "--duration", str(duration),
                ],
                stdout=subprocess.PIPE,
                stderr=(tmp / "load.log").open("wb"),
            )  # fmt: skip
            cpu_before = worker.cpu()
            observed = asyncio.run(
                observe(
                    worker,
                    broker.bootstrap,
                    broker.pid,
                    duration,
                    probe_interval,
                    poll_interval,
                    sample_every,
                    RSS_LIMIT,
                )
            )
            cpu = worker.cpu() - cpu_before
            catch_up_s: float | None = None
            if observed["stopped_at_s"] is not None:  # over the memory limit: stop the load
                load_process.terminate()
                load_process.wait(30)
                after = asyncio.run(common.scrape_once(worker))
                sent = {"sent": None, "seconds": observed["stopped_at_s"], "rate": rate}
            else:
                out, _ = load_process.communicate(timeout=120)
                if load_process.returncode != 0:
                    raise RuntimeError(f"load failed: {(tmp / 'load.log').read_text()[-2000:]}")
                sent = json.loads(out.splitlines()[-1])
                ends = {int(p): end for p, end in sent.pop("ends").items()}
                after = asyncio.run(common.scrape_once(worker))
                load_ended = time.perf_counter()
                try:
                    _, committed = asyncio.run(
                        common.wait_done([worker], broker.bootstrap, app_id, ends, CATCH_UP_WAIT, load_ended)
                    )
                    catch_up_s = committed - load_ended
                except TimeoutError:
                    pass
        finally:
            worker.stop()
    latencies = observed["latencies"]
    # After the run (the worker had the machine to itself), with as many ids as it saw.
    holders = observed["holders"]
    ids = holders[-1][1] if holders else int(sent["rate"] * (observed["stopped_at_s"] or duration))
    dedupe_per_id = dedupe_bytes_per_id(ids)
    before_buckets, after_buckets = histogram(before), histogram(after)
    return {
        "state": state,
        "rate_target": rate,
        "load": sent,
        "duration_s": duration,
        "probes": len(latencies),
        "probe_timed_out": observed["probe_timed_out"],
        "probe_interval_s": probe_interval,
        "poll_interval_s": poll_interval,
        "scrapes": observed["scrapes"],
        "freshness_p50_s": round(common.quantile(latencies, 0.50), 3),
        "freshness_p99_s": round(common.quantile(latencies, 0.99), 3),
        "freshness_max_s": round(max(latencies), 3) if latencies else None,
        "freshness_by_minute": by_minute(observed["sent_at"], latencies, observed["cpu"]),
        "histogram_p50_s": _round(histogram_quantile(before_buckets, after_buckets, 0.50)),
        "histogram_p99_s": _round(histogram_quantile(before_buckets, after_buckets, 0.99)),
        "worker_cpu_share": round(cpu / (observed["stopped_at_s"] or duration), 2),
        "broker_cpu_share": cores(observed["cpu"], 2),
        "stopped_at_s": observed["stopped_at_s"],
        "rss_limit_bytes": RSS_LIMIT,
        # All committed within a commit interval or so of the end of the load: the worker
        # sustained the rate. Otherwise it fell behind, and freshness measures a queue.
        "catch_up_after_load_s": None if catch_up_s is None else round(catch_up_s, 2),
        "sustained": catch_up_s is not None and catch_up_s <= SUSTAINED_CATCH_UP,
        "memory": flatness(
            observed["memory"], min(warmup, duration / 5), sent["rate"], dedupe_per_id, holders
        ),
        "rss_samples": [[round(t, 1), rss] for t, rss in observed["memory"]],
        "holder_samples": [[round(t, 1), ids, rocksdb] for t, ids, rocksdb in holders],
        "cpu_samples": [[round(t, 1), round(w, 2), round(b, 2)] for t, w, b in observed["cpu"]],
        "latencies_s": [round(x, 4) for x in latencies],
        "probe_sent_at_s": [round(x, 2) for x in observed["sent_at"]],
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def by_minute(
    sent_at: list[float], latencies: list[float], cpu: list[tuple[float, float, float]] | None = None
) -> list[dict]:
    """Probes, median and worst freshness for each minute of the run (by when a probe was
    sent), and, given ``cpu`` (the worker's and the broker's CPU seconds so far, sampled
    through the run), the share of a core each used in that minute. A worker falling
    behind late in a run shows here, not in the quantiles; the shares tell whether its
    own cost grew or the broker took the cores (Tansu's CPU grows with the record
    batches it holds, ``docs/streaming.md``)."""
    minutes: dict[int, list[float]] = {}
    for at, latency in zip(sent_at, latencies, strict=True):
        minutes.setdefault(int(at // 60), []).append(latency)
    shares = cores_by_minute(cpu or [])
    return [
        {"minute": minute, "probes": len(values), "p50_s": round(common.quantile(values, 0.5), 3),
         "max_s": round(max(values), 3), **shares.get(minute, {})}
        for minute, values in sorted(minutes.items())
    ]  # fmt: skip


def cores_by_minute(cpu: list[tuple[float, float, float]]) -> dict[int, dict[str, float]]:
    """The worker's and the broker's share of a core in each minute, from cumulative CPU
    seconds sampled every few seconds: each interval between two samples counts in the
    minute it starts in."""
    totals: dict[int, list[float]] = {}  # minute → [seconds, worker's CPU, broker's CPU]
    for (t0, worker0, broker0), (t1, worker1, broker1) in itertools.pairwise(cpu):
        minute = totals.setdefault(int(t0 // 60), [0.0, 0.0, 0.0])
        minute[0] += t1 - t0
        minute[1] += worker1 - worker0
        minute[2] += broker1 - broker0
    return {
        minute: {"worker_cores": round(worker / seconds, 2), "broker_cores": round(broker / seconds, 2)}
        for minute, (seconds, worker, broker) in totals.items()
        if seconds > 0
    }


def cores(cpu: list[tuple[float, float, float]], column: int) -> float | None:
    """A process's average share of a core over the samples (column 1 the worker, 2 the broker)."""
    if len(cpu) < 2 or cpu[-1][0] <= cpu[0][0]:
        return None
    return round((cpu[-1][column] - cpu[0][column]) / (cpu[-1][0] - cpu[0][0]), 2)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, required=True, help="background events/s")
    parser.add_argument("--duration", type=float, default=600)
    parser.add_argument("--probe-interval", type=float, default=0.5)
    parser.add_argument("--poll-interval", type=float, default=0.05)
    parser.add_argument("--state", default="rocksdb://", help="the worker's table store")
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--broker", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=11, help=argparse.SUPPRESS)
    parser.add_argument("--samples", type=Path, help="also write the whole result, samples included, here")
    args = parser.parse_args()
    if args.load:
        print(json.dumps(asyncio.run(load(args.broker, args.rate, args.duration, args.seed))), flush=True)
        return
    with tempfile.TemporaryDirectory() as tmp:
        result = measure(
            Path(tmp), args.rate, args.duration, args.probe_interval, args.poll_interval, state=args.state
        )
    if args.samples:
        args.samples.write_text(json.dumps(result))
    result.pop("rss_samples")
    result.pop("holder_samples")
    result.pop("latencies_s")
    result.pop("probe_sent_at_s")
    result.pop("cpu_samples")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
