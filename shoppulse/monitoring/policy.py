"""How each KPI is alerted on: which window, how large a sample, how far is "far".

The catalogue says what a KPI is and where its tiers lie. The choices here sit on top
of it, are written once, and feed the alerts, the runbooks, the dashboards and the
rule tests alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from datetime import timedelta

from shoppulse.kpis.catalogue import CATALOGUE, Kpi, Unit
from shoppulse.schemas.stores import Vertical

CRITICAL_FRACTION = 0.20
"""Critical when the KPI is 20% worse than its floor (0.8 x floor, or 1.2 x floor if lower is better)."""

CHANGE_FRACTION = 0.25
"""Sudden change: a higher-is-better KPI fell below 75% of the same window a week earlier;
a lower-is-better KPI rose by more than 25% of its floor (an absolute step, see
`KpiPolicy.change_threshold`)."""

BASELINE_OFFSET = "1w"
SILENCE_WINDOW = "1h"
"""A store that applied no valid event for this long is silent."""

EXPECTED_EVENTS = 10
"""A ratio needs this many expected events on its rarer side at the floor (n*p >= 10, n*(1-p) >= 10)."""

REJECTION_WINDOW = timedelta(minutes=10)
"""Pipeline alerts compare rejected with all events over this window."""
REJECTED_SHARE = 0.5
"""More than this share of events (or of the collector's requests) refused: most of the input is lost."""
MIN_EVENTS_FOR_REJECTION_ALERT = 20
"""Fewer events (or requests) than this in `REJECTION_WINDOW` never alert: 1 refused of 1 is no trend."""
CONSUMER_LAG_MESSAGES = 1000
"""A partition this many messages behind, and not catching up, alerts. Lag counts messages, not
events: the simulator sends one message per store every half second, so in the compose demo a
partition gets 2 a second per store on it (4 where two sample stores share one) and this is 4 to
8 minutes of its input; tune it to your traffic."""
LAG_TREND_WINDOW = timedelta(minutes=10)
"""Over this window a falling-behind partition's lag must not shrink (deriv >= 0)."""

MIN_ORDERS_FOR_AOV = 30
MIN_VISITS_FOR_TOOL_TIME = 50

_SH = Vertical.SMART_HOME
_PF = Vertical.PARTY_FAVORS
_REPEAT_KPIS = frozenset({(_SH, "repeat_purchase_retention"), (_PF, "repeat_customer_rate")})
"""Repeat behaviour needs a long window: these alert on 30d and compare 7d week on week."""

_DENOMINATOR_NOUNS: dict[tuple[Vertical, str], str] = {
    (_SH, "aov"): "orders",
    (_SH, "consultation_conversion"): "consulting customers",
    (_SH, "repeat_purchase_retention"): "ordering customers",
    (_SH, "installation_uptake"): "device orders",
    (_SH, "support_satisfaction"): "support ratings",
    (_SH, "content_engagement"): "content views",
    (_SH, "cross_sell"): "ordering customers",
    (_PF, "aov"): "orders",
    (_PF, "personalization_conversion"): "design-tool visitors",
    (_PF, "repeat_customer_rate"): "personalised-order customers",
    (_PF, "tool_time_per_visit"): "visits",
    (_PF, "personalization_error_rate"): "personalised items checked",
    (_PF, "customer_satisfaction"): "survey responses",
    (_PF, "on_time_delivery"): "orders due",
}


@dataclass(frozen=True, slots=True)
class Timings:
    """The alerts' `for:` durations. Shipped files use the defaults; only tests shorten them."""

    below_typical: timedelta = timedelta(hours=1)
    far_below_typical: timedelta = timedelta(minutes=30)
    sudden_change: timedelta = timedelta(hours=2)
    store_silent: timedelta = timedelta(minutes=15)
    no_worker_metrics: timedelta = timedelta(minutes=10)
    target_down: timedelta = timedelta(minutes=10)
    """A worker or the collector that Prometheus cannot scrape (a restart takes well under this)."""
    events_refused: timedelta = timedelta(minutes=10)
    consumer_behind: timedelta = timedelta(minutes=15)

    @classmethod
    def uniform(cls, duration: timedelta) -> Timings:
        """Every alert waits the same time: for tests that need alerts to fire quickly."""
        return replace(cls(), **{f.name: duration for f in fields(cls)})


@dataclass(frozen=True, slots=True)
class KpiPolicy:
    kpi: Kpi
    tier_window: str
    """Window compared with the catalogue's tiers."""
    change_window: str
    """Window compared with itself a week earlier."""
    min_denominator: int
    """No KPI alert while the window's denominator is below this."""
    denominator_noun: str
    needs_full_window: bool
    """Repeat KPIs read low over a window the worker holds only part of (a fresh start):
    their tier and sudden-drop alerts wait until it holds the whole window (`promql.window_covered`)."""

    @property
    def critical_threshold(self) -> float:
        floor = self.kpi.benchmark.floor
        factor = 1 + CRITICAL_FRACTION if self.kpi.lower_is_better else 1 - CRITICAL_FRACTION
        return _tidy(floor * factor)

    @property
    def change_is_rise(self) -> bool:
        """Lower is better: the change alert compares a difference, not a ratio (`change_threshold`)."""
        return self.kpi.lower_is_better

    @property
    def change_threshold(self) -> float:
        """Bound beyond which the change alert fires.

        Higher is better: on (value now / value a week earlier), alert below 0.75.
        Lower is better: on (value now - value a week earlier) in the KPI's unit, alert above
        a quarter of the floor (1.25 percentage points for a 5% error-rate floor). A ratio
        would read 1 error in 200 items becoming 2 as a 100% rise while both sit in the best
        tier, and would skip a baseline of 0 (no division), so 0 becoming 9 in 200 went
        unnoticed. At a baseline on the floor both rules agree: 25% of the floor.
        """
        if self.change_is_rise:
            return _tidy(self.kpi.benchmark.floor * CHANGE_FRACTION)
        return _tidy(1 - CHANGE_FRACTION)


def _tidy(value: float) -> float:
    """Drop float noise (0.85 * 0.8 = 0.6799999999999999) so thresholds read as written."""
    return float(f"{value:.10g}")


def min_denominator(kpi: Kpi) -> int:
    if kpi.unit is Unit.CURRENCY:
        return MIN_ORDERS_FOR_AOV
    if kpi.unit is Unit.SECONDS:
        return MIN_VISITS_FOR_TOOL_TIME
    floor = kpi.benchmark.floor
    return math.ceil(round(EXPECTED_EVENTS / min(floor, 1 - floor), 6))


def policy_for(kpi: Kpi) -> KpiPolicy:
    repeat = kpi.key in _REPEAT_KPIS
    return KpiPolicy(
        kpi=kpi,
        tier_window="30d" if repeat else "7d",
        change_window="7d" if repeat else "24h",
        min_denominator=min_denominator(kpi),
        denominator_noun=_DENOMINATOR_NOUNS[kpi.key],
        needs_full_window=repeat,
    )


POLICIES: tuple[KpiPolicy, ...] = tuple(policy_for(kpi) for kpi in CATALOGUE)
