"""Does the worker's Python heap grow, besides the dedupe index? tracemalloc snapshots under load.

    python bench/heap_growth.py [--rate 800] [--duration 420] [--every 60] [--warmup 120]

One `shoppulse worker` (8 partitions, ``rocksdb://`` tables, as in ``freshness.py``) on a
fresh embedded broker runs under Python's tracemalloc, one frame per allocation, and
writes a snapshot of its heap every ``--every`` seconds. ``freshness.py``'s load process
sends the same simulated traffic, one event per message, at ``--rate`` events/s.

tracemalloc costs the worker most of its speed (at 1,000 events/s the worker was busy
a whole core, against 0.66 of one at 5,400 without it), so the rate is far below the
throughput runs'. A worker that falls behind holds fetched records in aiokafka's
buffers and the comparison measures its queue: the result gives the events sent and the
ids the worker counted by the end of the load, to check it kept up.

The last snapshot is compared with the first one after ``--warmup``, line by line, in
two parts: the dedupe index (``SeenIndex``, which keeps every event id for 30 days by
design) and everything else. Anything else that keeps growing at a constant rate is a
leak. RSS also holds what tracemalloc does not see (RocksDB, the allocator's free
lists); ``freshness.py`` measures that.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import itertools
import json
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import common  # bench/ is a folder of scripts, not a package

from shoppulse.broker import EmbeddedBroker
from shoppulse.export import contract
from shoppulse.streams.joins import SeenIndex

FRESHNESS = Path(__file__).parent / "freshness.py"
TOP_LINES = 10


@dataclass
class TracedWorker(common.Worker):
    """A worker started through this script, under tracemalloc, writing heap snapshots."""

    snapshots: Path = Path()
    every: float = 60.0

    def command_line(self) -> list[str]:
        command = super().command_line()  # python -m shoppulse worker … → python -X … this file … worker …
        return [
            sys.executable, "-X", "tracemalloc=1", __file__, "--snapshots", str(self.snapshots),
            "--every", str(self.every), "--", *command[command.index("worker"):],
        ]  # fmt: skip


def run_worker_traced(snapshots: Path, every: float, worker_args: list[str]) -> None:
    """The worker's own process: tracemalloc is on (``-X tracemalloc=1``); a thread
    writes a snapshot every ``every`` seconds, then the worker runs as usual."""

    def write_snapshots() -> None:
        started = time.monotonic()
        for number in itertools.count(1):
            time.sleep(max(0.0, started + number * every - time.monotonic()))
            tracemalloc.take_snapshot().dump(str(snapshots / f"{number:04d}.snapshot"))

    threading.Thread(target=write_snapshots, name="heap-snapshots", daemon=True).start()
    from shoppulse.cli import main as shoppulse_main

    sys.argv = ["shoppulse", *worker_args]
    shoppulse_main()


def index_lines() -> tuple[str, range]:
    """The file and lines of ``SeenIndex``: allocations there are the dedupe index."""
    source, first = inspect.getsourcelines(SeenIndex)
    return inspect.getsourcefile(SeenIndex) or "", range(first, first + len(source))


def compare(snapshot_files: list[Path], every: float, warmup: float) -> dict:
    """Heap totals at each snapshot, split into the dedupe index and the rest, and the
    lines outside the index that grew most from the first snapshot after warm-up."""
    index_file, index_range = index_lines()

    def in_index(frame: tracemalloc.Frame) -> bool:
        return frame.filename == index_file and frame.lineno in index_range

    def split(snapshot: tracemalloc.Snapshot) -> tuple[int, int]:
        stats = snapshot.statistics("lineno")
        index = sum(stat.size for stat in stats if in_index(stat.traceback[0]))
        return index, sum(stat.size for stat in stats) - index

    snapshots = [tracemalloc.Snapshot.load(str(path)) for path in snapshot_files]
    times = [every * (number + 1) for number in range(len(snapshots))]
    parts = [split(snapshot) for snapshot in snapshots]
    first = next((number for number, at in enumerate(times) if at >= warmup), 0)
    (index_from, rest_from), (index_to, rest_to) = parts[first], parts[-1]
    grown = [
        stat
        for stat in snapshots[-1].compare_to(snapshots[first], "lineno")
        if not in_index(stat.traceback[0])
    ]
    grown.sort(key=lambda stat: stat.size_diff, reverse=True)
    return {
        "snapshots": [
            {"at_s": at, "index_bytes": index, "rest_bytes": rest}
            for at, (index, rest) in zip(times, parts, strict=True)
        ],
        "compared_from_s": times[first],
        "compared_to_s": times[-1],
        "index_growth_bytes": index_to - index_from,
        "rest_growth_bytes": rest_to - rest_from,
        "rest_growth": round((rest_to - rest_from) / rest_from, 4) if rest_from else None,
        "top_lines": [
            {"line": f"{frame.filename}:{frame.lineno}", "growth_bytes": stat.size_diff}
            for stat in grown[:TOP_LINES]
            for frame in [stat.traceback[0]]
        ],
    }


def measure(tmp: Path, rate: float, duration: float, every: float, warmup: float) -> dict:
    app_id = "bench-heap"
    stores = common.stores_file(tmp)
    snapshots = tmp / "snapshots"
    snapshots.mkdir()
    with EmbeddedBroker(log_path=tmp / "broker-heap.log") as broker:
        worker = TracedWorker(
            broker.bootstrap, app_id, stores, tmp, state="rocksdb://", name="heap", snapshots=snapshots,
            every=every,
        )  # fmt: skip
        with worker:
            asyncio.run(common.wait_ready([worker], broker.bootstrap, app_id))
            started = time.monotonic()
            load = subprocess.run(
                [sys.executable, str(FRESHNESS), "--load", "--broker", broker.bootstrap, "--rate", str(rate),
                 "--duration", str(duration)],
                capture_output=True, check=True, timeout=duration + 300,
            )  # fmt: skip
            sent = json.loads(load.stdout)
            time.sleep(max(0.0, started + duration + 5 - time.monotonic()))
            text = asyncio.run(common.scrape_once(worker))
            snapshot_files = sorted(snapshots.glob("*.snapshot"))
            worker.check()
    result = compare(snapshot_files, every, warmup)
    return {
        "rate": rate,
        "duration_s": duration,
        "sent": sent,
        "ids_counted_at_end": int(common.total(text, contract.DEDUPE_IDS)) if text else None,
        **result,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=800, help="events/s, one event per message")
    parser.add_argument("--duration", type=float, default=420)
    parser.add_argument("--every", type=float, default=60, help="seconds between snapshots")
    parser.add_argument(
        "--warmup", type=float, default=120, help="compare from the first snapshot after this many seconds"
    )
    parser.add_argument("--snapshots", type=Path, help=argparse.SUPPRESS)  # the worker's own process
    args, rest = parser.parse_known_args()
    if args.snapshots:
        run_worker_traced(args.snapshots, args.every, [arg for arg in rest if arg != "--"])
        return
    with tempfile.TemporaryDirectory() as tmp:
        result = measure(Path(tmp), args.rate, args.duration, args.every, args.warmup)
    print(json.dumps(result), flush=True)
    print(markdown(result))


def markdown(result: dict) -> str:
    mib = 2**20
    lines = [
        f"Python heap of the worker at {result['rate']:,.0f} events/s (tracemalloc):",
        "",
        "| at | dedupe index | everything else |",
        "|---|---|---|",
    ]
    for row in result["snapshots"]:
        index, rest = row["index_bytes"] / mib, row["rest_bytes"] / mib
        lines.append(f"| {row['at_s']:.0f} s | {index:.1f} MiB | {rest:.1f} MiB |")
    index, rest = result["index_growth_bytes"] / mib, result["rest_growth_bytes"] / mib
    counted = result["ids_counted_at_end"] or 0
    lines += [
        "",
        f"From {result['compared_from_s']:.0f} s to {result['compared_to_s']:.0f} s: "
        f"the index {index:+.1f} MiB, everything else {rest:+.1f} MiB.",
        f"Sent {result['sent']['sent']:,} events; the worker counted {counted:,} ids.",
        "",
        "Lines outside the index that grew most:",
        "",
    ]
    lines += [f"- {line['growth_bytes'] / 1024:+,.0f} KiB `{line['line']}`" for line in result["top_lines"]]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
