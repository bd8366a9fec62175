"""Instructions per event of the worker's three stages: a cost host noise cannot blur.

    make instructions                  # installs valgrind (as root), then runs this
    python bench/instructions.py [--events 5000] [--batch 100] [--json FILE]

On a shared host the same code's speed moves by a third from run to run (this one, two
cores, November 2026: ``logic_only.py`` gave 41 to 55 µs an event for one commit within
minutes), so a change worth 5 % cannot be seen in events/s. Valgrind counts the
instructions a program executes instead: two runs of the same code differ by under 0.2 %.

The messages of ``logic_only.py`` (the same simulated events, ``PYTHONHASHSEED=0`` so
that hashing and dict layouts repeat) go through the first 0, 1, 2 and 3 stages of
``logic_only.run_stages`` in four processes under ``valgrind --tool=cachegrind
--cache-sim=no``. A stage's instructions are the difference between two neighbours, over
the events: start-up, imports and making the events cancel out. An instruction is not a
nanosecond (a cache miss costs more than an add), but for the interpreter's work the two
go together: compare two commits with this, and confirm a large difference in events/s.

About a minute for 5,000 events on two cores (valgrind runs Python about 40 times slower).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import common  # bench/ is a folder of scripts, not a package
import logic_only

STAGES = ("route", "joins", "totals")
_I_REFS = re.compile(r"^==\d+== I\s+refs:\s+([\d,]+)\s*$", re.MULTILINE)


def instruction_count(valgrind_stderr: str) -> int:
    """The program's instructions, from cachegrind's summary ("==PID== I refs: 1,234")."""
    found = _I_REFS.findall(valgrind_stderr)
    if len(found) != 1:
        raise ValueError(f"no cachegrind summary in valgrind's output: {valgrind_stderr[-500:]!r}")
    return int(found[0].replace(",", ""))


def per_stage(counts: list[int], events: int) -> dict[str, float]:
    """Instructions per event of each stage, from the counts of runs of the first 0 … 3 stages."""
    if len(counts) != len(STAGES) + 1:
        raise ValueError(f"{len(STAGES) + 1} counts needed, got {len(counts)}")
    result = {stage: round((counts[i + 1] - counts[i]) / events) for i, stage in enumerate(STAGES)}
    result["total"] = round((counts[-1] - counts[0]) / events)
    return result


def count(stages: int, events: int, per_message: int, totals_batch: int) -> int:
    """Instructions of a process that makes the messages and runs the first ``stages`` stages."""
    command = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        "--cachegrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--child",
        str(stages),
        "--events",
        str(events),
        "--batch",
        str(per_message),
        "--totals-batch",
        str(totals_batch),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, env=os.environ | {"PYTHONHASHSEED": "0"}, timeout=1800
    )
    if done.returncode != 0:
        raise RuntimeError(f"valgrind failed ({done.returncode}): {done.stderr[-1000:]}")
    return instruction_count(done.stderr)


def child(stages: int, events: int, per_message: int, totals_batch: int) -> None:
    """What each valgrind process runs: the messages, then ``stages`` stages (none for 0)."""
    from shoppulse.runtime import tune_gc
    from shoppulse.schemas.stores import load_stores

    msgs = common.messages(common.make_events(events), per_message)
    stores = load_stores(common.SAMPLES).by_id()
    tune_gc()  # as the worker does
    if stages:
        logic_only.run_stages(msgs, stores, common.PARTITIONS, stages, totals_batch)


def measure(events: int, per_message: int, totals_batch: int = logic_only.MESSAGES_PER_BATCH) -> dict:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        counts = list(
            pool.map(lambda stages: count(stages, events, per_message, totals_batch), range(len(STAGES) + 1))
        )
    version = subprocess.run(["valgrind", "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "events": events,
        "events_per_message": per_message,
        "totals_batch": totals_batch,
        "instructions_per_event": per_stage(counts, events),
        "instructions": counts,
        "valgrind": version,
        "python": sys.version.split()[0],
        "code": common.code(),
        "seconds": round(time.perf_counter() - started),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=100, help="events per message")
    parser.add_argument(
        "--totals-batch",
        type=int,
        default=logic_only.MESSAGES_PER_BATCH,
        help="messages per stage-three batch and chunk write (inside the worker: batches of 7 on average)",
    )
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.events, args.batch, args.totals_batch)
        return
    result = measure(args.events, args.batch, args.totals_batch)
    text = json.dumps(result)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
