"""Process settings: the worker's cap on glibc's malloc arenas (shoppulse/runtime.py)."""

from __future__ import annotations

import os
import subprocess
import sys

# Eight threads allocate at once, in blocks that glibc serves from an arena (under its
# 128 KiB mmap threshold); then malloc_info's XML says how many arenas ("heaps") exist.
ARENAS_AFTER_THREADS = """
import ctypes, sys, tempfile, threading
from shoppulse.runtime import limit_malloc_arenas

limited = limit_malloc_arenas() if sys.argv[1] == "limit" else None
ready = threading.Barrier(8)

def allocate():
    ready.wait()
    for _ in range(200):
        bytearray(100_000)

threads = [threading.Thread(target=allocate) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
with tempfile.NamedTemporaryFile(suffix=".xml") as out:
    handle = libc.fopen(out.name.encode(), b"w")
    libc.malloc_info(0, ctypes.c_void_p(handle))
    libc.fclose(ctypes.c_void_p(handle))
    print(limited, open(out.name).read().count("<heap nr="))
"""


def arenas(mode: str, **env: str) -> tuple[str, int]:
    environment = {key: value for key, value in os.environ.items() if key != "MALLOC_ARENA_MAX"}
    done = subprocess.run(
        [sys.executable, "-c", ARENAS_AFTER_THREADS, mode],
        capture_output=True,
        text=True,
        check=True,
        env=environment | env,
    )
    limited, heaps = done.stdout.split()
    return limited, int(heaps)


def test_the_worker_caps_malloc_arenas_unless_the_environment_says_otherwise() -> None:
    assert arenas("limit") == ("True", 2)
    limited, heaps = arenas("glibc-default")
    assert limited == "None"
    assert heaps > 2  # the threads took arenas of their own
    limited, heaps = arenas("limit", MALLOC_ARENA_MAX="4")
    assert limited == "False"
    assert 2 < heaps <= 4
