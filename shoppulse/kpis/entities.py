"""Per-entity state for the KPIs that join events: orders, customers, visits.

Each entity keeps only the facts its KPIs need (times in seconds, a few flags) and
turns them into steps with ``steps(ctx)``. The engine, and later each stream worker
that owns the entity's key, delivers a message with ``receive``, which returns the
change of those steps for the store's series (see ``contributions``).

``steps`` is the reference: ``receive_full`` computes a change as ``steps`` after the
update minus ``steps`` before, for every window and every KPI of the entity.
``receive`` first tries ``_receive_fast``, which knows the change without that
recompute in the common cases:

* the message brings the newest time of its kind here (events arrive roughly in time
  order): it adds one span per window to each KPI it feeds, found from the last one
  or two times (``contributions.add_newest_*``);
* an order converting tool sessions or consultations, at any time: one span per
  window, between its neighbours' (``contributions.add_new_conversion``);
* the message changes nothing ``steps`` reads (a signed-in tool user told to a visit,
  a consultation for a party-favour customer): the change is empty;
* the entity was empty: there were no steps before;
* the first delivery of a known order: it moves only that order's on_time_delivery
  point, from the order's promised minute to the delivery's.

Anything else (an older order or session, a second version of an order or of a
delivery, an order after its delivery) is recomputed in full. ``consultations``,
``tools`` and ``anonymous_tools`` are sorted tuples, replaced on insert (whoever
restores them must keep them so), so the newest is last. Tuples, not lists: a tuple of ints is not tracked
by the garbage collector and the empty one is shared, and a report holds one per
customer and visit.

Memory: an entity holds facts younger than the longest window plus the lateness
allowance (``prune``); nothing here grows with the number of other customers, so an
update costs the same whether a store has ten customers or ten million.

Duplicate orders: the same ``order_id`` seen twice (under different event ids) is
one order. The version kept is the one with the smallest ``(ts, event_id)``, a rule
that gives the same answer in whatever order the versions arrive.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from operator import itemgetter
from typing import NamedTuple

from shoppulse.kpis.contributions import (
    DEN,
    NUM,
    POINT,
    WINDOW_MINUTES,
    Steps,
    add_new_conversion,
    add_span_between,
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
from shoppulse.kpis.store_series import StoreSeries
from shoppulse.schemas.stores import Vertical


@dataclass(frozen=True, slots=True)
class Context:
    """What an entity needs to know about its store and the engine's settings."""

    vertical: Vertical
    attribution_seconds: int
    # The windows (minutes) whose spans are kept. All of them for a worker; ``report``
    # asks for one window and keeps only its spans, a quarter of the steps.
    widths: tuple[int, ...] = WINDOW_MINUTES


Times = tuple[int, ...]  # sorted


def _with_time(times: Times, ts: int) -> Times | None:
    """``times`` with ``ts`` added, still sorted; None when it holds ``ts`` already (a replayed
    message must not add it twice)."""
    if ts in times:
        return None
    at = bisect_left(times, ts)
    return (*times[:at], ts, *times[at:])


def _keep_first(known: tuple | None, candidate: tuple) -> bool:  # type: ignore[type-arg]
    """True when ``candidate`` should replace ``known`` (smallest (ts, event_id) wins)."""
    return known is None or candidate[:2] < known[:2]


_PERSONAL = "personalization_conversion"
# Orders in time, by (ts, event_id) only: two facts of different order_ids may tie on both
# (a property test sends such histories), and what follows does not always compare (a
# promise against None).
_BY_TIME = itemgetter(0, 1)


class Change(NamedTuple):
    """What delivering a message did: whether the state changed, the steps to add to the
    store's series (after - before), and messages for other entities of the store."""

    changed: bool
    steps: Steps
    forwards: list[Forward]


# What ``receive`` returns, as a plain tuple: the engine's hot path takes it so, since a
# NamedTuple is built by a Python-level call that cost as much as a simple update.
Parts = tuple[bool, Steps, list[Forward]]
_new = tuple.__new__
_SMART_HOME = Vertical.SMART_HOME  # an enum member read through its class costs a microsecond
_PARTY_FAVORS = Vertical.PARTY_FAVORS


