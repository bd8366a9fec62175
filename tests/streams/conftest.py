from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shoppulse.broker import EmbeddedBroker
from tests.streams.traffic import STORES_YAML


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A fresh in-memory broker per test: no state leaks between tests."""
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as embedded:
        yield embedded


@pytest.fixture
def stores_file(tmp_path: Path) -> Path:
    path = tmp_path / "stores.yaml"
    path.write_text(STORES_YAML)
    return path
