"""``generate_events``: the simulator's one entry point, an iterator of wire-format events."""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from shoppulse.schemas.stores import Store, Stores, Vertical
from shoppulse.simulation.behaviour import PartyFavorsBehaviour, SmartHomeBehaviour
from shoppulse.simulation.party_favors import PartyFavorsStore
from shoppulse.simulation.profiles import Profile, parse_profile
from shoppulse.simulation.smart_home import SmartHomeStore
from shoppulse.simulation.storefront import Run, Storefront
from shoppulse.simulation.timeline import Event
from shoppulse.simulation.wire import SECOND, Ids, epoch_millis


def generate_events(
    stores: Stores | Iterable[Store],
    *,
    start: datetime,
    duration: timedelta,
    rate: float,
    profile: str | Profile,
    seed: int,
) -> Iterator[Event]:
    """Events of every store from ``start`` for ``duration``, about ``rate`` a second.

    Each event is a dict in the wire format of ``shared/EVENTS.md`` (serialise it
    with orjson); event times never decrease. The rate is shared equally by the
    stores. Under ``profile`` every KPI of every store lands in the profile's tiers
    (``profiles.INTENDED_TIERS``) once the windows hold enough traffic. The same
    arguments give the same events. Arguments are checked here, before the first
    event is asked for.
    """
    chosen = parse_profile(profile)
    listed = list(stores.stores if isinstance(stores, Stores) else stores)
    if not listed:
        raise ValueError("no stores to simulate")
    if not rate > 0:
        raise ValueError(f"rate must be > 0 events per second, not {rate}")
    if duration < timedelta(0):
        raise ValueError(f"duration must not be negative, not {duration}")
    begin = epoch_millis(start)
    run = Run(rng=random.Random(seed), start=begin, ids=Ids(seed, begin))
    fronts = [_storefront(store, run, rate / len(listed), chosen) for store in listed]
    return _emit(run, fronts, begin + round(duration.total_seconds() * SECOND))


def _storefront(store: Store, run: Run, rate: float, profile: Profile) -> Storefront:
    if store.vertical is Vertical.SMART_HOME:
        return SmartHomeStore(store, run, rate, SmartHomeBehaviour.for_profile(profile))
    return PartyFavorsStore(store, run, rate, PartyFavorsBehaviour.for_profile(profile))


def _emit(run: Run, fronts: list[Storefront], end: int) -> Iterator[Event]:
    for front in fronts:
        front.open()
    time_text = {front.id: front.time_text for front in fronts}
    heap = run.timeline.heap
    pop = heapq.heappop
    while heap and heap[0][0] < end:
        entry = pop(heap)
        millis = entry[0]
        event = getattr(fronts[entry[2]], entry[3])(millis, *entry[4:])
        if event is None:  # a journey starting: it scheduled its events
            continue
        event["ts"] = time_text[event["store_id"]](millis)
        yield event
