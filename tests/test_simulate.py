"""The traffic simulator: KPIs in the intended tier through the real engine, the contract
kept, reproducible, in time order, bounded memory, and the bundled sample up to date."""

from __future__ import annotations

import random
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
import yaml

from shoppulse.kpis.catalogue import CATALOGUE
from shoppulse.kpis.windows import Window
from shoppulse.report import run_report
from shoppulse.schemas.stores import Stores, load_stores
from shoppulse.schemas.validation import EventValidator, Rejection
from shoppulse.simulation import INTENDED_TIERS, Profile, generate_events, storefront, target
from shoppulse.simulation.quota import Quota
from shoppulse.simulation.sample import SAMPLE_EVENTS, SAMPLE_STORES, sample_lines
from tests.builders import STORES_YAML

STORES = Stores.model_validate(yaml.safe_load(STORES_YAML))
# More currencies (0 and 3 decimals) and time zones (UTC, half-hour offsets) for the contract.
WORLD = Stores.model_validate(
    {
        "stores": [
            *(store.model_dump() for store in STORES.stores),
            {"id": "tokyo-gadgets", "vertical": "smart_home", "currency": "JPY", "timezone": "Asia/Tokyo"},
            {"id": "souq-favors", "vertical": "party_favors", "currency": "KWD", "timezone": "Asia/Kuwait"},
            {"id": "delhi-decor", "vertical": "party_favors", "currency": "INR", "timezone": "Asia/Kolkata"},
            {"id": "null-island", "vertical": "smart_home", "currency": "USD", "timezone": "UTC"},
        ]
    }
)
WORLD_ZONES = {store.id: ZoneInfo(store.timezone) for store in WORLD.stores}
START = datetime(2026, 5, 1, 9, 17, 23, tzinfo=UTC)  # deliberately not on a whole hour

# (simulated time, events per second for all stores): two hours is the earliest the
# tiers hold; four days move the 24h window off the start; ten days pass the longest
# follow-up (order → late delivery → survey), so nothing is left of the warm start.
SCENARIOS = {
    "2 hours": (timedelta(hours=2), 3.0),
    "4 days": (timedelta(days=4), 0.1),
    "10 days": (timedelta(days=10), 0.05),
}


def events(
    profile: Profile | str, duration: timedelta, rate: float, seed: int = 1
) -> Iterator[dict[str, Any]]:
    return generate_events(STORES, start=START, duration=duration, rate=rate, profile=profile, seed=seed)


@pytest.mark.parametrize("profile", list(Profile))
@pytest.mark.parametrize("kpi", CATALOGUE, ids=lambda kpi: f"{kpi.vertical}-{kpi.id}")
def test_targets_sit_in_their_tiers(kpi: Any, profile: Profile) -> None:
    assert kpi.classify(target(kpi, profile)) in INTENDED_TIERS[profile]


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("profile", list(Profile))
def test_every_kpi_lands_in_the_profile_tier(profile: Profile, scenario: str) -> None:
    duration, rate = SCENARIOS[scenario]
    lines = [orjson.dumps(event) for event in events(profile, duration, rate)]
    for window in (Window.H24, Window.D30):
        result = run_report(iter(lines), STORES, window=window, at=START + duration)
        assert not result.rejected
        missed = {
            f"{value.store_id}/{value.kpi.id}": (value.value, value.tier)
            for value in result.kpis
            if value.tier not in INTENDED_TIERS[profile]
        }
        assert not missed, f"{window.label}: {missed}"
        assert len(result.kpis) == 14


@pytest.mark.parametrize("profile", list(Profile))
def test_every_event_keeps_the_contract(profile: Profile) -> None:
    validator = EventValidator(WORLD.by_id())
    ids: set[str] = set()
    previous = START
    end = START + timedelta(hours=12)
    stream = generate_events(WORLD, start=START, duration=end - START, rate=0.5, profile=profile, seed=2)
    for event in stream:
        checked = validator.validate_json(orjson.dumps(event))
        assert not isinstance(checked, Rejection), (checked, event)
        assert event["event_id"] not in ids
        ids.add(event["event_id"])
        assert checked.ts >= previous  # non-decreasing event time
        previous = checked.ts
        assert checked.ts.utcoffset() == WORLD_ZONES[event["store_id"]].utcoffset(checked.ts)
    assert previous < end
    assert len(ids) > 15_000


