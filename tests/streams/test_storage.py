"""The worker's RocksDB tables share one memory budget (shoppulse/streams/storage.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shoppulse.config import WorkerSettings
from shoppulse.streams.storage import BUDGET_OPTION, BoundedOptions, BoundedStore, shared_memory
from shoppulse.streams.worker import build

BUDGET = 8 << 20


def rocksdb_options(db: Path) -> dict[str, str]:
    """The settings RocksDB wrote for a database (its newest OPTIONS file)."""
    newest = max(db.glob("OPTIONS-*"), key=lambda path: int(path.name.split("-")[1]))
    pairs = (line.strip().split("=", 1) for line in newest.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


@pytest.mark.parametrize("state", ["rocksdb://", "memory://"])
def test_worker_tables_are_bounded_on_rocksdb(tmp_path: Path, stores_file: Path, state: str) -> None:
    settings = WorkerSettings(stores=stores_file, data_dir=tmp_path, state_store=state)
    stream_app = build(settings)
    for table in (stream_app.entities, stream_app.seen, stream_app.chunks):
        store = table.data
        assert isinstance(store, BoundedStore) is (state == "rocksdb://")
        if state == "rocksdb://":
            # the same files as Faust's own rocksdb:// store would use
            assert store.partition_path(3) == tmp_path / "v1" / "tables" / f"{table.name}-3.db"
            assert store.rocksdb_options.extra_options[BUDGET_OPTION] == settings.rocksdb_memory


def test_databases_share_one_cache_that_holds_their_write_buffers(tmp_path: Path) -> None:
    block_cache, write_buffers = shared_memory(BUDGET)
    options = BoundedOptions(**{BUDGET_OPTION: BUDGET}, use_rocksdict=True)
    first, second = options.open(tmp_path / "first.db"), options.open(tmp_path / "second.db")
    try:
        for number in range(40_000):  # 8 MB of values: twice what the write buffers may hold
            first[b"a%d" % number] = os.urandom(100)
            second[b"b%d" % number] = os.urandom(100)
        # Both databases' memtables are counted by the one manager, flushed to disk before
        # they pass its limit, and charged to the one cache.
        assert write_buffers.get_buffer_size() == BUDGET // 2
        assert 0 < write_buffers.get_usage() <= BUDGET // 2
        assert block_cache.get_usage() >= write_buffers.get_usage()
        assert first[b"a0"] is not None
        assert second[b"b39999"] is not None
    finally:
        first.close()
        second.close()
    for name in ("first.db", "second.db"):
        written = rocksdb_options(tmp_path / name)
        assert written["cache_index_and_filter_blocks"] == "true"
        assert int(written["write_buffer_size"]) <= BUDGET // 8
        assert written["max_write_buffer_number"] == "2"
