"""Worker memory per active customer: RSS with 10k, 100k and 1M distinct customers.

    python bench/memory.py [--customers 10000 100000 1000000] [--budget 300]
                           [--states rocksdb:// memory://]

One `shoppulse worker` on a fresh embedded broker, once per table store. The headline
figure is with ``rocksdb://``, the worker's default and what production runs: the tables
(entities, seen ids, store chunks) are on disk, and what grows in the process is what the
worker keeps in memory per customer. The second figure, under ``memory_tables``, is with
``memory://`` tables (all state in the process, as the tests run it): the worst case,
which adds each customer's table values (about 400 bytes for a customer and an order).

Each distinct customer places one order (one line item) at the smart-home sample store,
within the last 24 hours, inside the 30-day window. That is the least an active customer
costs: the customer's entity, the order's entity and the event's id kept for
deduplication. Orders go in batched messages of 100 (the fast path), in time order as a
store's orders come: customer n orders n times 83 ms into the day that ended an hour ago, so
a message's orders share a minute or two. (Scattered at random over the day, each order
of a message fell on a minute of its own: a message carried a hundred minutes of steps to
stage three. The 1M step took 148 s that way and 123 s in order.) The store's
minute series grow with the minutes the orders reach, under half a KiB a minute
(tracemalloc: 0.17 MiB after 300,000 orders over 414 minutes): under a byte a customer.

Customers are cumulative: 10k, then 90k more, then 900k more. The worker's RSS is read
a second after it has processed and committed each step, with what its /metrics says the
dedupe index and RocksDB's memory hold then (``dedupe_ids``, ``rocksdb_bytes``). Bytes per
customer is the least-squares slope of RSS over customers (from the idle worker when
only one step ran). Baselines in the same run: the idle worker's RSS, and a plain dict
from each customer id to its order id in this process (tracemalloc), the floor for any
Python service that remembers its customers.

A step that the rate seen so far says would not end within ``--budget`` seconds (the
suite must fit in 15 minutes) is shortened to as many customers as fit, or skipped when
that is less than twice the last step; the slope then comes from the steps done. Also
given: the slope from the second step on (``marginal_bytes_per_customer``), what a
further customer costs once the fixed-size caches and buffers have filled. The
headline store gets the budget less ``SECOND_RESERVE`` seconds, kept for the other store's
first two steps; a store that gets less than ``MIN_RUN`` seconds is skipped.

Output (JSON): the headline's figures at the top level, as ``bench/run.py`` and
``bench/tables.py`` read them (``state`` says which store), and the other store's
figures, the same keys, under ``memory_tables`` (None when it was skipped).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).parent))
import common  # bench/ is a folder of scripts, not a package

from shoppulse.broker import EmbeddedBroker

STORE = "hometech-haven"
PER_MESSAGE = 100
STATES = ("rocksdb://", "memory://")  # the headline first
SECOND_RESERVE = 45.0  # seconds: a worker's start, 10k and 100k customers on memory://
MIN_RUN = 20.0  # seconds: less than this, and the run is skipped
DAY_SECONDS = 82_800  # the day orders fall in: the last 24 hours but the last hour
ORDERS_PER_DAY = 1_000_000  # a customer's order time: its number's share of the day
STEP_MARGIN = 10.0  # seconds a shortened step leaves for its messages' making and the last commit


def orders(first: int, last: int, run: str) -> list[common.Message]:
    """One order each for customers first..last-1, in messages of PER_MESSAGE."""
    now = datetime.now(UTC)
    out: list[common.Message] = []
    batch: list[bytes] = []
    for number in range(first, last):
        ts = now - timedelta(seconds=3600 + DAY_SECONDS - (number * DAY_SECONDS) // ORDERS_PER_DAY)
        batch.append(
            orjson.dumps(
                {
                    "event_id": f"mem-{run}-{number}",
                    "type": "order",
                    "store_id": STORE,
                    "ts": ts.isoformat(timespec="seconds"),
                    "customer_id": f"cust-{run}-{number}",
                    "order_id": f"ord-{run}-{number}",
                    "currency": "USD",
                    "items": [{"sku": "HUB-2", "category": "hub", "quantity": 1, "unit_price": "129.00"}],
                }
            )
        )
        if len(batch) == PER_MESSAGE:
            out.append((STORE.encode(), b"[" + b",".join(batch) + b"]"))
            batch = []
    if batch:
        out.append((STORE.encode(), b"[" + b",".join(batch) + b"]"))
    return out


def dict_baseline(count: int, run: str = "base") -> float:
    """Bytes per entry of {customer id: order id} (the same id strings), by tracemalloc."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    customers = {f"cust-{run}-{n}": f"ord-{run}-{n}" for n in range(count)}
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del customers
    return used / count


