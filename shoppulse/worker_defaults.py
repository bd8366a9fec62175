"""Defaults of the worker settings that are flags of ``shoppulse worker`` too.

``config.WorkerSettings`` takes them from here, and the CLI shows them in ``--help``
without importing pydantic-settings, which costs every command 0.1 s at start.
"""

from __future__ import annotations

from pathlib import Path

from shoppulse.streams.table_stores import StateStore

BROKER = "127.0.0.1:9092"
METRICS_PORT = 9108
PARTITIONS = 8
STATE_STORE: StateStore = "rocksdb://"
DATA_DIR = Path(".data/worker")
EXACTLY_ONCE = False
