from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shoppulse.broker import EmbeddedBroker


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A fresh in-memory broker per test: no state leaks between tests."""
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as embedded:
        yield embedded
