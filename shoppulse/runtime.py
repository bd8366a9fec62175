"""Process-level settings for the long-running and batch commands."""

from __future__ import annotations

import ctypes
import gc
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache


def tune_gc() -> None:
    """Make the cyclic garbage collector cheap for millions of small, acyclic objects.

    KPI state is dicts, tuples and slotted objects without reference cycles, yet every
    allocation counts towards a collection that rescans the whole heap: measured on a
    200,000-event report, 17,000 events/s with the defaults and 34,000 with this. Objects
    made during start-up are frozen out of the scans; collections still run, just less
    often, so a library that makes cycles cannot leak.

    A young collection scans every tracked object still alive since the last one, and a
    worker's batch keeps hundreds of thousands alive until it is sent (stage one's work
    items for up to 50,000 events, stage two's decoded messages): at 100,000, batched
    traffic set off one every second, 43 ms each scanning such a batch for nothing, 4 %
    of the worker's CPU (10 collections, 0.43 s, in a 300,000-event run; 0.7 thousand
    cyclic objects found in all). At a million no batch reaches it; steady traffic of
    single events reached neither threshold in 150 s (``docs/benchmarks.md``).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(1_000_000, 50, 100)


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


def trim_malloc() -> bool:
    """Give the free pages inside malloc's heaps back to the system; False if nothing
    was given back, or this is not glibc.

    glibc returns memory on its own only from the top of a heap. A worker frees blocks
    all through it, below blocks that stay (the dedupe index's arrays, cached entities,
    RocksDB's), so what a burst of work took and freed stays in its RSS: a worker fed a
    million customers as fast as it could read them held 505 MiB, 259 MiB when trimmed
    every 5 s (``bench/memory.py``, docs/streaming.md). ``malloc_trim(0)`` releases every
    whole free page, wherever it is: 5 ms for a 340 MiB heap with 70 MiB free here.
    Free space in chunks smaller than a page stays: at a steady 5,400 events/s, most of
    it (16,000 free chunks of 1.2 KiB on average after nine minutes).

    It also gives back the large blocks (fetched record batches, encoded messages) that
    glibc serves from the heap once it has raised its mmap threshold. Until 2026-11-24
    the worker fixed that threshold at 128 KiB instead, so that such blocks never
    settled in the heap; but then each was mapped on its own and faulted in page by page
    every time: a third of a million page faults in a 300,000-event batched run, 0.5 s
    of kernel time, and 6 to 10 % of the worker's CPU. With this trim, memory per
    customer and over ten minutes stayed within their targets without the fix
    (``docs/benchmarks.md``).
    """
    libc = _glibc()
    return libc is not None and bool(libc.malloc_trim(0))


@cache
def _glibc() -> ctypes.CDLL | None:
    """The C library the interpreter runs on, if it is glibc (malloc_trim is glibc's
    own)."""
    if platform.libc_ver()[0] != "glibc":
        return None
    return ctypes.CDLL(None)
