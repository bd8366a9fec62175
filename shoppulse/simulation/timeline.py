"""The simulator's future: a heap of events and actions ordered by time.

A journey schedules all its events when it starts (a visit now, an order in eight
minutes, a delivery in three days); the generator pops them in time order. So the
heap holds only what is still to come: the events of journeys under way and the
follow-ups (deliveries, quality checks, ratings, surveys) of recent orders. Its
size depends on the rate and the longest follow-up delay, never on how many events
were generated before.
"""

from __future__ import annotations

import heapq
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
Entry = tuple[Atom, ...]


class Timeline:
    __slots__ = ("heap", "pushed")

    def __init__(self) -> None:
        self.heap: list[Entry] = []
        self.pushed = 0  # entries pushed so far; also their sequence numbers

    def call(self, millis: int, store: int, action: str, args: tuple[Atom, ...]) -> None:
        """At ``millis``, call store number ``store``'s method ``action(millis, *args)``;
        emit the event it returns, if any."""
        self.pushed += 1
        heapq.heappush(self.heap, (millis, self.pushed, store, action, *args))

    def __len__(self) -> int:
        return len(self.heap)
