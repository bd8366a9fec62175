"""Run a stream worker: topics, the Faust app, and /metrics in the same event loop.

/metrics is served by aiohttp inside Faust's own loop, so a scrape reads the KPI state
between two messages, never while an agent is changing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import faust
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shoppulse.config import WorkerSettings
from shoppulse.export.collector import KpiCollector
from shoppulse.kafka_client import start_client
from shoppulse.runtime import trim_malloc, tune_gc
from shoppulse.schemas.stores import load_stores
from shoppulse.serving import check_can_listen
from shoppulse.streams.app import StreamApp, keyed_topic, route_group, steps_topic
from shoppulse.streams.local_state import check_local_state
from shoppulse.streams.metrics import WorkerMetrics
from shoppulse.streams.offsets import end_offsets
from shoppulse.streams.storage import memory_in_use

log = logging.getLogger(__name__)

# Set explicitly: Tansu reports no default configs, and some clients need these.
TOPIC_CONFIGS = {"retention.ms": "-1", "retention.bytes": "-1"}


async def ensure_topics(bootstrap: str, topics: dict[str, int]) -> None:
    """Create the topics with the partition counts we mean (auto-creation picks its own).

    The worker's first contact with the broker: one that does not answer is a
    BrokerUnreachable here, before Faust starts.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await start_client(admin, bootstrap)
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, num_partitions=count, replication_factor=1, topic_configs=TOPIC_CONFIGS)
            for name, count in topics.items()
            if name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker was first
                await admin.create_topics(missing)
    finally:
        await admin.close()


async def caught_up(bootstrap: str, group: str, topics: list[str]) -> bool:
    """True when ``group`` has committed every message of ``topics`` (judged by the broker).

    A worker cannot judge this itself: it knows no lag for a partition whose end it has
    not fetched yet. Tests, benchmarks and the demo ask the broker instead.
    """
    return await uncommitted(bootstrap, group, topics) == []


async def uncommitted(
    bootstrap: str, group: str, topics: list[str]
) -> list[tuple[TopicPartition, int, int]] | None:
    """(partition, committed offset, end) of each partition of ``topics`` that ``group``
    has not committed to its end; None while a topic, or a partition's end, is unknown."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        if len({partition.topic for partition in partitions}) < len(topics):
            return None
        ends = await end_offsets(bootstrap, partitions)
        if any(partition not in ends for partition in partitions):
            return None
        behind = []
        for partition in sorted(partitions):
            committed = await consumer.committed(partition) or 0
            if committed < ends[partition]:
                behind.append((partition, committed, ends[partition]))
        return behind
    finally:
        await consumer.stop()


def consumer_groups(app_id: str, input_topic: str = "storefront.events") -> dict[str, list[str]]:
    """The worker's consumer groups and the topics each reads: stage one the input, the
    Faust app its two internal topics."""
    return {route_group(app_id): [input_topic], app_id: [keyed_topic(app_id), steps_topic(app_id)]}


async def worker_caught_up(bootstrap: str, app_id: str, input_topic: str = "storefront.events") -> bool:
    """True when every stage of the workers ``app_id`` has committed everything."""
    for group, topics in consumer_groups(app_id, input_topic).items():
        if not await caught_up(bootstrap, group, topics):
            return False
    return True


def worker_command(
    stores: Path,
    bootstrap: str,
    metrics_port: int,
    data_dir: Path,
    partitions: int = 4,
    state: str = "memory://",
) -> list[str]:
    """The command line of a worker process (the demo, tests and benchmarks start one)."""
    return [
        sys.executable, "-m", "shoppulse", "worker", "--stores", str(stores), "--broker", bootstrap,
        "--metrics-port", str(metrics_port), "--partitions", str(partitions), "--state", state,
        "--data-dir", str(data_dir),
    ]  # fmt: skip


def topic_plan(settings: WorkerSettings) -> dict[str, int]:
    partitions = settings.partitions
    return {
        settings.input_topic: partitions,
        settings.dead_letter_topic: 1,
        keyed_topic(settings.app_id): partitions,
        steps_topic(settings.app_id): partitions,
    }


def build(settings: WorkerSettings) -> StreamApp:
    stores = load_stores(settings.stores).by_id()
    metrics = WorkerMetrics()
    stream_app = StreamApp(settings, stores, metrics)
    metrics.registry.register(KpiCollector(stores, stream_app.owned, stream_app.data_since))
    internal = set(consumer_groups(settings.app_id, settings.input_topic)[settings.app_id])
    metrics.watch_lag(lambda: itertools.chain(stream_app.route_lag(), _lag(stream_app.app, internal)))
    metrics.watch_memory(lambda: len(stream_app.joins.seen), memory_in_use)
    app = stream_app.app

    @app.task
    async def serve_metrics() -> None:
        web_app = web.Application()

        async def scrape(_: web.Request) -> web.Response:
            body = generate_latest(metrics.registry)
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

        async def health(_: web.Request) -> web.Response:
            if stream_app.route_error is not None:
                error = f"stage one stopped: {type(stream_app.route_error).__name__}"
                return web.json_response({"status": "failing", "error": error}, status=503)
            return web.json_response({"status": "ok", "owned_stores": sorted(stream_app.owned_stores)})

        async def hide_server_version(_: web.Request, response: web.StreamResponse) -> None:
            response.headers["Server"] = "shoppulse-worker"  # not the Python and aiohttp versions

        web_app.on_response_prepare.append(hide_server_version)
        web_app.router.add_get("/metrics", scrape)
        web_app.router.add_get("/healthz", health)
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, settings.metrics_host, settings.metrics_port).start()
        log.info("metrics on http://%s:%d/metrics", settings.metrics_host, settings.metrics_port)

    if settings.malloc_trim_interval:

        @app.timer(settings.malloc_trim_interval)
        async def give_back_free_memory() -> None:
            trim_malloc()

    return stream_app


def _lag(app: faust.App, topics: set[str]) -> Iterator[tuple[str, int, int]]:
    """Messages behind, for the partitions the agents read (changelogs are only written)."""
    consumer = app.consumer
    for tp in sorted(tp for tp in consumer.assignment() if tp.topic in topics):
        read = consumer._read_offset.get(tp)  # Faust keeps no public read position
        try:
            end = consumer.highwater(tp)
        except Exception:  # no highwater before the first fetch
            continue
        if end is None:
            continue
        yield tp.topic, tp.partition, max(end - (read + 1 if read is not None else 0), 0)


def run_worker(settings: WorkerSettings, loglevel: str = "warning") -> None:
    """Start a worker and block until it is stopped (SIGINT/SIGTERM)."""
    asyncio.run(check_can_listen(settings.metrics_host, settings.metrics_port, "--metrics-port"))
    asyncio.run(ensure_topics(settings.broker, topic_plan(settings)))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    stream_app = build(settings)
    # In the app's own loop: the check opens the tables' stores, Faust services bound to
    # the loop they first run in (asyncio.run's, closed at its end, broke the worker).
    stream_app.app.loop.run_until_complete(check_local_state(stream_app))
    tune_gc()
    worker = faust.Worker(stream_app.app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    worker.spinner = None
    worker.execute_from_commandline()