def slope(points: list[tuple[int, int]]) -> float | None:
    if len(points) < 2:
        return None
    xs = [float(x) for x, _ in points]
    ys = [float(y) for _, y in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


def measure(tmp: Path, customers: list[int], budget: float = 300.0, states: tuple[str, ...] = STATES) -> dict:
    """The headline store's figures (``states[0]``), with the others' under ``memory_tables``."""
    started = time.perf_counter()
    reserve = min(SECOND_RESERVE, budget / 3) if len(states) > 1 else 0.0
    result = measure_state(tmp, customers, budget - reserve, states[0])
    for state in states[1:]:
        left = budget - (time.perf_counter() - started)
        if left < MIN_RUN:
            common.log(f"memory: {state} skipped ({left:.0f} s left)")
            result["memory_tables"] = None
            continue
        result["memory_tables"] = measure_state(tmp, customers, left, state)
    return result


def measure_state(tmp: Path, customers: list[int], budget: float, state: str) -> dict:
    """One worker with ``state`` tables through the steps, within ``budget`` seconds."""
    name = "memory-" + state.split(":", 1)[0]
    app_id = f"bench-{name}"
    run = str(int(time.time()))
    stores = common.stores_file(tmp)
    steps: list[dict] = []
    skipped: list[dict] = []
    started = time.perf_counter()
    with EmbeddedBroker(log_path=tmp / f"broker-{name}.log") as broker:
        worker = common.Worker(broker.bootstrap, app_id, stores, tmp, state=state, name=name)
        try:
            worker.start()
            asyncio.run(common.wait_ready([worker], broker.bootstrap, app_id))
            time.sleep(1.0)
            idle = worker.rss()
            done = 0
            rate: float | None = None
            ends: dict[int, int] = {}
            for wanted in sorted(customers):
                remaining = budget - (time.perf_counter() - started)
                target = wanted
                if rate and (wanted - done) / rate > remaining:
                    # As many as fit instead, when that is at least twice the last step.
                    fits = done + int(rate * (remaining - STEP_MARGIN) / 10_000) * 10_000
                    if fits < 2 * done:
                        skipped.append(
                            {
                                "customers": wanted,
                                "projected_s": round((wanted - done) / rate),
                                "budget_left_s": round(remaining),
                            }
                        )
                        common.log(
                            f"memory: {state} {wanted:,} customers skipped (~{(wanted - done) / rate:.0f} s)"
                        )
                        continue
                    target = fits
                    common.log(f"memory: {state} {target:,} customers instead of {wanted:,} (time)")
                msgs = orders(done, target, run)
                step_started = time.perf_counter()
                for partition, end in asyncio.run(common.fill(broker.bootstrap, msgs)).items():
                    ends[partition] = max(ends.get(partition, 0), end)
                _, committed = asyncio.run(
                    common.wait_done([worker], broker.bootstrap, app_id, ends, budget, step_started)
                )
                seconds = committed - step_started
                rate = (target - done) / seconds
                done = target
                time.sleep(1.0)
                step = {"customers": target, "rss_bytes": worker.rss(), "seconds": round(seconds, 1)}
                metrics_text = asyncio.run(common.scrape_once(worker))
                step["dedupe_ids"], step["rocksdb_bytes"] = common.holders(metrics_text)
                if target != wanted:
                    step["shortened_from"] = wanted
                steps.append(step)
                common.log(
                    f"memory: {state} {target:,} customers, RSS {steps[-1]['rss_bytes'] / 2**20:,.0f} MiB"
                )
        finally:
            worker.stop()
    points = [(s["customers"], s["rss_bytes"]) for s in steps]
    # One step alone: from the idle worker (that slope also carries start-up allocations).
    per_customer = slope(points if len(points) >= 2 else [(0, idle), *points])
    return {
        "idle_rss_bytes": idle,
        "steps": steps,
        "skipped": skipped,
        "bytes_per_customer": round(per_customer) if per_customer is not None else None,
        "slope_from": "steps" if len(points) >= 2 else "idle and one step",
        # From the second step on: what each further customer costs once the worker's
        # fixed-size caches and buffers (RocksDB's budget, fetch and producer buffers) have
        # filled, which they do within the first 100,000 customers here.
        "marginal_bytes_per_customer": round(marginal) if (marginal := slope(points[1:])) else None,
        "dict_baseline_bytes_per_customer": round(dict_baseline(max(customers[0], 10_000))),
        "state": state,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--budget", type=float, default=300)
    parser.add_argument("--states", nargs="+", default=list(STATES), help="table stores, the headline first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(measure(Path(tmp), args.customers, args.budget, tuple(args.states))), flush=True)


if __name__ == "__main__":
    main()
