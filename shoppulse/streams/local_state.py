"""Local tables that the broker's changelogs no longer back, found before Faust starts.

With ``--state rocksdb://`` a worker keeps its tables in ``--data-dir``. At start Faust
reads each table's changelog only past the offset it stored with the table, trusting
the rest to be on disk already. The embedded broker keeps nothing across a restart, so
after one the changelogs are new and empty while the local tables still hold the old
state. Faust then stopped with a ConsistencyError traceback where it had stored an
offset (one past the new changelog's end), and where it had not, the worker exported
the old figures as if the broker still held them, and a worker that took over those
partitions later would not have them.

``check_local_state`` refuses both in one line that says what to do. It only reads:
the tables are the user's, and removing them is the user's call.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import rocksdict
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from faust.stores.rocksdb import Store

from shoppulse.exceptions import ShopPulseError
from shoppulse.kafka_client import start_client
from shoppulse.streams.app import StreamApp
from shoppulse.streams.offsets import end_offsets


class LocalStateMismatch(ShopPulseError):
    """The worker's local tables hold state that the broker's changelogs do not."""

    def __init__(self, data_dir: Path, bootstrap: str, finding: str) -> None:
        super().__init__(
            f"the tables in {data_dir} hold state the broker at {bootstrap} has no changelog of"
            f" ({finding}), as after a restart of the embedded broker, which keeps nothing:"
            f" remove {data_dir} to start from empty tables, or run the worker with --state memory://"
            " against the embedded broker"
        )
        self.data_dir = data_dir
        self.finding = finding


@dataclass(frozen=True)
class LocalTable:
    """One partition of a table, as a RocksDB database on disk."""

    changelog: TopicPartition
    path: Path
    holds_data: bool
    # The changelog offset Faust stored with the table: it reads the changelog past it.
    read_to: int | None


def local_tables(stream_app: StreamApp) -> list[LocalTable]:
    """The databases on disk of the worker's tables (none with ``memory://``)."""
    if stream_app.settings.state_store != "rocksdb://":
        return []
    found = []
    for table in (stream_app.entities, stream_app.seen, stream_app.chunks):
        for partition in range(stream_app.settings.partitions):
            path = table.data.partition_path(partition)  # Faust's own layout of its files
            if path.exists():
                holds_data, read_to = _read(path)
                found.append(
                    LocalTable(
                        TopicPartition(table.changelog_topic_name, partition), path, holds_data, read_to
                    )
                )
    return found


def _read(path: Path) -> tuple[bool, int | None]:
    """Whether a table's database holds anything, and the offset Faust stored in it."""
    db = rocksdict.Rdict(
        str(path), options=rocksdict.Options(raw_mode=True), access_type=rocksdict.AccessType.read_only()
    )
    try:
        holds_data = next(iter(db.keys()), None) is not None
        offset = db.get(Store.offset_key)
        return holds_data, int(offset) if offset is not None else None
    finally:
        db.close()


async def check_local_state(stream_app: StreamApp) -> None:
    """Raise LocalStateMismatch when a local table holds data the broker's changelog does
    not: the changelog topic is missing, empty, or ends before the offset the table was
    read to (Faust's own consistency check, made before Faust starts)."""
    settings = stream_app.settings
    held = [table for table in local_tables(stream_app) if table.holds_data]
    if not held:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.broker)
    await start_client(admin, settings.broker)
    try:
        topics = set(await admin.list_topics())
    finally:
        await admin.close()
    for table in held:
        if table.changelog.topic not in topics:
            raise LocalStateMismatch(settings.data_dir, settings.broker, f"no topic {table.changelog.topic}")
    ends = await end_offsets(settings.broker, [table.changelog for table in held])
    for table in sorted(held, key=lambda table: table.changelog):
        end = ends.get(table.changelog)
        finding = unbacked(table, end) if end is not None else None
        if finding is not None:
            raise LocalStateMismatch(settings.data_dir, settings.broker, finding)


def unbacked(table: LocalTable, end: int) -> str | None:
    """Why the changelog, ending at offset ``end``, cannot hold what ``table`` holds (None:
    it can): it ends before the offset Faust read it to, or, where Faust stored none, it is
    empty (made again by another worker) while the table holds data."""
    changelog, offset = table.changelog, table.read_to
    name = f"{changelog.topic}[{changelog.partition}]"
    if offset is not None and offset >= end:
        return f"{name} ends at offset {end}, the table was read to {offset}"
    if offset is None and end == 0 and table.holds_data:
        return f"{name} is empty, and the table holds data"
    return None
