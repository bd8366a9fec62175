"""Alert rules, one set per KPI from the catalogue, plus the event-flow alerts.

Per KPI (all on the recorded, worker-summed ratio, and only while its denominator
reaches the policy's minimum):
- `...BelowTypical` (warning): the tier window's value is worse than the floor;
- `...FarBelowTypical` (critical): worse than the floor by `CRITICAL_FRACTION`;
- `...SuddenDrop` (warning): the change window's value fell `CHANGE_FRACTION` below
  its own value a week earlier, whatever its tier.
Lower-is-better KPIs flip the tier comparisons and read `Above`. Their change alert,
`...SuddenRise`, fires on an absolute rise (now minus a week earlier) of more than
`CHANGE_FRACTION` of the floor: a relative rise from a near-zero baseline is noise.
Event flow: `ShopPulseStoreSilent` and `ShopPulseNoWorkerMetrics` (both critical).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from functools import partial

from shoppulse.kpis.catalogue import Kpi, Unit
from shoppulse.monitoring import policy as p
from shoppulse.monitoring import promql as q
from shoppulse.monitoring.policy import KpiPolicy, Timings
from shoppulse.monitoring.render import duration
from shoppulse.monitoring.wording import band_text, difference_text, threshold_text, value_template

PREFIX = "ShopPulse"
RUNBOOKS = "docs/runbooks.md"
EVENTS_GROUP = "shoppulse-events"


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert, engine-neutral: `measure` compared with `threshold` must hold for `for_`.

    `summary` and `description` are format strings with `{store}` and `{value}` slots.
    """

    name: str
    group: str
    severity: Severity
    measure: str
    comparison: str
    threshold: float
    for_: timedelta
    anchor: str
    condition: str
    """When it fires, in words (for the runbooks)."""
    summary: str
    description: str
    value_unit: Unit | None
    kpi: Kpi | None = None

    @property
    def expr(self) -> str:
        return f"({self.measure}) {self.comparison} {q.number(self.threshold)}"

    @property
    def labels(self) -> dict[str, str]:
        """Static labels. A KPI's own labels also name its vertical, so the two aov rule sets differ."""
        labels = {"severity": self.severity.value}
        if self.kpi is not None:
            labels |= {"vertical": self.kpi.vertical.value, "kpi": self.kpi.id}
        return labels

    @property
    def runbook_url(self) -> str:
        return f"{RUNBOOKS}#{self.anchor}"

    def annotations(self, *, store: str, value: str) -> dict[str, str]:
        return {
            "summary": self.summary.format(store=store, value=value),
            "description": self.description.format(store=store, value=value),
            "runbook_url": self.runbook_url,
        }


def kpi_anchor(kpi: Kpi) -> str:
    return f"{kpi.vertical.value}-{kpi.id}"


def camel(identifier: str) -> str:
    return "".join(part.capitalize() for part in identifier.split("_"))


def kpi_group(kpi: Kpi) -> str:
    return f"shoppulse-kpis-{kpi.vertical.value}"


def kpi_alerts(policy: KpiPolicy, timings: Timings) -> tuple[Alert, Alert, Alert]:
    kpi = policy.kpi
    lower = kpi.lower_is_better
    worse, comparison = ("above", ">") if lower else ("below", "<")
    name = PREFIX + camel(kpi.id)
    window, noun, minimum = policy.tier_window, policy.denominator_noun, policy.min_denominator
    floor = threshold_text(kpi.unit, kpi.benchmark.floor)
    critical = threshold_text(kpi.unit, policy.critical_threshold)
    band = band_text(kpi)
    guard = f"Evaluated only while the window holds at least {minimum} {noun}; smaller samples stay quiet."
    measure = q.guarded_ratio(kpi, window, minimum)
    if kpi.unit is Unit.CURRENCY:
        measure = q.with_currency(measure)
    make = partial(Alert, group=kpi_group(kpi), comparison=comparison, anchor=kpi_anchor(kpi), kpi=kpi)
    below = make(
        name=f"{name}{worse.capitalize()}Typical",
        severity=Severity.WARNING,
        measure=measure,
        threshold=kpi.benchmark.floor,
        for_=timings.below_typical,
        condition=f"{window} value {worse} {floor}",
        summary=f"{kpi.title} at {{store}} is {worse} typical ({{value}})",
        description=(
            f"{kpi.title} at {{store}} over the last {window} is {{value}}, {worse} the floor of {floor}"
            f" ({band}). {guard}"
        ),
        value_unit=kpi.unit,
    )
    far = make(
        name=f"{name}Far{worse.capitalize()}Typical",
        severity=Severity.CRITICAL,
        measure=measure,
        threshold=policy.critical_threshold,
        for_=timings.far_below_typical,
        condition=f"{window} value {worse} {critical}",
        summary=f"{kpi.title} at {{store}} is far {worse} typical ({{value}})",
        description=(
            f"{kpi.title} at {{store}} over the last {window} is {{value}}, {worse} {critical}: more than"
            f" {p.CRITICAL_FRACTION:.0%} {worse} the floor of {floor} ({band}). {guard}"
        ),
        value_unit=kpi.unit,
    )
    change_alert = _rise_alert if policy.change_is_rise else _drop_alert
    change = change_alert(policy, make, band, timings.sudden_change)
    return below, far, change


