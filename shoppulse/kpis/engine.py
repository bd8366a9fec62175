"""The reference engine: validated events in, exact windowed KPIs out. Pure, no I/O.

Data path inside the engine::

    event ──dedupe/lateness──▶ store-level points (visits, ratings, views, QC…)
                          └──▶ entities (order, customer, visit) ──steps diff──┐
                                                                               ▼
                  per store, per (kpi, num|den, window): StepSeries ──▶ snapshot(T)

Semantics (also in docs/kpis.md):

* Windows are ``[T - W, T)`` by event time at one-minute resolution (``windows``).
* Duplicate ``event_id``s are ignored; a second ``order`` with a known ``order_id``
  is the same order (the smallest ``(ts, event_id)`` version counts).
* The watermark is the latest event time seen, or the clock when the caller advances
  it. An event older than the watermark minus the longest window (``lateness``) can
  no longer be in any window that will be asked for: it is *late*, counted and not
  applied.
* ``snapshot(T)`` must be asked for T at or after the events it should include, and
  never for a T earlier than a previous snapshot (state behind it is folded away).

Memory: per store, one StepSeries per (kpi, part, window), each holding at most the
minutes of its window plus the lateness allowance; per entity, facts younger than
lateness + longest window; the dedupe set holds event ids younger than the lateness.
Each is swept once a day of watermark progress. Update cost depends on the entity's
own history, never on how many customers a store has.

Only the windows of ``EngineSettings.windows`` are kept (all four by default): every
window costs its own spans on each customer and visit update, so ``shoppulse report``,
which prints one window, keeps that one.

Speed: ``apply`` is the hot path of ``shoppulse report`` (a million calls), so it inlines
``deliver``, ``advance`` and ``facts.seconds``, finds what it needs of a store with one
lookup (``_StoreState``), counts the events that only count one at their minute (visits,
content views and interactions: half of them) straight into their series
(``routing.COUNTED``), adds a new order's points straight into its series too
(``OrderState.place``), and takes routing and entity changes as plain tuples
(``routing.route_parts``, ``_Entity._receive_fast``) rather than NamedTuples, whose
construction is a Python-level call. It reads the event's fields from its ``__dict__``,
as the order, tool-session and delivery routers do: one attribute of a pydantic model
costs about as much as that one ``__dict__`` (see ``facts``). What is left per event is
mostly the dedupe set, the entity registries and the timestamp: hash tables of a million
keys, and a call into pydantic-core for each timestamp's offset (``facts.seconds``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from typing import Any

from pydantic_core import TzInfo

from shoppulse.kpis.catalogue import Kpi, Tier, Unit, kpis_for
from shoppulse.kpis.contributions import DEN, NUM
from shoppulse.kpis.entities import Context, CustomerState, OrderState, VisitState
from shoppulse.kpis.facts import DEFAULT_SERVICE_CATEGORIES, EPOCH, seconds
from shoppulse.kpis.messages import Forward, Kind, Message, PlacedOrder
from shoppulse.kpis.routing import COUNTED, ROUTERS, route_parts
from shoppulse.kpis.store_series import StoreSeries
from shoppulse.kpis.timeline import PointSeries
from shoppulse.kpis.windows import LONGEST, WINDOWS, Window, cutoff_minute
from shoppulse.schemas.events import Event
from shoppulse.schemas.stores import Store, Vertical

DAY = 86_400
_NEVER = -(1 << 62)  # a day start no event time is in
_EPOCH_DAY = EPOCH.toordinal()
_ROUTED = object()  # an event routing.COUNTED does not list


@dataclass(frozen=True, slots=True)
class EngineSettings:
    attribution: timedelta = timedelta(days=30)  # order must follow its trigger within this
    lateness: timedelta = LONGEST.minutes * timedelta(minutes=1)  # older than this: late
    service_categories: frozenset[str] = field(default=DEFAULT_SERVICE_CATEGORIES)
    # The windows kept and answered for. Each costs its own spans on every customer
    # and visit update: a caller that needs fewer (``report``) keeps fewer.
    windows: tuple[Window, ...] = WINDOWS


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    LATE = "late"


@dataclass(frozen=True, slots=True)
class KpiValue:
    """One KPI of one store over one window, in the catalogue's base units."""

    store_id: str
    vertical: Vertical
    kpi: Kpi
    window: Window
    numerator: float
    denominator: float
    value: float | None  # None when the denominator is 0
    tier: Tier | None


