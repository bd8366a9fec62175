"""Process settings of the long-running commands, checked in fresh interpreters."""

from __future__ import annotations

import platform
import subprocess
import sys

from shoppulse.runtime import trim_malloc

# Fills 64 MiB of the heap, keeps its highest block (the heap's top cannot shrink past
# it) and frees the rest: prints what trim_malloc returned, and the RSS given back by free
# alone, then by trim_malloc, in MiB. The pin is the highest block, not a block allocated
# after them: malloc serves a small request from a free chunk lower down when it has one
# (under Python 3.13 it had, so free gave the 64 MiB back by itself).
TRIM_PROBE = """
import ctypes, os
from shoppulse.runtime import trim_malloc

def rss():
    return int(open(f"/proc/{os.getpid()}/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
blocks = [libc.malloc(32 << 10) for _ in range(2049)]
for block in blocks:
    ctypes.memset(block, 1, 32 << 10)  # resident, as a worker's buffers are
pin = max(blocks)
before = rss()
for block in blocks:
    if block != pin:
        libc.free(block)
freed = rss()
gave_back = trim_malloc()
print(gave_back, (before - freed) >> 20, (freed - rss()) >> 20)
"""


def test_trim_malloc_gives_back_the_free_pages_inside_the_heap() -> None:
    if platform.libc_ver()[0] != "glibc":
        assert not trim_malloc()
        return
    done = subprocess.run([sys.executable, "-c", TRIM_PROBE], capture_output=True, text=True, check=True)
    gave_back, by_free, by_trim = done.stdout.split()
    assert gave_back == "True"
    assert int(by_free) < 8  # glibc keeps what was freed below a block in use
    assert int(by_trim) >= 56  # of the 64 MiB freed


# Holds a stage-one batch's worth of live work items (50,000, each a list with nested
# lists: 200,000 tracked objects), then eight times as many: prints the young
# collections each set off under ``tune_gc``.
GC_PROBE = """
import gc
from shoppulse.runtime import tune_gc

tune_gc()
young = []
gc.callbacks.append(lambda phase, info: phase == "start" and young.append(info["generation"]))

def hold(events):
    return [["m", f"2|store|{n}", ["P", n, [["c", 1]]], n] for n in range(events)]

batch = hold(50_000)
during_a_batch = len(young)
del batch
larger = hold(400_000)
print(during_a_batch, len(young) - during_a_batch)
"""


def test_a_batch_of_work_items_sets_off_no_collection_but_a_heap_that_grows_does() -> None:
    done = subprocess.run([sys.executable, "-c", GC_PROBE], capture_output=True, text=True, check=True)
    during_a_batch, past_it = map(int, done.stdout.split())
    assert during_a_batch == 0  # a collection would only scan the batch: its items hold no cycle
    assert past_it >= 1  # collections still run: a library that makes cycles cannot leak
