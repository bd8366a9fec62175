"""The JSON Schemas under schemas/json/ are generated: they must match the models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from shoppulse.schemas.events import EVENT_TYPES
from shoppulse.schemas.jsonschema import event_schemas, render

REPO = Path(__file__).resolve().parents[2]
PUBLISHED = REPO / "schemas" / "json"


def test_committed_schemas_are_current() -> None:
    expected = {name: render(schema) for name, schema in event_schemas().items()}
    found = {path.name: path.read_text(encoding="utf-8") for path in PUBLISHED.glob("*.json")}
    stale = sorted(name for name in expected.keys() | found.keys() if expected.get(name) != found.get(name))
    assert not stale, f"regenerate with `shoppulse schema export schemas/json`: {stale}"


def test_export_command_writes_one_schema_per_type_and_the_union(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "shoppulse", "schema", "export", str(tmp_path)], check=True)
    assert sorted(p.stem for p in tmp_path.glob("*.json")) == sorted([*EVENT_TYPES, "event"])
    union = orjson.loads((tmp_path / "event.json").read_bytes())
    assert set(union["discriminator"]["mapping"]) == set(EVENT_TYPES)


@pytest.mark.parametrize("kind", EVENT_TYPES)
def test_each_schema_is_strict(kind: str) -> None:
    schema = event_schemas()[f"{kind}.json"]
    assert schema["additionalProperties"] is False
    assert {"event_id", "type", "store_id", "ts"} <= set(schema["required"])