class _Entity:
    __slots__ = ()

    def steps(self, ctx: Context) -> Steps:
        raise NotImplementedError

    def _receive(self, message: Message) -> tuple[bool, list[Forward]]:
        raise NotImplementedError

    def _receive_fast(self, message: Message, ctx: Context) -> Parts | None:
        """The change, when it is known without recomputing all steps; else None, and the
        state is left as it was (see the module docstring)."""
        return None

    def receive(self, message: Message, ctx: Context) -> Change:
        """Apply a message; return the change of this entity's steps."""
        return _new(Change, self.receive_parts(message, ctx))

    def receive_parts(self, message: Message, ctx: Context) -> Parts:
        """``receive`` as a plain (changed, steps, forwards) tuple."""
        parts = self._receive_fast(message, ctx)
        return self._receive_full(message, ctx) if parts is None else parts

    def receive_full(self, message: Message, ctx: Context) -> Change:
        """``receive`` by definition: steps after the update minus steps before."""
        return _new(Change, self._receive_full(message, ctx))

    def _receive_full(self, message: Message, ctx: Context) -> Parts:
        before = self.steps(ctx)
        changed, forwards = self._receive(message)
        if not changed:
            return False, {}, forwards
        return True, difference(self.steps(ctx), before), forwards

    def _unread(self, message: Message) -> Parts:
        """Apply a message that changes nothing ``steps`` reads: the change is empty."""
        changed, forwards = self._receive(message)
        return changed, {}, forwards


