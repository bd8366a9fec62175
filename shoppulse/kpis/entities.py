"""Per-entity state for the KPIs that join events: orders, customers, visits.

Each entity keeps only the facts its KPIs need (times in seconds, a few flags) and
turns them into steps with ``steps(ctx)``. The engine, and later each stream worker
that owns the entity's key, calls ``steps`` before and after an update and sends the
difference on (see ``contributions``).

Memory: an entity holds facts younger than the longest window plus the lateness
allowance (``prune``); nothing here grows with the number of other customers, so an
update costs the same whether a store has ten customers or ten million.

Duplicate orders: the same ``order_id`` seen twice (under different event ids) is
one order. The version kept is the one with the smallest ``(ts, event_id)``, a rule
that gives the same answer in whatever order the versions arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from shoppulse.kpis.contributions import (
    DEN,
    NUM,
    WINDOW_MINUTES,
    Steps,
    add_point,
    add_spans,
    conversion_spans,
    difference,
    presence_spans,
    repeat_spans,
)
from shoppulse.kpis.facts import CROSS_SELL, DEVICE, INSTALLATION, PERSONALISED
from shoppulse.kpis.messages import (
    Consulted,
    Delivered,
    Forward,
    Kind,
    Message,
    OrderFact,
    OrderInVisit,
    PlacedOrder,
    UsedTool,
)
from shoppulse.schemas.stores import Vertical


@dataclass(frozen=True, slots=True)
class Context:
    """What an entity needs to know about its store and the engine's settings."""

    vertical: Vertical
    attribution_seconds: int


def _add_time(times: list[int], ts: int) -> bool:
    """Add a time once (a replayed message must not add it twice)."""
    if ts in times:
        return False
    times.append(ts)
    return True


def _keep_first(known: tuple | None, candidate: tuple) -> bool:  # type: ignore[type-arg]
    """True when ``candidate`` should replace ``known`` (smallest (ts, event_id) wins)."""
    return known is None or candidate[:2] < known[:2]


class Change(NamedTuple):
    """What delivering a message did: whether the state changed, the steps to add to the
    store's series (after - before), and messages for other entities of the store."""

    changed: bool
    steps: Steps
    forwards: list[Forward]


class _Entity:
    __slots__ = ()

    def steps(self, ctx: Context) -> Steps:
        raise NotImplementedError

    def _receive(self, message: Message) -> tuple[bool, list[Forward]]:
        raise NotImplementedError

    def receive(self, message: Message, ctx: Context) -> Change:
        """Apply a message; return the change of this entity's steps."""
        before = self.steps(ctx)
        changed, forwards = self._receive(message)
        if not changed:
            return Change(False, {}, forwards)
        return Change(True, difference(self.steps(ctx), before), forwards)


