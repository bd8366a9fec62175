"""Worker settings: one frozen model, from flags and ``SHOPPULSE_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shoppulse import worker_defaults as defaults
from shoppulse.streams.table_stores import StateStore


class WorkerSettings(BaseSettings):
    """How a stream worker connects, partitions and keeps its state.

    The defaults suit the embedded Tansu broker on one machine; see docs/streaming.md for
    what to change against a real Kafka cluster.
    """

    model_config = SettingsConfigDict(env_prefix="SHOPPULSE_", frozen=True, extra="ignore")

    broker: str = defaults.BROKER
    stores: Path = Path("stores.yaml")
    app_id: str = "shoppulse"
    metrics_host: str = "0.0.0.0"
    metrics_port: int = defaults.METRICS_PORT
    # Topic names and partition counts. The internal topics are created by the worker
    # with these counts; the input topic is created if missing.
    input_topic: str = "storefront.events"
    dead_letter_topic: str = "storefront.events.dlq"
    partitions: int = Field(default=defaults.PARTITIONS, ge=1)
    # State: rocksdb:// in production (fast restarts from local disk), memory:// in tests.
    state_store: StateStore = defaults.STATE_STORE
    data_dir: Path = defaults.DATA_DIR
    # All the memory RocksDB may use for the worker's tables, in bytes: one block cache
    # shared by every table and partition, with the write buffers charged to it
    # (streams/storage.py). Reads beyond it come from the OS page cache.
    rocksdb_memory: int = Field(default=32 << 20, ge=4 << 20)
    # Store chunks (a store's steps of a quarter of an hour) kept decoded between batches;
    # the others are read back from the table when touched (streams/ledger.py). A store
    # touches four or five a quarter of an hour: raise it for a worker of many stores.
    chunk_cache: int = Field(default=512, ge=1)
    standby_replicas: int = 0
    # Tansu holds a JoinGroup for about half the session timeout: 2 s with a 0.5 s
    # heartbeat starts a worker in about 1.5 s here (see docs/streaming.md).
    session_timeout: float = 2.0
    heartbeat_interval: float = 0.5
    # Real Kafka: turn on (transactions, idempotent producer). Tansu has no
    # InitProducerId, so it cannot work there; correctness then comes from idempotent
    # state updates (docs/streaming.md), which hold with or without it.
    exactly_once: bool = defaults.EXACTLY_ONCE
    # How far ahead of the clock an event may be (storefront clocks drift).
    future_tolerance_seconds: int = 300
    # How many messages each stage takes at once, and how long it waits to fill a batch.
    batch_size: int = 500
    batch_within: float = 0.05
    # How often stage three writes the chunks its batches changed (and only then lets
    # their input be committed). Inside the worker its batches are small, seven messages
    # on average, and each wrote every chunk it touched: written every quarter of a
    # second, stage three costs a third fewer instructions an event (docs/streaming.md).
    # 0 writes after every batch.
    totals_flush_interval: float = Field(default=0.25, ge=0)
    # How long the broker may hold a fetch that finds nothing new. Tansu holds it that
    # long even when records arrive meanwhile (Kafka answers at once), so each of the
    # three stages adds up to this much latency when traffic is light: Faust's own 1.5 s
    # made an idle pipeline 1.5 s behind. Lower costs idle fetches (20/s at 0.05 s).
    fetch_wait: float = Field(default=0.05, gt=0)
    # How long the producer holds records to batch them. Tansu's memory storage does
    # work per stored record batch on every request, so it slows down as batches pile
    # up: at Faust's 5 ms a worker under steady load had the broker at a full core within
    # minutes. Stage two sends its own batches at once (app.send_held_batches), so this
    # linger costs no throughput (docs/streaming.md).
    producer_linger: float = Field(default=0.05, ge=0)
    # How often the worker gives malloc's free pages back to the system (runtime.
    # trim_malloc): what a burst of work freed inside the heap is otherwise kept, and RSS
    # stays at the burst's peak (docs/streaming.md). 0 never does.
    malloc_trim_interval: float = Field(default=5.0, ge=0)