class OrderState(_Entity):
    """One order: its canonical version and its delivery. Feeds aov, installation_uptake
    and on_time_delivery (an order is due at its promised time; it counts as on time
    when delivered at or before it, and as late from the promised minute onwards)."""

    __slots__ = ("delivery", "order")

    def __init__(self) -> None:
        self.order: OrderFact | None = None
        # (delivered ts, event_id, promised ts override or None)
        self.delivery: tuple[int, str, int | None] | None = None

    def _receive_fast(self, message: Message, ctx: Context) -> Parts | None:
        order = self.order
        if order is None:
            if self.delivery is not None:
                return None
            # A first fact: it is kept (there is nothing to compare it with), and there were
            # no steps before. ``_receive`` without its comparisons: every order takes this
            # (but in the engine, whose new orders take ``place``).
            if isinstance(message, PlacedOrder):
                self.order = message.fact
            elif isinstance(message, Delivered):
                self.delivery = tuple(message)  # type: ignore[assignment]
            else:
                raise TypeError(f"an order does not take {type(message).__name__}")
            return True, self.steps(ctx), []
        if self.delivery is None and isinstance(message, Delivered):
            return self._first_delivery(message, order, ctx)
        return None

    def place(self, fact: OrderFact, ctx: Context, series: StoreSeries) -> None:
        """Keep the first version of a new order and add its steps to ``series``: what
        ``series.apply`` of the steps ``_receive_fast`` gives for it does (there were no steps
        before, and an order's steps are points), without the dict between them. The engine
        takes every new order this way: a report's orders are nearly all new."""
        self.order = fact
        minute = fact[0] // 60
        add = series.add_point
        add("aov", NUM, minute, fact[3])
        add("aov", DEN, minute, 1)
        vertical = ctx.vertical
        if vertical is _SMART_HOME:
            if fact[2] & DEVICE:
                add("installation_uptake", DEN, minute, 1)
                if fact[2] & INSTALLATION:
                    add("installation_uptake", NUM, minute, 1)
        elif vertical is _PARTY_FAVORS and fact[4] is not None:
            add("on_time_delivery", DEN, fact[4] // 60, 1)  # due at its promise, not delivered

    def _first_delivery(self, message: Delivered, order: OrderFact, ctx: Context) -> Parts:
        """The delivery of a known, undelivered order: it is kept, and only on_time_delivery
        (party favours) reads it. Before, the order was due at its own promise, late from then
        on (denominator only); now it is due at the delivery's promise if it has one, and on
        time if delivered by then. Every party-favour delivery comes here."""
        self.delivery = tuple(message)  # type: ignore[assignment]
        steps: Steps = {}
        if ctx.vertical is not _PARTY_FAVORS:
            return True, steps, []
        was_due = order[4]
        delivered, _, due = message
        if due is None:
            due = was_due
        if due is None:
            return True, steps, []  # never due: counted nowhere, before or after
        minute = due // 60
        if was_due is None or was_due // 60 != minute:
            steps[("on_time_delivery", DEN, POINT, minute)] = 1
            if was_due is not None:
                steps[("on_time_delivery", DEN, POINT, was_due // 60)] = -1
        if delivered <= due:
            steps[("on_time_delivery", NUM, POINT, minute)] = 1
        return True, steps, []

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
        # Points, each under its own key: plain stores, as nothing else adds to them.
        steps: Steps = {}
        order = self.order
        if order is not None:
            minute = order[0] // 60
            steps[("aov", NUM, POINT, minute)] = order[3]
            steps[("aov", DEN, POINT, minute)] = 1
            if ctx.vertical is _SMART_HOME and order[2] & DEVICE:
                steps[("installation_uptake", DEN, POINT, minute)] = 1
                if order[2] & INSTALLATION:
                    steps[("installation_uptake", NUM, POINT, minute)] = 1
        if ctx.vertical is _PARTY_FAVORS:
            due = self.due()
            if due is not None:
                steps[("on_time_delivery", DEN, POINT, due // 60)] = 1
                if self.delivery is not None and self.delivery[0] <= due:
                    steps[("on_time_delivery", NUM, POINT, due // 60)] = 1
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
        self.consultations: Times = ()
        self.tools: Times = ()
        self.visit_orders: dict[str, tuple[int, str]] = {}

    def _receive(self, message: Message) -> tuple[bool, list[Forward]]:
        if isinstance(message, PlacedOrder):
            return self.add_order(message.order_id, message.fact), []
        if isinstance(message, OrderInVisit):
            return self.add_visit_order(message.order_id, (message.ts, message.event_id)), []
        if isinstance(message, Consulted):
            consultations = _with_time(self.consultations, message.ts)
            if consultations is None:
                return False, []
            self.consultations = consultations
            return True, []
        if isinstance(message, UsedTool):
            tools = _with_time(self.tools, message.ts)
            if tools is None:
                return False, []
            self.tools = tools
            return True, []
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

    def _receive_fast(self, message: Message, ctx: Context) -> Parts | None:
        if isinstance(message, PlacedOrder):
            return self._new_order(message, ctx)
        smart = ctx.vertical is _SMART_HOME
        if isinstance(message, OrderInVisit):
            order_id, ts = message.order_id, message.ts
            if smart or not self.tools or order_id in self.orders:
                return self._unread(message)  # steps read visit orders (not known as orders) of tool users
            if order_id in self.visit_orders:
                return None  # another version
            steps: Steps = {}
            add_new_conversion(
                steps, _PERSONAL, ts, self.tools, self._conversions(ctx), ctx.attribution_seconds, ctx.widths
            )
            self.add_visit_order(order_id, (ts, message.event_id))
            return True, steps, []
        if isinstance(message, Consulted):
            return self._newest_trigger(message, "consultation_conversion", "consultations", smart, ctx)
        if isinstance(message, UsedTool):
            return self._newest_trigger(message, _PERSONAL, "tools", not smart, ctx)
        return None

    def _new_order(self, message: PlacedOrder, ctx: Context) -> Parts | None:
        """A new order at or after every other order here."""
        order_id, fact = message
        orders = self.orders
        if order_id in orders:
            return None  # another version
        ts, flags = fact[0], fact[2]
        by_time = sorted(orders.values(), key=_BY_TIME) if orders else []  # a first order, often
        if by_time and ts < by_time[-1][0]:
            return None
        minute = ts // 60
        attribution, widths = ctx.attribution_seconds, ctx.widths
        steps: Steps = {}
        # The newest presence span (minute, minute + W] after (last, last + W] is
        # add_span_between(…, minute, minute, last); the newest repeat pair (last, minute)
        # after (second, last) is add_span_between(…, minute, last, second) when there is a
        # last order.
        if ctx.vertical is _SMART_HOME:
            last = by_time[-1][0] // 60 if by_time else None  # _latest_minutes(by_time, None)
            second = by_time[-2][0] // 60 if len(by_time) > 1 else None
            # also cross_sell's denominator (contributions.SAME_AS)
            add_span_between(steps, "repeat_purchase_retention", DEN, minute, minute, last, None, widths)
            if last is not None:
                add_span_between(steps, "repeat_purchase_retention", NUM, minute, last, second, None, widths)
            if flags & CROSS_SELL:
                latest_cross = _latest_minutes(by_time, CROSS_SELL)[0]
                add_span_between(steps, "cross_sell", NUM, minute, minute, latest_cross, None, widths)
            if self.consultations:
                earlier = [fact[0] for fact in by_time]
                add_new_conversion(
                    steps, "consultation_conversion", ts, self.consultations, earlier, attribution, widths
                )
        else:
            if self.tools:
                known = self.visit_orders.get(order_id)
                if known is None:
                    conversions = self._conversions(ctx)
                    add_new_conversion(steps, _PERSONAL, ts, self.tools, conversions, attribution, widths)
                elif known[0] != ts:
                    return None  # the visit told of another version of this order
                # else the order converted already, at the same time, as a visit order
            if flags & PERSONALISED:
                last, second = _latest_minutes(by_time, PERSONALISED)
                add_span_between(steps, "repeat_customer_rate", DEN, minute, minute, last, None, widths)
                if last is not None:
                    add_span_between(steps, "repeat_customer_rate", NUM, minute, last, second, None, widths)
        orders[order_id] = fact  # a new order id: add_order would keep it
        return True, steps, []

    def _newest_trigger(
        self, message: Consulted | UsedTool, kpi: str, field: str, read: bool, ctx: Context
    ) -> Parts | None:
        """A consultation or tool session after every other one and every conversion here: it
        converts nothing yet, and adds one presence span to the denominator. ``field``: the
        times it joins (consultations or tools)."""
        ts = message.ts
        triggers: Times = getattr(self, field)
        if not read or ts in triggers:
            return self._unread(message)  # no KPI of this vertical reads it, or known already
        conversions = self._conversions(ctx) if self.orders or self.visit_orders else []
        if (triggers and ts < triggers[-1]) or (conversions and conversions[-1] >= ts):
            return None
        steps: Steps = {}
        last = triggers[-1] // 60 if triggers else None
        minute = ts // 60  # the newest presence span, after the one of ``last``
        add_span_between(steps, kpi, DEN, minute, minute, last, None, ctx.widths)
        setattr(self, field, (*triggers, ts))  # the newest (checked above)
        return True, steps, []

    def _conversions(self, ctx: Context) -> list[int]:
        """The sorted times of the orders that convert this customer's consultations or tool
        sessions (``order_times`` and ``conversions`` in ``steps``)."""
        if ctx.vertical is _SMART_HOME:
            return sorted(fact[0] for fact in self.orders.values())
        return sorted(
            {fact[0] for fact in self.orders.values()}
            | {fact[0] for oid, fact in self.visit_orders.items() if oid not in self.orders}
        )

    def steps(self, ctx: Context) -> Steps:
        steps: Steps = {}
        orders = sorted(self.orders.values(), key=_BY_TIME)
        if ctx.vertical is _SMART_HOME:
            minutes = [fact[0] // 60 for fact in orders]
            cross = [fact[0] // 60 for fact in orders if fact[2] & CROSS_SELL]
            consults = sorted(self.consultations)
            order_times = [fact[0] for fact in orders]
            for width in ctx.widths:
                if minutes:
                    # also cross_sell's denominator (contributions.SAME_AS)
                    add_spans(steps, "repeat_purchase_retention", DEN, width, presence_spans(minutes, width))
                    add_spans(steps, "repeat_purchase_retention", NUM, width, repeat_spans(minutes, width))
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
            for width in ctx.widths:
                if personalised:
                    add_spans(steps, "repeat_customer_rate", DEN, width, presence_spans(personalised, width))
                    add_spans(steps, "repeat_customer_rate", NUM, width, repeat_spans(personalised, width))
                if tools:
                    _visitor_conversion(steps, tools, conversions, width, ctx)
        return steps

    def prune(self, before: int) -> bool:
        # Empty containers are left as they are, and the sorted times are cut, not filtered:
        # a sweep prunes every customer touched on a day.
        if self.orders:
            self.orders = {k: f for k, f in self.orders.items() if f[0] >= before}
        if self.visit_orders:
            self.visit_orders = {k: f for k, f in self.visit_orders.items() if f[0] >= before}
        self.consultations = _since(self.consultations, before)
        self.tools = _since(self.tools, before)
        return not (self.orders or self.visit_orders or self.consultations or self.tools)


def _since(times: Times, before: int) -> Times:
    """The sorted ``times`` at or after ``before``."""
    return times[bisect_left(times, before) :] if times and times[0] < before else times


def _latest_minutes(facts: list[OrderFact], flag: int | None) -> tuple[int | None, int | None]:
    """The minutes of the two latest of sorted ``facts`` (of those with ``flag``, if given)."""
    last = None
    for fact in reversed(facts):
        if flag is None or fact[2] & flag:
            if last is not None:
                return last, fact[0] // 60
            last = fact[0] // 60
    return last, None


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
        self.anonymous_tools: Times = ()
        self.tool_customers: dict[str, int] = {}  # customer_id → latest tool session ts
        self.orders: dict[str, tuple[int, str]] = {}

    def _receive(self, message: Message) -> tuple[bool, list[Forward]]:
        """Tool sessions and orders of this visit. A signed-in tool user is told about the
        visit's orders (and about later ones), so a guest checkout converts them too."""
        if isinstance(message, UsedTool):
            if message.customer_id is None:
                tools = _with_time(self.anonymous_tools, message.ts)
                if tools is None:
                    return False, []
                self.anonymous_tools = tools
                return True, []
            customer = message.customer_id
            known = self.tool_customers.get(customer)
            if known is not None and known >= message.ts:
                return False, []  # this user is known here already: nothing new to tell them
            self.tool_customers[customer] = message.ts
            if not self.orders:  # as in most visits: no list to build (a call of its own)
                return known is None, []
            return known is None, [
                (Kind.CUSTOMER, customer, OrderInVisit(oid, ts, eid))
                for oid, (ts, eid) in self.orders.items()
            ]
        if isinstance(message, OrderInVisit):
            fact = (message.ts, message.event_id)
            if not _keep_first(self.orders.get(message.order_id), fact):
                return False, []
            self.orders[message.order_id] = fact
            if not self.tool_customers:
                return True, []
            return True, [(Kind.CUSTOMER, c, message) for c in self.tool_customers]
        raise TypeError(f"a visit does not take {type(message).__name__}")

    def _receive_fast(self, message: Message, ctx: Context) -> Parts | None:
        if ctx.vertical is not _PARTY_FAVORS:
            return self._unread(message)  # only party-favour visits have steps
        tools = self.anonymous_tools
        if isinstance(message, UsedTool):
            ts = message.ts
            if message.customer_id is not None or ts in tools:
                return self._unread(message)  # signed-in users are counted on their CustomerState
            orders = self.orders  # most visits have none: no generator then
            if (tools and ts < tools[-1]) or (orders and any(fact[0] >= ts for fact in orders.values())):
                return None
            # a tool session after every other one and every order here: it converts nothing
            # yet, and adds one presence span to the denominator, after the one of ``last``
            steps: Steps = {}
            last = tools[-1] // 60 if tools else None
            minute = ts // 60
            add_span_between(steps, _PERSONAL, DEN, minute, minute, last, None, ctx.widths)
            self.anonymous_tools = (*tools, ts)  # the newest (checked above)
            return True, steps, []
        if isinstance(message, OrderInVisit):
            if not tools:  # no anonymous tool user to convert: ``_unread``, one call shallower
                changed, forwards = self._receive(message)
                return changed, {}, forwards
            if message.order_id in self.orders:
                return None  # another version
            conversions = sorted(fact[0] for fact in self.orders.values())
            steps = {}
            attribution = ctx.attribution_seconds
            add_new_conversion(steps, _PERSONAL, message.ts, tools, conversions, attribution, ctx.widths)
            changed, forwards = self._receive(message)
            return changed, steps, forwards
        return None

    def steps(self, ctx: Context) -> Steps:
        steps: Steps = {}
        if ctx.vertical is _PARTY_FAVORS and self.anonymous_tools:
            tools = sorted(self.anonymous_tools)
            orders = sorted(fact[0] for fact in self.orders.values())
            for width in ctx.widths:
                _visitor_conversion(steps, tools, orders, width, ctx)
        return steps

    def prune(self, before: int) -> bool:
        self.anonymous_tools = _since(self.anonymous_tools, before)
        if self.tool_customers:
            self.tool_customers = {c: t for c, t in self.tool_customers.items() if t >= before}
        if self.orders:
            self.orders = {k: f for k, f in self.orders.items() if f[0] >= before}
        return not (self.anonymous_tools or self.tool_customers or self.orders)
