"""The bundled sample: a few days of ``typical`` traffic for the sample stores.

``scripts/make-sample.py`` writes it; a test checks that the committed file is what
the simulator makes today (regenerate and commit both when the simulator changes).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from shoppulse.schemas.stores import Stores, load_stores
from shoppulse.simulation.generator import generate_events
from shoppulse.simulation.profiles import Profile

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SAMPLE_STORES = SAMPLES / "stores.yaml"
SAMPLE_EVENTS = SAMPLES / "events.jsonl"
START = datetime(2026, 5, 1, tzinfo=UTC)
DURATION = timedelta(days=3)
RATE = 0.015  # events per second: about 3,900 events in three days
SEED = 2026


def sample_lines(stores: Stores | None = None) -> Iterator[bytes]:
    """The sample's JSON lines (each ending with a newline)."""
    events = generate_events(
        stores or load_stores(SAMPLE_STORES),
        start=START,
        duration=DURATION,
        rate=RATE,
        profile=Profile.TYPICAL,
        seed=SEED,
    )
    for event in events:
        yield orjson.dumps(event) + b"\n"
