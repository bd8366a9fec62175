"""JSON Schemas of the event contract, for producers written in other languages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shoppulse.schemas.events import EVENT_ADAPTER, EVENT_MODELS

SCHEMA_BASE_URI = "https://shoppulse.dev/schemas/v1/"


def event_schemas() -> dict[str, dict[str, Any]]:
    """File name → schema: one per event type, plus ``event.json`` for the union."""
    schemas: dict[str, dict[str, Any]] = {}
    for model in EVENT_MODELS:
        name = model.model_config["title"]
        schema = model.model_json_schema(mode="validation")
        schemas[f"{name}.json"] = _with_header(schema, name)
    schemas["event.json"] = _with_header(EVENT_ADAPTER.json_schema(mode="validation"), "event")
    return schemas


def _with_header(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_BASE_URI}{name}.json",
        **schema,
    }


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schemas(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in sorted(event_schemas().items()):
        path = out_dir / name
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written