Entity = OrderState | CustomerState | VisitState
# Module-level aliases: an enum member read through its class costs a microsecond.
_APPLIED, _DUPLICATE, _LATE = Outcome.APPLIED, Outcome.DUPLICATE, Outcome.LATE
_ORDER = Kind.ORDER
ENTITY_TYPES: dict[Kind, type[Entity]] = {
    Kind.ORDER: OrderState,
    Kind.CUSTOMER: CustomerState,
    Kind.VISIT: VisitState,
}


class _StoreState:
    """What ``apply`` needs of one store, found with one lookup of its id."""

    __slots__ = ("context", "counted", "entities", "series", "smart", "touched", "vertical")

    def __init__(self, store: Store, context: Context, series: StoreSeries) -> None:
        self.vertical = store.vertical
        self.smart = store.vertical is Vertical.SMART_HOME  # what the routers ask
        self.context = context
        self.series = series
        # Entities by kind (Kind indexes the tuple), keyed by their id.
        self.entities: tuple[dict[str, Any], ...] = ({}, {}, {})
        # Ids of the entities changed on the watermark's current day, by kind (see advance).
        self.touched: tuple[list[str], ...] = ([], [], [])
        # The events that count one at their minute, or nothing (``routing.COUNTED``): the
        # series they count in, or None.
        smart = self.smart
        self.counted: dict[type, PointSeries | None] = {
            model: None if line is None else series.point_line(*line)
            for (model, for_smart), line in COUNTED.items()
            if for_smart is smart
        }