def _drop_alert(policy: KpiPolicy, make: partial[Alert], band: str, for_: timedelta) -> Alert:
    """Higher is better: the change window fell below `change_threshold` of a week earlier."""
    kpi, window, minimum = policy.kpi, policy.change_window, policy.min_denominator
    return make(
        name=f"{PREFIX}{camel(kpi.id)}SuddenDrop",
        severity=Severity.WARNING,
        measure=q.change_vs_baseline(kpi, window, minimum, p.BASELINE_OFFSET),
        threshold=policy.change_threshold,
        for_=for_,
        condition=f"{window} value below {policy.change_threshold:.0%} of a week earlier",
        summary=f"{kpi.title} at {{store}} is {{value}} of its value a week earlier",
        description=(
            f"{kpi.title} at {{store}} over the last {window} is {{value}} of its value over"
            f" the same window a week earlier (alert below {policy.change_threshold:.0%}): a sudden"
            f" drop, even if it is still within its band ({band}). Evaluated only while both"
            f" windows hold at least {minimum} {policy.denominator_noun}."
        ),
        value_unit=Unit.RATIO,
    )


def _rise_alert(policy: KpiPolicy, make: partial[Alert], band: str, for_: timedelta) -> Alert:
    """Lower is better: the change window rose by more than `change_threshold` (absolute)."""
    kpi, window, minimum = policy.kpi, policy.change_window, policy.min_denominator
    step = difference_text(kpi.unit, policy.change_threshold)
    floor = threshold_text(kpi.unit, kpi.benchmark.floor)
    return make(
        name=f"{PREFIX}{camel(kpi.id)}SuddenRise",
        severity=Severity.WARNING,
        measure=q.rise_vs_baseline(kpi, window, minimum, p.BASELINE_OFFSET),
        threshold=policy.change_threshold,
        for_=for_,
        condition=f"{window} value more than {step} above a week earlier",
        summary=f"{kpi.title} at {{store}} is up {{value}} (absolute) on the same {window} a week earlier",
        description=(
            f"{kpi.title} at {{store}} over the last {window} is {{value}} higher, in absolute terms,"
            f" than over the same window a week earlier (alert above {step}, a quarter of the floor of"
            f" {floor}): a sudden rise, even if it is still within its band ({band}). Evaluated only"
            f" while both windows hold at least {minimum} {policy.denominator_noun}."
        ),
        value_unit=kpi.unit,
    )


def event_alerts(timings: Timings) -> tuple[Alert, Alert]:
    silent = Alert(
        name=f"{PREFIX}StoreSilent",
        group=EVENTS_GROUP,
        severity=Severity.CRITICAL,
        measure=q.store_events(p.SILENCE_WINDOW),
        comparison="<",
        threshold=1,
        for_=timings.store_silent,
        anchor="store-silent",
        condition=f"no valid event in {p.SILENCE_WINDOW}",
        summary=f"Store {{store}} sent no events for {p.SILENCE_WINDOW}",
        description=(
            f"No valid event from store {{store}} was applied in the last {p.SILENCE_WINDOW}. Its KPIs are"
            " frozen or drifting, so its KPI alerts are inhibited while this fires."
        ),
        value_unit=None,
    )
    no_metrics = Alert(
        name=f"{PREFIX}NoWorkerMetrics",
        group=EVENTS_GROUP,
        severity=Severity.CRITICAL,
        measure=q.exported_stores(),
        comparison="<",
        threshold=1,
        for_=timings.no_worker_metrics,
        anchor="no-worker-metrics",
        condition="no store info series at all",
        summary="No ShopPulse worker exports metrics",
        description=(
            "Prometheus sees no shoppulse_store_info series: every worker is down or unscraped,"
            " so no KPI or store alert can fire."
        ),
        value_unit=None,
    )
    return silent, no_metrics


def all_alerts(timings: Timings) -> tuple[Alert, ...]:
    per_kpi = tuple(alert for policy in p.POLICIES for alert in kpi_alerts(policy, timings))
    return per_kpi + event_alerts(timings)


def prometheus_rule(alert: Alert) -> dict[str, object]:
    value = value_template(alert.value_unit, "$value")
    return {
        "alert": alert.name,
        "expr": alert.expr,
        "for": duration(alert.for_),
        "labels": alert.labels,
        "annotations": alert.annotations(store="{{ $labels.store }}", value=value),
    }


def rules_file(timings: Timings) -> dict[str, object]:
    """The Prometheus alerting rules file, as a YAML-ready mapping."""
    groups: dict[str, list[dict[str, object]]] = {}
    for alert in all_alerts(timings):
        groups.setdefault(alert.group, []).append(prometheus_rule(alert))
    return {"groups": [{"name": name, "rules": rules} for name, rules in groups.items()]}
