"""Process-level settings for the long-running and batch commands."""

from __future__ import annotations

import ctypes
import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager

M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)
MALLOC_ARENAS = 2


def tune_gc() -> None:
    """Make the cyclic garbage collector cheap for millions of small, acyclic objects.

    KPI state is dicts, tuples and slotted objects without reference cycles, yet every
    allocation counts towards a collection that rescans the whole heap: measured on a
    200,000-event report, 17,000 events/s with the defaults and 34,000 with this. Objects
    made during start-up are frozen out of the scans; collections still run, just less
    often, so a library that makes cycles cannot leak.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector around work that makes no reference cycles.

    ``shoppulse report`` builds a million long-lived objects and no cycle (its test,
    tests/test_report_cli.py, checks that a report leaves no cyclic garbage, bad lines
    included): collections would only scan each new object once, for nothing, 4 % of the
    report. Reference counting still frees whatever is dropped. What the work made is
    frozen before the collector resumes, or its first collection would scan it all at
    once (as long as the pause saved).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Let glibc's malloc use at most ``arenas`` arenas; call it before threads start.

    glibc gives threads arenas of their own, up to eight per core, and memory freed in one
    arena serves only that arena's threads. The worker's threads (Faust's consumer
    thread, RocksDB's flushes) take arenas whose free holes its main thread cannot reuse.
    Measured with ``bench/freshness.py`` (5 minutes at a constant 3,000 and 2,500 events/s,
    RSS growth after the first minute besides the dedupe index and RocksDB's cache): 9.8
    and 14.1 % with glibc's default, 3.5 and 5.7 % with two arenas, at the same worker
    CPU. Throughput did not tell them apart on a noisy host (``worker_throughput.py``,
    runs alternated: batched 10,204 against 9,343 events/s, mean of five each; single
    6,968 against 7,621, of three; the same setting varied by 30 % from run to run).
    A ``MALLOC_ARENA_MAX`` in the environment wins. False where there is no glibc mallopt.
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    return mallopt is not None and bool(mallopt(M_ARENA_MAX, arenas))
