"""Process settings of the long-running commands, checked in fresh interpreters."""

from __future__ import annotations

import platform
import subprocess
import sys

from shoppulse.runtime import fix_mmap_threshold

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