class OrderState(_Entity):
    """One order: its canonical version and its delivery. Feeds aov, installation_uptake
    and on_time_delivery (an order is due at its promised time; it counts as on time
    when delivered at or before it, and as late from the promised minute onwards)."""

    __slots__ = ("delivery", "order")

    def __init__(self) -> None:
        self.order: OrderFact | None = None
        # (delivered ts, event_id, promised ts override or None)
        self.delivery: tuple[int, str, int | None] | None = None

    def _receive(self, message: Message) -> tuple[bool, list[Forward]]:
        if isinstance(message, PlacedOrder):
            return self.add_order(message.fact), []
        if isinstance(message, Delivered):
            return self.add_delivery(tuple(message)), []  # type: ignore[arg-type]
        raise TypeError(f"an order does not take {type(message).__name__}")

    def add_order(self, fact: OrderFact) -> bool:
        if _keep_first(self.order, fact):
            self.order = fact
            return True
        return False

    def add_delivery(self, fact: tuple[int, str, int | None]) -> bool:
        if _keep_first(self.delivery, fact):
            self.delivery = fact
            return True
        return False

    def due(self) -> int | None:
        if self.delivery is not None and self.delivery[2] is not None:
            return self.delivery[2]
        return self.order[4] if self.order is not None else None

    def steps(self, ctx: Context) -> Steps:
        steps: Steps = {}
        order = self.order
        if order is not None:
            minute = order[0] // 60
            add_point(steps, "aov", NUM, minute, order[3])
            add_point(steps, "aov", DEN, minute, 1)
            if ctx.vertical is Vertical.SMART_HOME and order[2] & DEVICE:
                add_point(steps, "installation_uptake", DEN, minute, 1)
                if order[2] & INSTALLATION:
                    add_point(steps, "installation_uptake", NUM, minute, 1)
        if ctx.vertical is Vertical.PARTY_FAVORS:
            due = self.due()
            if due is not None:
                add_point(steps, "on_time_delivery", DEN, due // 60, 1)
                if self.delivery is not None and self.delivery[0] <= due:
                    add_point(steps, "on_time_delivery", NUM, due // 60, 1)
        return steps

    def newest(self) -> int:
        times = [self.due() or 0]
        if self.order is not None:
            times.append(self.order[0])
        if self.delivery is not None:
            times.append(self.delivery[0])
        return max(times)

    def prune(self, before: int) -> bool:
        """True when everything here is older than ``before`` (drop the entity)."""
        return self.newest() < before


class CustomerState(_Entity):
    """One customer: their orders, consultations and design-tool sessions.

    Feeds repeat_purchase_retention, cross_sell and consultation_conversion
    (smart_home), repeat_customer_rate and personalization_conversion for signed-in
    visitors (party_favors). ``visit_orders`` are orders placed in a visit where this
    customer used the design tool, even without their customer_id (guest checkout in
    the same visit converts them too).
    """

    __slots__ = ("consultations", "orders", "tools", "visit_orders")

    def __init__(self) -> None:
        self.orders: dict[str, OrderFact] = {}
        self.consultations: list[int] = []
        self.tools: list[int] = []
        self.visit_orders: dict[str, tuple[int, str]] = {}

    def _receive(self, message: Message) -> tuple[bool, list[Forward]]:
        if isinstance(message, PlacedOrder):
            return self.add_order(message.order_id, message.fact), []
        if isinstance(message, OrderInVisit):
            return self.add_visit_order(message.order_id, (message.ts, message.event_id)), []
        if isinstance(message, Consulted):
            return _add_time(self.consultations, message.ts), []
        if isinstance(message, UsedTool):
            return _add_time(self.tools, message.ts), []
        raise TypeError(f"a customer does not take {type(message).__name__}")

    def add_order(self, order_id: str, fact: OrderFact) -> bool:
        if _keep_first(self.orders.get(order_id), fact):
            self.orders[order_id] = fact
            return True
        return False

    def add_visit_order(self, order_id: str, fact: tuple[int, str]) -> bool:
        if _keep_first(self.visit_orders.get(order_id), fact):
            self.visit_orders[order_id] = fact
            return True
        return False

    def steps(self, ctx: Context) -> Steps:
        steps: Steps = {}
        orders = sorted(self.orders.values())
        if ctx.vertical is Vertical.SMART_HOME:
            minutes = [fact[0] // 60 for fact in orders]
            cross = [fact[0] // 60 for fact in orders if fact[2] & CROSS_SELL]
            consults = sorted(self.consultations)
            order_times = [fact[0] for fact in orders]
            for width in WINDOW_MINUTES:
                if minutes:
                    ordered = presence_spans(minutes, width)
                    add_spans(steps, "repeat_purchase_retention", DEN, width, ordered)
                    add_spans(steps, "repeat_purchase_retention", NUM, width, repeat_spans(minutes, width))
                    add_spans(steps, "cross_sell", DEN, width, ordered)
                    add_spans(steps, "cross_sell", NUM, width, presence_spans(cross, width))
                if consults:
                    consult_minutes = [t // 60 for t in consults]
                    add_spans(
                        steps, "consultation_conversion", DEN, width, presence_spans(consult_minutes, width)
                    )
                    spans = conversion_spans(consults, order_times, width, ctx.attribution_seconds)
                    add_spans(steps, "consultation_conversion", NUM, width, spans)
        else:
            personalised = [fact[0] // 60 for fact in orders if fact[2] & PERSONALISED]
            tools = sorted(self.tools)
            conversions: list[int] = []
            if tools:
                conversions = sorted(
                    {fact[0] for fact in self.orders.values()}
                    | {fact[0] for oid, fact in self.visit_orders.items() if oid not in self.orders}
                )
            for width in WINDOW_MINUTES:
                if personalised:
                    add_spans(steps, "repeat_customer_rate", DEN, width, presence_spans(personalised, width))
                    add_spans(steps, "repeat_customer_rate", NUM, width, repeat_spans(personalised, width))
                if tools:
                    _visitor_conversion(steps, tools, conversions, width, ctx)
        return steps

    def prune(self, before: int) -> bool:
        self.orders = {k: f for k, f in self.orders.items() if f[0] >= before}
        self.visit_orders = {k: f for k, f in self.visit_orders.items() if f[0] >= before}
        self.consultations = [t for t in self.consultations if t >= before]
        self.tools = [t for t in self.tools if t >= before]
        return not (self.orders or self.visit_orders or self.consultations or self.tools)


def _visitor_conversion(steps: Steps, tools: list[int], orders: list[int], width: int, ctx: Context) -> None:
    tool_minutes = [t // 60 for t in tools]
    add_spans(steps, "personalization_conversion", DEN, width, presence_spans(tool_minutes, width))
    spans = conversion_spans(tools, orders, width, ctx.attribution_seconds)
    add_spans(steps, "personalization_conversion", NUM, width, spans)


class VisitState(_Entity):
    """One website visit: its design-tool sessions and the orders placed in it.

    A visitor who used the tool without signing in is known by the visit only; such a
    visitor converts with an order carrying the same visit_id. Signed-in tool users
    are counted on their CustomerState; the visit tells them about its orders.
    """

    __slots__ = ("anonymous_tools", "orders", "tool_customers")

    def __init__(self) -> None:
        self.anonymous_tools: list[int] = []
        self.tool_customers: dict[str, int] = {}  # customer_id → latest tool session ts
        self.orders: dict[str, tuple[int, str]] = {}

    def _receive(self, message: Message) -> tuple[bool, list[Forward]]:
        """Tool sessions and orders of this visit. A signed-in tool user is told about the
        visit's orders (and about later ones), so a guest checkout converts them too."""
        if isinstance(message, UsedTool):
            if message.customer_id is None:
                return _add_time(self.anonymous_tools, message.ts), []
            customer = message.customer_id
            known = self.tool_customers.get(customer)
            if known is not None and known >= message.ts:
                return False, []  # this user is known here already: nothing new to tell them
            self.tool_customers[customer] = message.ts
            return known is None, [
                (Kind.CUSTOMER, customer, OrderInVisit(oid, ts, eid))
                for oid, (ts, eid) in self.orders.items()
            ]
        if isinstance(message, OrderInVisit):
            fact = (message.ts, message.event_id)
            if not _keep_first(self.orders.get(message.order_id), fact):
                return False, []
            self.orders[message.order_id] = fact
            return True, [(Kind.CUSTOMER, c, message) for c in self.tool_customers]
        raise TypeError(f"a visit does not take {type(message).__name__}")

    def steps(self, ctx: Context) -> Steps:
        steps: Steps = {}
        if ctx.vertical is Vertical.PARTY_FAVORS and self.anonymous_tools:
            tools = sorted(self.anonymous_tools)
            orders = sorted(fact[0] for fact in self.orders.values())
            for width in WINDOW_MINUTES:
                _visitor_conversion(steps, tools, orders, width, ctx)
        return steps

    def prune(self, before: int) -> bool:
        self.anonymous_tools = [t for t in self.anonymous_tools if t >= before]
        self.tool_customers = {c: t for c, t in self.tool_customers.items() if t >= before}
        self.orders = {k: f for k, f in self.orders.items() if f[0] >= before}
        return not (self.anonymous_tools or self.tool_customers or self.orders)
