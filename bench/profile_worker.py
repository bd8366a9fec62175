"""Where a worker's time goes: py-spy samples of one worker under the throughput load.

    make profile        # installs py-spy (the `profile` extra), then runs this
    python bench/profile_worker.py [--batch 1 100] [--events 100000] [--rate 200]

For each message shape, on a fresh embedded broker: one `shoppulse worker` (memory
tables) is started and waited for, then py-spy samples it (``--rate`` a second, without
pausing it) while the messages of ``bench/worker_throughput.py`` go through all three
stages. Each sample's stack is put in one part of the pipeline (``PARTS``, by the
outermost frame that names one) and, within stage parts, in one piece of work
(``WORK``, by the innermost frame that names one). C code such as orjson and
pydantic-core shows as the Python line that called it.

Prints a Markdown table per shape and writes the raw stacks and a JSON summary to
``bench/results/tmp/profile-<shape>.{txt,json}``. py-spy reads the worker's memory
with ptrace: run as root, or allow ptrace (``kernel.yama.ptrace_scope=0``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from tempfile import TemporaryDirectory

import common

from shoppulse.broker import EmbeddedBroker

OUT = Path(__file__).resolve().parent / "results" / "tmp"

# The part of the pipeline a sample is in: the first entry any of its frames names.
PARTS: list[tuple[str, str]] = [
    ("StreamApp._route_forever", "stage one: route (plain aiokafka consumer)"),
    ("StreamApp._join_batch", "stage two: joins"),
    ("StreamApp._totals_batch", "stage three: totals"),
    ("StreamApp._write_chunks", "stage three: totals"),  # after a batch, or when quiet
    ("WorkerThread.run", "Faust's consumer thread (fetching)"),
    ("Agent._execute_actor", "Faust's streams and agents (around the batches)"),
    ("StreamApp._settle", "stage one: delivery and commit"),
]
OTHER = "event loop, producer, commits, metrics"

# Within a stage, the piece of work: the first entry any frame below the stage names.
WORK: list[tuple[str, str]] = [
    ("EventValidator.", "validation (pydantic)"),
    ("StreamApp._write", "table writes and changelog records"),
    ("JoinStage.", "dedupe and joins (engine entities)"),
    ("Ledger.", "ledger (steps into store series, chunks encoded)"),
    ("codec.py", "encoding and decoding steps"),
    ("Router.", "routing"),
    ("StreamApp._send", "producing"),
    ("Producer.send", "producing"),
]


def frame_name(frame: str) -> str:
    """``Class.method (path/file.py:12)`` → ``Class.method (file.py)``."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit('/', 1)[-1].split(':', 1)[0]})" if where else name


def classify(frames: list[str]) -> tuple[str, str]:
    """(part, piece of work); the work is "" outside the stages."""
    found = next(
        ((part, at) for marker, part in PARTS for at, frame in enumerate(frames) if marker in frame), None
    )
    if found is None:
        return OTHER, ""
    part, at = found
    if not part.startswith("stage"):
        return part, ""
    below = frames[at + 1 :]
    work = next((label for marker, label in WORK if any(marker in frame for frame in below)), None)
    return part, work or "the stage's own code (and C code it calls: orjson)"


def summarise(raw: Path) -> dict:
    parts: Counter[str] = Counter()
    works: Counter[tuple[str, str]] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        frames = stack.split(";")
        part, work = classify(frames)
        parts[part] += samples
        if work:
            works[part, work] += samples
        leaves[frame_name(frames[-1])] += samples
        total += samples

    def share(n: int) -> float:
        return round(n / total, 4) if total else 0.0

    return {
        "samples": total,
        "parts": {part: share(n) for part, n in parts.most_common()},
        "work": {f"{part} / {work}": share(n) for (part, work), n in works.most_common()},
        "top_functions_self": {name: share(n) for name, n in leaves.most_common(15)},
    }


def profile(per_message: int, events: int, rate: int, spy: str, tmp: Path) -> dict:
    msgs = common.messages(common.make_events(events), per_message)
    stores = common.stores_file(tmp)
    raw = OUT / f"profile-{per_message}.txt"
    app_id = f"profile-{per_message}"
    with EmbeddedBroker(log_path=tmp / "broker.log") as broker:
        worker = common.Worker(broker.bootstrap, app_id, stores, tmp, name=app_id)
        with worker:
            asyncio.run(common.wait_ready([worker], broker.bootstrap, app_id))
            sampler = subprocess.Popen(
                [
                    spy,
                    "record",
                    "--pid",
                    str(worker.pid),
                    "--rate",
                    str(rate),
                    "--format",
                    "raw",
                    "--nonblocking",
                    "--output",
                    str(raw),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1)  # py-spy attaches
            cpu_before = worker.cpu()
            started = time.perf_counter()
            ends = asyncio.run(common.fill(broker.bootstrap, msgs))
            _, committed = asyncio.run(
                common.wait_done([worker], broker.bootstrap, app_id, ends, started=started)
            )
            cpu = worker.cpu() - cpu_before
            sampler.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            sampler.wait(60)
    seconds = committed - started
    return {
        "events_per_message": per_message,
        "events": events,
        "events_per_s": round(events / seconds),
        "worker_cpu_us_per_event": round(cpu / events * 1e6, 1),
        "raw_stacks": str(raw.relative_to(OUT.parents[1])),
        **summarise(raw),
    }


def table(result: dict) -> str:
    lines = [
        f"### {result['events_per_message']} event(s) per message: {result['events']:,} events, "
        f"{result['events_per_s']:,} events/s under the profiler, "
        f"{result['worker_cpu_us_per_event']} µs of worker CPU per event",
        "",
        "| where | share of samples |",
        "|---|---|",
    ]
    for part, share in result["parts"].items():
        lines.append(f"| **{part}** | {share:.1%} |")
        for label, work_share in result["work"].items():
            if label.startswith(part + " / "):
                lines.append(f"| &nbsp;&nbsp;{label.split(' / ', 1)[1]} | {work_share:.1%} |")
    lines += ["", "Functions with the most samples of their own:", ""]
    lines += [f"- {share:.1%} `{name}`" for name, share in result["top_functions_self"].items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=200, help="samples a second")
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        sys.exit("py-spy is not installed: `make profile` installs it (the `profile` extra)")
    OUT.mkdir(parents=True, exist_ok=True)
    for per_message in args.batch:
        with TemporaryDirectory() as tmp:
            result = profile(per_message, args.events, args.rate, spy, Path(tmp))
        (OUT / f"profile-{per_message}.json").write_text(json.dumps(result, indent=2) + "\n")
        print(table(result) + "\n")


if __name__ == "__main__":
    main()
