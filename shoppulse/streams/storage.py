"""RocksDB tables under one memory budget per worker process.

Faust opens one RocksDB database per table and partition (3 tables by 8 partitions, 24
databases) and gives each its own block cache and write buffers. Even small ones add up
(24 times 8 MiB of cache and two 4 MiB write buffers: 384 MiB), and they fill as data
arrives, so a worker's memory looked as if it grew with its customers: ``bench/memory.py``
measured 1,356 bytes per customer between 10,000 and 100,000 customers, and 235 between
100,000 and 200,000, once the buffers were full.

Here every database of the process shares one block cache, the memtables of all of them
are charged to that cache by one write buffer manager, and index and filter blocks are
kept in the cache too: RocksDB's memory is about the budget (``rocksdb_memory``, a table
option), whatever the number of partitions or customers. Reads that miss it hit the OS
page cache.

Faust picks a table's store class by the scheme of its store URL: ``store_url`` gives one
that names ``BoundedStore`` (registered in Faust's store registry on import).
"""

from __future__ import annotations

from typing import Any

import faust.stores
import rocksdict
from faust.stores.rocksdb import RocksDBOptions, Store

SCHEME = "rocksdb-bounded"
BUDGET_OPTION = "rocksdb_memory"  # the table option that carries the budget, in bytes
# A memtable's own limit: a database flushes at this size even when the others are idle.
WRITE_BUFFER_BYTES = 4 << 20


def store_url(table: str) -> str:
    """The store URL of a table kept in a ``BoundedStore``.

    With the table's name as its path, the URL Faust itself makes from ``rocksdb://``: a
    URL of a scheme alone is false to yarl, and Faust then silently took the app's store.
    """
    return f"{SCHEME}:{table}"


# The process's shared cache and write buffer manager, by budget (one budget in a worker).
_SHARED: dict[int, tuple[rocksdict.Cache, rocksdict.WriteBufferManager]] = {}


def shared_memory(budget: int) -> tuple[rocksdict.Cache, rocksdict.WriteBufferManager]:
    """The process's block cache of ``budget`` bytes, and a write buffer manager that
    charges memtables to it and flushes when they pass about 90 % of half of it."""
    shared = _SHARED.get(budget)
    if shared is None:
        block_cache = rocksdict.Cache(budget)
        write_buffers = rocksdict.WriteBufferManager.new_write_buffer_manager_with_cache(
            budget // 2, False, block_cache
        )
        shared = _SHARED[budget] = (block_cache, write_buffers)
    return shared


def memory_in_use() -> int:
    """Bytes RocksDB holds now in the process's shared cache, memtables included: it fills
    up to about the budget as tables are read and written, then stays there. 0 before a
    RocksDB table is opened (and with ``memory://`` tables)."""
    return sum(block_cache.get_usage() for block_cache, _ in _SHARED.values())


class BoundedOptions(RocksDBOptions):
    """Faust's RocksDB options (rocksdict), with the process's shared cache and buffers."""

    def as_options(self) -> rocksdict.Options:
        block_cache, write_buffers = shared_memory(int(self.extra_options[BUDGET_OPTION]))
        options = rocksdict.Options(raw_mode=True)
        options.create_if_missing(True)
        options.set_max_open_files(self.max_open_files)
        options.set_write_buffer_size(min(WRITE_BUFFER_BYTES, write_buffers.get_buffer_size() // 4))
        options.set_max_write_buffer_number(2)
        options.set_target_file_size_base(self.target_file_size_base)
        options.set_write_buffer_manager(write_buffers)
        table = rocksdict.BlockBasedOptions()
        table.set_bloom_filter(self.bloom_filter_size, True)
        table.set_block_cache(block_cache)
        table.set_cache_index_and_filter_blocks(True)  # counted in the budget too
        table.set_pin_l0_filter_and_index_blocks_in_cache(True)
        table.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
        options.set_block_based_table_factory(table)
        return options


class BoundedStore(Store):
    """Faust's RocksDB store, opening its databases with ``BoundedOptions``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, driver="rocksdict", **kwargs)
        self.rocksdb_options = BoundedOptions(**self.options, use_rocksdict=True)


faust.stores.STORES.aliases[SCHEME] = f"{__name__}:BoundedStore"