def test_same_seed_same_events_other_seed_other_events() -> None:
    def run(seed: int) -> list[dict[str, Any]]:
        return list(events(Profile.TYPICAL, timedelta(hours=2), 2.0, seed))

    first = run(7)
    assert first == run(7)
    assert first != run(8)
    assert {e["event_id"] for e in first}.isdisjoint(e["event_id"] for e in run(8))


def test_rate_is_about_the_requested_one() -> None:
    for profile in Profile:
        count = sum(1 for _ in events(profile, timedelta(days=1), 0.2))
        assert count == pytest.approx(86_400 * 0.2, rel=0.1)


def test_incremental_from_any_aware_start() -> None:
    start = datetime(2031, 2, 3, 4, 5, 6, 789_000, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    stream = generate_events(
        STORES, start=start, duration=timedelta(days=365), rate=10.0, profile="failing", seed=3
    )
    first = list(islice(stream, 1000))  # a year-long run starts at once: nothing is made up front
    times = [datetime.fromisoformat(event["ts"]) for event in first]
    assert start <= times[0] <= times[-1] < start + timedelta(minutes=10)
    assert {event["store_id"] for event in first} == set(STORES.by_id())
    assert next(stream)["ts"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"start": datetime(2026, 5, 1)}, "timezone-aware"),
        ({"rate": 0}, "rate"),
        ({"duration": timedelta(seconds=-1)}, "duration"),
        ({"profile": "splendid"}, "unknown profile"),
        ({"stores": []}, "no stores"),
    ],
)
def test_bad_arguments_are_refused_at_the_call(change: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {
        "stores": STORES,
        "start": START,
        "duration": timedelta(hours=1),
        "rate": 1.0,
        "profile": "typical",
        "seed": 1,
    }
    arguments.update(change)
    with pytest.raises(ValueError, match=message):
        generate_events(arguments.pop("stores"), **arguments)


def test_memory_stops_growing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the longest follow-up (about 9 days) and with the returning-customer pool
    full, the peak of traced memory stays level while events keep coming."""
    monkeypatch.setattr(storefront, "POOL_SIZE", 100)  # a smaller pool fills sooner; the bound is its size
    stream = events(Profile.TYPICAL, timedelta(days=3650), 0.02)  # 20,000 events: 11.6 days
    peaks = []
    tracemalloc.start()
    try:
        for count, _ in enumerate(stream, start=1):
            if count % 20_000 == 0:
                peaks.append(tracemalloc.get_traced_memory()[1])
                tracemalloc.reset_peak()
                if len(peaks) == 3:
                    break
    finally:
        tracemalloc.stop()
    assert peaks[2] < peaks[1] * 1.1, [peak // 1024 for peak in peaks]


@pytest.mark.parametrize("rate", [0.3, 0.5, 0.97])
def test_quota_keeps_within_one_of_its_rate(rate: float) -> None:
    quota = Quota(rate, random.Random(5))
    hits = 0
    for decision in range(1, 5001):
        hits += quota.yes()
        assert abs(hits - rate * decision) <= 1
    counted = sum(quota.count(40) for _ in range(500))
    assert abs(counted - rate * 40 * 500) <= 2


def test_bundled_sample_is_current_and_shows_every_kpi() -> None:
    assert SAMPLE_EVENTS.read_bytes() == b"".join(sample_lines()), "run scripts/make-sample.py"
    stores = load_stores(SAMPLE_STORES)
    with SAMPLE_EVENTS.open("rb") as lines:
        result = run_report(lines, stores)
    assert not result.rejected
    assert {k.vertical for k in result.kpis} == {k.vertical for k in CATALOGUE}
    assert all(k.value is not None for k in result.kpis)
    assert all(k.tier in INTENDED_TIERS[Profile.TYPICAL] for k in result.kpis)
