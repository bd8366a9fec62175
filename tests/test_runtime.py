"""Process settings of the long-running commands, checked in fresh interpreters."""

from __future__ import annotations

import platform
import subprocess
import sys

from shoppulse.runtime import fix_mmap_threshold, trim_malloc

# Frees a 4 MiB block, then takes 1 MiB: prints how much of it glibc mapped on its own
# (mallinfo2's hblkhd), rather than carving it from the heap.
PROBE = """
import ctypes, sys
from shoppulse.runtime import fix_mmap_threshold

FIELDS = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()

class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in FIELDS]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Mallinfo2
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "fixed":
    assert fix_mmap_threshold()
libc.free(libc.malloc(4 << 20))
before = libc.mallinfo2().hblkhd
block = libc.malloc(1 << 20)
print(libc.mallinfo2().hblkhd - before)
"""


def mapped_after_a_large_free(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_a_large_block_is_still_mapped_on_its_own_after_a_larger_one_is_freed() -> None:
    if platform.libc_ver()[0] != "glibc":
        assert not fix_mmap_threshold()  # another C library: nothing to fix, nothing done
        return
    assert mapped_after_a_large_free("default") == 0  # glibc's own rule: from the heap now
    assert mapped_after_a_large_free("fixed") >= 1 << 20


# Fills 64 MiB of the heap, pins it with a block above, frees the 64 MiB: prints what
# trim_malloc returned, and the RSS given back by free alone, then by trim_malloc, in MiB.
TRIM_PROBE = """
import ctypes, os
from shoppulse.runtime import fix_mmap_threshold, trim_malloc

def rss():
    return int(open(f"/proc/{os.getpid()}/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
fix_mmap_threshold()  # as the worker runs: 32 KiB blocks come from the heap
blocks = [libc.malloc(32 << 10) for _ in range(2048)]
for block in blocks:
    ctypes.memset(block, 1, 32 << 10)  # resident, as a worker's buffers are
pin = libc.malloc(64)  # above them: the heap's top cannot shrink past it
before = rss()
for block in blocks:
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
