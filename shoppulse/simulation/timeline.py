"""The simulator's future: a heap of events and actions ordered by time.

A journey schedules all its events when it starts (a visit now, an order in eight
minutes, a delivery in three days); the generator pops them in time order. So the
heap holds only what is still to come: the events of journeys under way and the
follow-ups (deliveries, quality checks, ratings, surveys) of recent orders. Its
size depends on the rate and the longest follow-up delay, never on how many events
were generated before.
"""

from __future__ import annotations

import itertools
from typing import Any

Event = dict[str, Any]
Atom = str | int | float | bool | None
# (time in ms, sequence number, store index, action name, *arguments). The sequence
# number keeps entries at the same millisecond in a stable order (and the run
# deterministic). An entry names its action instead of holding a bound method, and
# its arguments are strings and numbers in one flat tuple: the garbage collector
# stops following such a tuple at its first collection. (Bound methods, dicts or
# nested tuples on a heap of a million entries made full collections, and so
# generation at high rates, more than twice as slow.)
Entry = tuple[Any, ...]


class Timeline:
    """The heap and the sequence numbers of its entries.

    Stores push entries themselves (``Storefront.later``), with ``heapq.heappush``
    and ``next(sequence)``: scheduling is the hot path (dropping two method calls
    per entry made generation about 20 % faster).
    """

    __slots__ = ("heap", "sequence")

    def __init__(self) -> None:
        self.heap: list[Entry] = []
        self.sequence = itertools.count()

    def __len__(self) -> int:
        return len(self.heap)
