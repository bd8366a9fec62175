"""What every simulated store shares: pacing, scheduling, returning customers, the backlog.

A store's traffic is a sequence of journeys, one visit each. A journey schedules all
its events at once on the shared timeline; the next journey starts after a random
gap whose mean is (events just scheduled) / (the store's rate), so the store emits
its share of the rate on average whatever its journey mix.

Scheduled events wait as flat tuples of strings and numbers (see ``timeline``) and
become wire dicts only when emitted, in the store's methods named by the entries.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from heapq import heappush
from typing import TypeVar
from zoneinfo import ZoneInfo

from shoppulse.schemas.stores import Store
from shoppulse.simulation.baskets import ITEM_FIELDS, Basket, item_dict
from shoppulse.simulation.behaviour import Journey
from shoppulse.simulation.quota import Mix
from shoppulse.simulation.timeline import Atom, Event, Timeline
from shoppulse.simulation.wire import MINUTE, SECOND, Ids, TimeText, money_text

POOL_SIZE = 2000  # loyal customers remembered per store (a random one is forgotten when full)
NEXT_ORDER = (30 * SECOND, 5 * MINUTE)  # a loyal customer's next order in the same visit

T = TypeVar("T")


@dataclass(slots=True)
class Run:
    """What the stores of one simulation share."""

    rng: random.Random
    start: int  # ms since the epoch
    ids: Ids
    timeline: Timeline = field(default_factory=Timeline)
    stores: list[Storefront] = field(default_factory=list)


class Storefront:
    def __init__(self, store: Store, run: Run, rate: float, journeys: dict[Journey, float]) -> None:
        if rate <= 0:
            raise ValueError(f"store {store.id}: the event rate must be > 0")
        self.index = len(run.stores)  # how timeline entries name this store
        run.stores.append(self)
        self._heap = run.timeline.heap
        self._sequence = run.timeline.sequence
        self.id = store.id
        self.currency = store.currency
        self.run = run
        self.rng = run.rng
        self.rate = rate  # events per second for this store
        self.zone = ZoneInfo(store.timezone)
        self.time_text = TimeText(store.timezone)
        self.promise_text = TimeText(store.timezone)  # its own cache: promises lie days ahead
        self.basket = Basket(run.rng, money_text(store.minor_unit_exponent), 10**store.minor_unit_exponent)
        self.loyal_customers: list[tuple[str, bool]] = []  # (customer_id, mixes categories)
        self.backlogged = 0  # backlog follow-ups scheduled (not part of the pacing)
        self._journeys = Mix(journeys, run.rng)

    # --- pacing --------------------------------------------------------------------

    def open(self) -> None:
        """Schedule the first journey."""
        self.later(self.run.start + self._gap(1), "next_journey")

    def next_journey(self, now: int) -> None:
        """Start a journey (it schedules its events) and schedule the next one."""
        before = next(self._sequence) - self.backlogged
        self.journey(self._journeys.pick(), now)
        events = next(self._sequence) - self.backlogged - before - 1  # entries scheduled in between
        self.later(now + self._gap(max(events, 1)), "next_journey")

    def _gap(self, events: int) -> int:
        return int(self.rng.expovariate(self.rate / events) * SECOND)

    def journey(self, kind: Journey, now: int) -> None:
        raise NotImplementedError

    # --- scheduling and emitting -----------------------------------------------------

    def later(self, now: int, action: str, *args: Atom) -> None:
        """Call this store's method ``action(now, *args)`` at ``now``; emit what it returns."""
        heappush(self._heap, (now, next(self._sequence), self.index, action, *args))

    def emit(self, now: int, kind: str, customer: str | None, visit: str | None, *fields: Atom) -> None:
        """Schedule an event of type ``kind``; ``fields`` alternate names and values."""
        heappush(self._heap, (now, next(self._sequence), self.index, "event", kind, customer, visit, *fields))

    def event(self, now: int, kind: str, customer: str | None, visit: str | None, *fields: Atom) -> Event:
        event = self.envelope(kind, customer, visit)
        for index in range(0, len(fields), 2):
            event[fields[index]] = fields[index + 1]  # type: ignore[index]
        return event

    def envelope(self, kind: str, customer: str | None, visit: str | None) -> Event:
        event: Event = {"event_id": self.run.ids("e"), "type": kind, "store_id": self.id, "ts": None}
        if customer is not None:
            event["customer_id"] = customer
        if visit is not None:
            event["visit_id"] = visit
        return event

    def visit(self, now: int, customer: str | None) -> str:
        visit = self.run.ids("v")
        self.emit(now, "visit", customer, visit)
        return visit

    def order(
        self,
        now: int,
        customer: str | None,
        visit: str | None,
        items: tuple[Atom, ...],
        discount: str | None,
        promised: int | None = None,
    ) -> str:
        """Schedule an order (``items`` flat, as from ``Basket.priced``); return its order_id."""
        order = self.run.ids("o")
        self.later(now, "order_event", order, customer, visit, discount, promised, *items)
        return order

    def order_event(
        self,
        now: int,
        order: str,
        customer: str | None,
        visit: str | None,
        discount: str | None,
        promised: int | None,
        *items: Atom,
    ) -> Event:
        event = self.envelope("order", customer, visit)
        event["order_id"] = order
        event["currency"] = self.currency
        event["items"] = [item_dict(*items[i : i + ITEM_FIELDS]) for i in range(0, len(items), ITEM_FIELDS)]  # type: ignore[arg-type]
        if discount is not None:
            event["discount"] = discount
        if promised is not None:
            event["promised_delivery_at"] = self.promise_text(promised)
        return event

    # --- helpers for journeys ------------------------------------------------------

    def between(self, low: int, high: int) -> int:
        """A uniformly random duration in ms."""
        return low + int(self.rng.random() * (high - low))

    def pick(self, choices: Sequence[T]) -> T:
        """One of ``choices`` at random (cheaper than ``Random.choice``)."""
        return choices[int(self.rng.random() * len(choices))]

    def pick_distinct(self, choices: Sequence[T], count: int) -> list[T]:
        """``count`` different ones of ``choices`` (few of many: redraws are rare)."""
        chosen: list[T] = []
        while len(chosen) < count:
            choice = self.pick(choices)
            if choice not in chosen:
                chosen.append(choice)
        return chosen

    def remember(self, customer: str, mixes: bool) -> None:
        """Keep a loyal customer for a later returning journey (memory: POOL_SIZE)."""
        pool = self.loyal_customers
        if len(pool) < POOL_SIZE:
            pool.append((customer, mixes))
        else:
            pool[int(self.rng.random() * POOL_SIZE)] = (customer, mixes)

    def returning_customer(self) -> tuple[str, bool] | None:
        return self.pick(self.loyal_customers) if self.loyal_customers else None

    def known_customer(self, share: float) -> str | None:
        """A signed-in browser: a remembered customer, ``share`` of the time."""
        if self.loyal_customers and self.rng.random() < share:
            return self.pick(self.loyal_customers)[0]
        return None

    # --- the backlog ---------------------------------------------------------------

    def backlog(self, now: int, delay: tuple[int, int]) -> float:
        """Share of the follow-ups due at ``now`` that belong to orders from before the run.

        The store was open before the simulated stretch began. For a follow-up that
        comes ``delay`` (uniform) after its order, the share due at ``start + s``
        whose order is older than the start is P(delay > s). Journeys add, for each
        order, one follow-up of an earlier order with this probability; so KPIs fed
        by follow-ups (deliveries, checks, ratings) have values from the first
        minutes and their volume stays level.
        """
        elapsed = now - self.run.start
        low, high = delay
        if elapsed <= low:
            return 1.0
        if elapsed >= high:
            return 0.0
        return (high - elapsed) / (high - low)

    def from_backlog(self, now: int, action: str, *args: Atom) -> None:
        """Schedule a follow-up of an order from before the run (see ``backlog``).

        It does not count towards the journey's events when pacing: in the long run
        the follow-ups of the run's own orders take its place.
        """
        self.backlogged += 1
        self.later(now, action, *args)


def rating(satisfied: bool, draw: float) -> int:
    """A 1-5 rating from a uniform ``draw``: 4 or 5 when satisfied, else 1 to 3 (mostly 3)."""
    if satisfied:
        return 5 if draw < 0.6 else 4
    return 3 if draw < 0.5 else 2 if draw < 0.8 else 1