class Engine:
    def __init__(self, stores: Mapping[str, Store], settings: EngineSettings | None = None) -> None:
        self.stores = dict(stores)
        self.settings = settings or EngineSettings()
        self._lateness = int(self.settings.lateness.total_seconds())
        attribution = int(self.settings.attribution.total_seconds())
        widths = tuple(window.minutes for window in self.settings.windows)
        self._contexts = {
            store.id: Context(store.vertical, attribution, widths) for store in self.stores.values()
        }
        self._series: dict[str, StoreSeries] = {s: StoreSeries(widths) for s in self.stores}
        self._states = {
            store.id: _StoreState(store, self._contexts[store.id], self._series[store.id])
            for store in self.stores.values()
        }
        # Entities by store, then by kind (Kind indexes the tuple), keyed by their id.
        self._entities = {s: state.entities for s, state in self._states.items()}
        # Dedupe: the event ids seen, and the ids of each day of event time, so a sweep
        # drops a day of ids without scanning the others. An id is in one day's list at a
        # time: once its day is swept it is forgotten, and only then can it come back.
        self._seen: set[str] = set()
        self._seen_by_day: dict[int, list[str]] = {}
        # The last day's start and end, and its list.
        self._seen_since, self._seen_until, self._seen_ids = _NEVER, _NEVER, []
        # Entities touched on each day of the watermark, by store and kind: the candidates
        # a sweep looks at. Lists, not sets: an entity changed twice in a day is listed twice,
        # and the sweep reads each id once. Appending costs a third of adding to a set, which
        # hashes and, as a day fills, grows and rehashes its table; and a list is smaller than
        # a set of the same ids. ``_StoreState.touched`` is the current day's.
        self._touched_by_day: dict[int, dict[str, tuple[list[str], ...]]] = {}
        self._service_categories = self.settings.service_categories
        self.watermark: int | None = None  # seconds
        self._last_sweep: int | None = None
        self._quiet_until = 0  # see advance

    # --- input ---------------------------------------------------------------------

    def apply(self, event: Event) -> Outcome:
        """Fold one validated event (its store must be configured) into the state."""
        # The report's hot path, a million calls: ``is_late`` and ``deliver`` are inlined, and
        # the event's fields read from its __dict__ (cheaper than attributes, see facts).
        fields = event.__dict__
        event_id = fields["event_id"]
        seen = self._seen
        if event_id in seen:
            return _DUPLICATE
        moment = fields["ts"]
        tz = moment.tzinfo
        if type(tz) is TzInfo:  # facts.seconds, inlined (the call cost 1.5 % of a report)
            offset = tz.utcoffset(None)
            ts = (moment.toordinal() - _EPOCH_DAY - offset.days) * DAY + (
                moment.hour * 3600 + moment.minute * 60 + moment.second - offset.seconds
            )
        else:
            ts = seconds(moment)
        model = type(event)
        watermark = self.watermark
        # Late by its own time only: an order placed inside the windows counts there even
        # if its promise lies behind them (that point is dropped: no window reaches it).
        if watermark is not None and ts < watermark - self._lateness:
            return _LATE
        seen.add(event_id)
        if self._seen_since <= ts < self._seen_until:
            self._seen_ids.append(event_id)  # the day of the event before: no division
        else:
            day = ts // DAY
            ids = self._seen_by_day.get(day)
            if ids is None:
                ids = self._seen_by_day[day] = []
            ids.append(event_id)
            self._seen_since, self._seen_until, self._seen_ids = day * DAY, day * DAY + DAY, ids
        if watermark is None or ts > watermark:
            if watermark is not None and ts < self._quiet_until:
                self.watermark = ts  # all ``advance`` would do
            else:
                self.advance(ts)
        state = self._states[fields["store_id"]]
        line = state.counted.get(model, _ROUTED)
        if line is not _ROUTED:  # one at its minute, or nothing: no routing needed
            if line is not None:
                minute = ts // 60
                if minute >= line.plain_from:  # PointSeries.add's common case, inlined
                    held = line.amounts
                    held[minute] = held.get(minute, 0) + 1
                else:
                    line.add(minute, 1)
            return _APPLIED
        router = ROUTERS.get(model)  # route_parts, one call shallower
        if router is not None:
            points, messages = router(event, state.smart, ts, self._service_categories)
        else:
            points, messages = route_parts(event, state.vertical, self._service_categories, ts)
        if points:
            state.series.apply(points)
        if messages:
            series, context, registries, touched = state.series, state.context, state.entities, state.touched
            for (kind, store, key), message in messages:  # messages go to entities of the event's store
                registry = registries[kind]
                entity = registry.get(key)
                if entity is None:
                    entity = registry[key] = ENTITY_TYPES[kind]()
                    if kind is _ORDER and type(message) is PlacedOrder:
                        # A new order (nearly every order of a report): its points go straight
                        # into the series, without a dict of steps between, and it tells no one.
                        entity.place(message.fact, context, series)
                        touched[kind].append(key)
                        continue
                # receive_parts, one call shallower: the fast path, else the full recompute
                parts = entity._receive_fast(message, context)
                if parts is None:
                    parts = entity._receive_full(message, context)
                changed, steps, forwards = parts
                if changed:
                    if steps:
                        series.apply(steps)
                    touched[kind].append(key)
                while forwards:  # a visit tells its signed-in tool users of an order
                    pending, forwards = forwards, []
                    for forward_kind, forward_key, forwarded in pending:
                        forwards += self.deliver(forward_kind, store, forward_key, forwarded)
        return _APPLIED

    def is_late(self, ts: int) -> bool:
        return self.watermark is not None and ts < self.watermark - self._lateness

    def advance(self, now: int) -> None:
        """Move the watermark to ``now`` (seconds) if later; sweep old state daily."""
        if self.watermark is None or now > self.watermark:
            self.watermark = now
            day = now // DAY
            touched = self._touched_by_day.get(day)
            if touched is None:
                touched = self._touched_by_day[day] = {store: ([], [], []) for store in self.stores}
            for store, state in self._states.items():
                state.touched = touched[store]
        if self._last_sweep is None:
            self._last_sweep = now
        elif now - self._last_sweep >= DAY:
            self._sweep()
            self._last_sweep = now
        if self.watermark is not None:
            # Until a new day of the watermark or a sweep is due, moving the watermark is
            # all advance does: ``apply`` does that itself before this time.
            self._quiet_until = min((self.watermark // DAY + 1) * DAY, self._last_sweep + DAY)

    def deliver(self, kind: Kind, store: str, key: str, message: Message) -> list[Forward]:
        """Hand a message to an entity and send the change of its steps on."""
        state = self._states[store]
        registry = state.entities[kind]
        entity = registry.get(key)
        if entity is None:
            entity = registry[key] = ENTITY_TYPES[kind]()
        changed, steps, forwards = entity.receive_parts(message, state.context)
        if changed:
            if steps:
                state.series.apply(steps)
            state.touched[kind].append(key)
        return forwards

    def entities(self) -> Iterator[tuple[Kind, str, str, Entity]]:
        """Every entity held: (kind, store, id, state)."""
        for store, registries in self._entities.items():
            for kind, registry in zip(Kind, registries, strict=True):
                for key, entity in registry.items():
                    yield kind, store, key, entity

    # --- housekeeping ------------------------------------------------------------------

    def _sweep(self) -> None:
        """Forget what no future window can see (see the module docstring)."""
        assert self.watermark is not None
        horizon = self.watermark - self._lateness
        floor = horizon // 60
        for series in self._series.values():
            series.fold(floor)
        oldest_fact = horizon - LONGEST.minutes * 60
        for day in [d for d in self._touched_by_day if d < oldest_fact // DAY]:
            for store, touched in self._touched_by_day.pop(day).items():
                for registry, keys in zip(self._entities[store], touched, strict=True):
                    for key in set(keys):  # listed once per change (see __init__)
                        entity = registry.get(key)
                        if entity is not None and entity.prune(oldest_fact):
                            del registry[key]
        for day in [d for d in self._seen_by_day if d < horizon // DAY]:
            self._seen.difference_update(self._seen_by_day.pop(day))
        self._seen_since = self._seen_until = _NEVER  # its list may be gone

    def size(self) -> dict[str, int]:
        """How many things the engine holds (for benchmarks and the docs)."""
        held = [sum(len(registries[kind]) for registries in self._entities.values()) for kind in Kind]
        return {
            "orders": held[Kind.ORDER],
            "customers": held[Kind.CUSTOMER],
            "visits": held[Kind.VISIT],
            "event_ids": len(self._seen),
            "series_steps": sum(series.size() for series in self._series.values()),
        }

    # --- output ----------------------------------------------------------------------

    def snapshot(self, at: datetime, windows: Iterable[Window] | None = None) -> list[KpiValue]:
        """Every KPI of every store for windows ending at ``at`` (default: every window kept)."""
        cutoff = cutoff_minute(at)
        windows = self.settings.windows if windows is None else tuple(windows)
        unknown = [window.label for window in windows if window not in self.settings.windows]
        if unknown:
            raise ValueError(f"windows not kept by this engine (EngineSettings.windows): {unknown}")
        results = []
        for store in self.stores.values():
            series = self._series[store.id]
            for kpi in kpis_for(store.vertical):
                for window in windows:
                    num = series.component(kpi.id, NUM, window.minutes, cutoff)
                    den = series.component(kpi.id, DEN, window.minutes, cutoff)
                    results.append(kpi_value(store, kpi, window, num, den))
        return results


def kpi_value(store: Store, kpi: Kpi, window: Window, num: int, den: int) -> KpiValue:
    """A KPI from the engine's integer numerator and denominator."""
    # The engine counts in integers (minor currency units, milliseconds); the
    # catalogue's unit is the major unit / seconds.
    scale = 1
    if kpi.unit is Unit.CURRENCY:
        scale = 10**store.minor_unit_exponent
    elif kpi.unit is Unit.SECONDS:
        scale = 1000
    numerator = Fraction(num, scale)
    value = float(numerator / den) if den else None
    return KpiValue(
        store_id=store.id,
        vertical=store.vertical,
        kpi=kpi,
        window=window,
        numerator=float(numerator),
        denominator=float(den),
        value=value,
        tier=kpi.classify(value) if value is not None else None,
    )
