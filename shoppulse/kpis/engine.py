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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from typing import Any

from shoppulse.kpis.catalogue import Kpi, Tier, Unit, kpis_for
from shoppulse.kpis.contributions import DEN, NUM, Steps
from shoppulse.kpis.entities import Context, CustomerState, OrderState, VisitState
from shoppulse.kpis.facts import DEFAULT_SERVICE_CATEGORIES, seconds
from shoppulse.kpis.messages import Forward, Kind, Message
from shoppulse.kpis.routing import earliest_time, route
from shoppulse.kpis.store_series import StoreSeries
from shoppulse.kpis.windows import LONGEST, WINDOWS, Window, cutoff_minute
from shoppulse.schemas.events import Event
from shoppulse.schemas.stores import Store, Vertical

DAY = 86_400


@dataclass(frozen=True, slots=True)
class EngineSettings:
    attribution: timedelta = timedelta(days=30)  # order must follow its trigger within this
    lateness: timedelta = LONGEST.minutes * timedelta(minutes=1)  # older than this: late
    service_categories: frozenset[str] = field(default=DEFAULT_SERVICE_CATEGORIES)


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
ENTITY_TYPES: dict[Kind, type[Entity]] = {
    Kind.ORDER: OrderState,
    Kind.CUSTOMER: CustomerState,
    Kind.VISIT: VisitState,
}


class Engine:
    def __init__(self, stores: Mapping[str, Store], settings: EngineSettings | None = None) -> None:
        self.stores = dict(stores)
        self.settings = settings or EngineSettings()
        self._lateness = int(self.settings.lateness.total_seconds())
        self._contexts = {
            store.id: Context(store.vertical, int(self.settings.attribution.total_seconds()))
            for store in self.stores.values()
        }
        self._series: dict[str, StoreSeries] = {s: StoreSeries() for s in self.stores}
        self._orders: dict[tuple[str, str], OrderState] = {}
        self._customers: dict[tuple[str, str], CustomerState] = {}
        self._visits: dict[tuple[str, str], VisitState] = {}
        self._registries: tuple[dict[tuple[str, str], Any], ...] = (
            self._orders,
            self._customers,
            self._visits,
        )
        # Dedupe: event_id → day of its event time, and the ids of each day, so a sweep
        # drops a day of ids without scanning the others.
        self._seen: dict[str, int] = {}
        self._seen_by_day: dict[int, list[str]] = {}
        # Entities touched on each day of event time: the candidates a sweep looks at.
        self._touched_by_day: dict[int, set[tuple[int, tuple[str, str]]]] = {}
        self.watermark: int | None = None  # seconds
        self._last_sweep: int | None = None

    # --- input ---------------------------------------------------------------------

    def apply(self, event: Event) -> Outcome:
        """Fold one validated event (its store must be configured) into the state."""
        ts = seconds(event.ts)
        if event.event_id in self._seen:
            return Outcome.DUPLICATE
        if self.is_late(earliest_time(event, ts)):
            return Outcome.LATE
        day = ts // DAY
        self._seen[event.event_id] = day
        self._seen_by_day.setdefault(day, []).append(event.event_id)
        if self.watermark is None or ts > self.watermark:
            self.advance(ts)
        self._route(event, ts)
        return Outcome.APPLIED

    def is_late(self, ts: int) -> bool:
        return self.watermark is not None and ts < self.watermark - self._lateness

    def advance(self, now: int) -> None:
        """Move the watermark to ``now`` (seconds) if later; sweep old state daily."""
        if self.watermark is None or now > self.watermark:
            self.watermark = now
        if self._last_sweep is None:
            self._last_sweep = now
        elif now - self._last_sweep >= DAY:
            self._sweep()
            self._last_sweep = now

    def _route(self, event: Event, ts: int) -> None:
        store = event.store_id
        points, messages = route(event, self._contexts[store].vertical, self.settings.service_categories, ts)
        if points:
            self._apply_steps(store, points)
        pending = list(messages)
        while pending:
            (kind, entity_store, key), message = pending.pop()
            forwards = self.deliver(kind, entity_store, key, message)
            pending.extend(((k, entity_store, i), m) for k, i, m in forwards)

    def deliver(self, kind: Kind, store: str, key: str, message: Message) -> list[Forward]:
        """Hand a message to an entity and send the change of its steps on."""
        registry = self._registries[kind]
        entity = registry.get((store, key))
        if entity is None:
            entity = registry[(store, key)] = ENTITY_TYPES[kind]()
        change = entity.receive(message, self._contexts[store])
        if change.changed:
            if change.steps:
                self._apply_steps(store, change.steps)
            if self.watermark is not None:
                day = self.watermark // DAY
                touched = self._touched_by_day.get(day)
                if touched is None:
                    touched = self._touched_by_day[day] = set()
                touched.add((kind, (store, key)))
        return change.forwards

    def _apply_steps(self, store: str, steps: Steps) -> None:
        self._series[store].apply(steps)

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
            for index, key in self._touched_by_day.pop(day):
                registry = self._registries[index]
                entity = registry.get(key)
                if entity is not None and entity.prune(oldest_fact):
                    del registry[key]
        for day in [d for d in self._seen_by_day if d < horizon // DAY]:
            for event_id in self._seen_by_day.pop(day):
                if self._seen.get(event_id) == day:
                    del self._seen[event_id]

    def size(self) -> dict[str, int]:
        """How many things the engine holds (for benchmarks and the docs)."""
        return {
            "orders": len(self._orders),
            "customers": len(self._customers),
            "visits": len(self._visits),
            "event_ids": len(self._seen),
            "series_steps": sum(series.size() for series in self._series.values()),
        }

    # --- output ----------------------------------------------------------------------

    def snapshot(self, at: datetime, windows: Iterable[Window] = WINDOWS) -> list[KpiValue]:
        """Every KPI of every store for windows ending at ``at``."""
        cutoff = cutoff_minute(at)
        windows = tuple(windows)
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
