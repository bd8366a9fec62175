from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.builders import STORES_YAML, Event, write_jsonl


@pytest.fixture
def stores_file(tmp_path: Path) -> Path:
    path = tmp_path / "stores.yaml"
    path.write_text(STORES_YAML)
    return path


@pytest.fixture
def report(tmp_path: Path, stores_file: Path):
    """Run `shoppulse report --json` as a subprocess on a list of events."""

    def run(events: list[Event], *args: str) -> dict[str, Any]:
        events_file = write_jsonl(tmp_path / "events.jsonl", events)
        command = [
            sys.executable,
            "-m",
            "shoppulse",
            "report",
            str(events_file),
            "--stores",
            str(stores_file),
            "--json",
            *args,
        ]
        done = subprocess.run(command, capture_output=True, check=False)
        assert done.returncode == 0, done.stderr.decode()
        return orjson.loads(done.stdout)

    return run


def kpi(result: dict[str, Any], store: str, kpi_id: str) -> dict[str, Any]:
    (found,) = [k for k in result["kpis"] if k["store_id"] == store and k["kpi"] == kpi_id]
    return found
