"""``generate_events``: the simulator's one entry point, an iterator of wire-format events."""

from __future__ import annotations

import heapq
import math
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
    with orjson), its time in the store's time zone; event times never decrease.
    The stores share the rate equally. It is an iterator: events are made as they
    are asked for, so a year-long run costs nothing up front and memory stays
    level (it depends on the rate, not on how many events came before).

    Under ``profile`` every KPI of every store lands in the profile's tiers
    (``profiles.INTENDED_TIERS``) in the 24h and 30d windows once they hold enough
    traffic: from two simulated hours on at 1 event/s or more, and for a 24h
    window from about 0.02 events/s per store (the rarest count, returning
    customers of a failing party-favour store, needs that much).

    The same arguments give the same events; ids differ between seeds and starts.
    Arguments are checked here, before the first event is asked for.
    """
    chosen = parse_profile(profile)
    listed = list(stores.stores if isinstance(stores, Stores) else stores)
    if not listed:
        raise ValueError("no stores to simulate")
    if not (rate > 0 and math.isfinite(rate)):
        raise ValueError(f"rate must be a positive number of events per second, not {rate}")
    if duration < timedelta(0):
        raise ValueError(f"duration must not be negative, not {duration}")
    begin = epoch_millis(start)
    run = Run(rng=random.Random(seed), start=begin, ids=Ids(seed, begin))
    for store in listed:
        _storefront(store, run, rate / len(listed), chosen)
    return _emit(run, begin + round(duration.total_seconds() * SECOND))


def _storefront(store: Store, run: Run, rate: float, profile: Profile) -> Storefront:
    """A simulated store of the store's vertical (it joins ``run.stores``)."""
    if store.vertical is Vertical.SMART_HOME:
        return SmartHomeStore(store, run, rate, SmartHomeBehaviour.for_profile(profile))
    return PartyFavorsStore(store, run, rate, PartyFavorsBehaviour.for_profile(profile))


def _emit(run: Run, end: int) -> Iterator[Event]:
    """Pop the timeline in time order until ``end``; each entry names a store's method."""
    fronts = run.stores
    for front in fronts:
        front.open()
    heap = run.timeline.heap
    pop = heapq.heappop
    while heap and heap[0][0] < end:
        entry = pop(heap)
        millis, front = entry[0], fronts[entry[2]]
        event = getattr(front, entry[3])(millis, *entry[4:])
        if event is None:  # a journey starting: it scheduled its events
            continue
        event["ts"] = front.time_text(millis)
        yield event
