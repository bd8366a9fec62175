"""Fixtures for the ingest tests: one real broker, stores and tokens files, a running collector."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ingest_support import (
    RAW_TOKENS,
    STORES_YAML,
    ServerThread,
    collector_settings,
    create_topic,
    write_tokens_file,
)

from shoppulse.broker import EmbeddedBroker
from shoppulse.ingest.server import build_app


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as running:
        create_topic(running.bootstrap)
        yield running


@pytest.fixture(scope="session")
def ingest_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("ingest")
    stores = folder / "stores.yaml"
    stores.write_text(STORES_YAML, encoding="utf-8")
    return stores, write_tokens_file(folder / "tokens.yaml", RAW_TOKENS)


@pytest.fixture(scope="session")
def collector(broker: EmbeddedBroker, ingest_files: tuple[Path, Path]) -> Iterator[ServerThread]:
    """The collector with tokens, in this process, on a free loopback port."""
    stores, tokens = ingest_files
    server = ServerThread(build_app(collector_settings(stores, tokens, broker.bootstrap))).start()
    yield server
    server.stop()
