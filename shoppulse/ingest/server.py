"""Assemble the collector from its settings, and run it."""

from __future__ import annotations

import logging

from aiohttp import web

from shoppulse.ingest.app import create_app
from shoppulse.ingest.collector import Collector
from shoppulse.ingest.config import CollectorSettings
from shoppulse.ingest.dedupe import RecentEventIds
from shoppulse.ingest.encoding import SERVER_OPTIONS
from shoppulse.ingest.kafka import EventWriter
from shoppulse.ingest.tokens import load_tokens
from shoppulse.schemas.stores import load_stores
from shoppulse.serving import port_unavailable

log = logging.getLogger(__name__)


def build_app(settings: CollectorSettings) -> web.Application:
    """Read the stores and tokens files and wire the collector; raise on a bad file."""
    stores = load_stores(settings.stores_file).by_id()
    tokens = load_tokens(settings.tokens_file, stores) if settings.tokens_file else None
    if tokens is None:
        log.warning("no tokens file: the collector accepts unauthenticated events for every store")
    writer = EventWriter(
        settings.broker,
        settings.topic,
        idempotence=settings.idempotence,
        timeout=settings.kafka_timeout_seconds,
    )
    collector = Collector(
        stores,
        writer,
        limits=settings.limits,
        recent=RecentEventIds(ttl=settings.dedupe_ttl_seconds, max_size=settings.dedupe_max_ids),
    )
    return create_app(collector, tokens, settings.cors_origins)


def serve(settings: CollectorSettings) -> None:
    """Run until SIGINT/SIGTERM."""
    app = build_app(settings)

    def listening(_: str) -> None:
        # run_app "prints" once every site is bound: the line means it listens.
        log.info(
            "collector on http://%s:%d, writing to %s (idempotence %s)",
            settings.host,
            settings.port,
            settings.broker,
            settings.idempotence,
        )

    try:
        web.run_app(
            app,
            host=settings.host,
            port=settings.port,
            print=listening,
            access_log=None,
            **SERVER_OPTIONS,
        )
    except OSError as exc:
        unavailable = port_unavailable(exc, settings.host, settings.port, "--port")
        if unavailable is None:
            raise
        raise unavailable from exc
