"""What the way from a storefront to Kafka does to its events: some are sent twice, some late.

A storefront's producer retries a send whose answer it lost, with the same event id; a
phone that was offline sends what it buffered when it is back. The pipeline must drop
the copy and count the late event in every window that still holds its time
(``docs/kpis.md``). ``deliveries`` adds both to generated events: it yields each event
at the moment it is sent, the copies and late ones included, so the KPIs of the traffic
stay those of the events, and the dedupe and out-of-order paths are exercised.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

Event = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Network:
    retried: float = 0.0
    """Share of events sent a second time, ``retry_after`` later (the same event id)."""
    delayed: float = 0.0
    """Share of events sent late, up to ``max_delay`` after their time."""
    retry_after: timedelta = timedelta(seconds=5)
    max_delay: timedelta = timedelta(minutes=20)


PERFECT = Network()
REALISTIC = Network(retried=0.005, delayed=0.01)
"""What ``shoppulse simulate`` and the demo send: half a percent retried, one percent late."""


def deliveries(events: Iterable[Event], network: Network, seed: int) -> Iterator[tuple[datetime, Event]]:
    """(moment sent, event) for ``events`` (in time order), in the order they are sent.

    An event is sent at its time, or later if delayed; a retried one once more after
    that. Sends are held until no event still to come can be sent before them: events
    come in time order, and none is sent before its time.
    """
    rng = random.Random(seed)
    waiting: list[tuple[datetime, int, Event]] = []  # (moment sent, order of arrival, event)
    arrivals = 0
    for event in events:
        at = datetime.fromisoformat(event["ts"])
        while waiting and waiting[0][0] <= at:
            sent_at, _, ready = heapq.heappop(waiting)
            yield sent_at, ready
        sent_at = at + rng.uniform(0, 1) * network.max_delay if rng.random() < network.delayed else at
        heapq.heappush(waiting, (sent_at, arrivals, event))
        arrivals += 1
        if rng.random() < network.retried:
            heapq.heappush(waiting, (sent_at + network.retry_after, arrivals, event))
            arrivals += 1
    while waiting:
        sent_at, _, ready = heapq.heappop(waiting)
        yield sent_at, ready
