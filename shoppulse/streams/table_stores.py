"""The table stores a worker runs on (``--state``).

A module of its own so that the CLI can offer them without importing the worker's
settings (pydantic-settings costs the command 0.1 s at every start).
"""

from __future__ import annotations

from typing import Literal

# Another URL, even one Faust knows (aerospike://), failed only once Faust started,
# with a traceback.
StateStore = Literal["rocksdb://", "memory://"]
