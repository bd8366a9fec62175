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
Pipeline (`pipeline_alerts`): a worker or the collector Prometheus cannot scrape, most
events or event requests refused (all critical), a consumer falling behind (warning).
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import timedelta
from enum import StrEnum
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from shoppulse.export import contract as c
from shoppulse.kpis.catalogue import Kpi, Unit
from shoppulse.monitoring import policy as p
from shoppulse.monitoring import promql as q
from shoppulse.monitoring.exceptions import MonitoringError
from shoppulse.monitoring.policy import KpiPolicy, Timings
from shoppulse.monitoring.prometheus_config import COLLECTOR_JOB, WORKERS_JOB
from shoppulse.monitoring.render import duration
from shoppulse.monitoring.wording import band_text, difference_text, threshold_text, value_template

PREFIX = "ShopPulse"
RUNBOOKS = "docs/runbooks.md"
"""Where every `runbook_url` points in the committed files: the runbooks' path in the repository.
`shoppulse generate --runbook-base-url URL` puts URL in front of it (`runbook_page`)."""
EVENTS_GROUP = "shoppulse-events"
PIPELINE_GROUP = "shoppulse-pipeline"


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert, engine-neutral: `measure` compared with `threshold` must hold for `for_`.

    `summary` and `description` are format strings with a `{value}` slot and a slot per
    label of the alerting series they name (`{store}`, `{instance}`, `{partition}`...).
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

    def annotations(self, *, value: str, labels: Mapping[str, str]) -> dict[str, str]:
        """The texts with their slots filled: `labels` maps a label name to its text."""
        slots = ChainMap({"value": value}, labels)
        return {
            "summary": self.summary.format_map(slots),
            "description": self.description.format_map(slots),
            "runbook_url": self.runbook_url,
        }


class LabelTemplates(dict[str, str]):
    """Every label name maps to its Go-template placeholder, as both alert engines read it."""

    def __missing__(self, key: str) -> str:
        return f"{{{{ $labels.{key} }}}}"


def runbook_page(base_url: str | None) -> str:
    """`RUNBOOKS` under `base_url`, the URL the repository's files are served from.

    `https://github.com/acme/shoppulse/blob/v1.4.0` gives
    `https://github.com/acme/shoppulse/blob/v1.4.0/docs/runbooks.md`; no base keeps the
    repository-relative path, which no notification can open but which stays the same
    in every clone (the committed files use it).
    """
    if base_url is None:
        return RUNBOOKS
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise MonitoringError(
            f"runbook base URL {base_url!r} must be an absolute http(s) URL without query or fragment,"
            " e.g. https://github.com/acme/shoppulse/blob/main"
        )
    return f"{base_url.rstrip('/')}/{RUNBOOKS}"


def with_runbook_page(data: Any, page: str) -> Any:
    """`data` (a rules, Grafana rules or rule-test document) with every `runbook_url` moved to `page`.

    The alerts always name `RUNBOOKS`; generation moves the finished documents, so the
    rules and the promtool tests that check their annotations can never disagree.
    """
    if isinstance(data, dict):
        moved = {key: with_runbook_page(value, page) for key, value in data.items()}
        url = data.get("runbook_url")
        if isinstance(url, str) and url.startswith(f"{RUNBOOKS}#"):
            moved["runbook_url"] = page + url.removeprefix(RUNBOOKS)
        return moved
    if isinstance(data, list):
        return [with_runbook_page(item, page) for item in data]
    return data


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
    if policy.needs_full_window:
        guard += (
            f" And only once the worker holds the store's events for the whole {window}: over a"
            " shorter history (a fresh start) repeat behaviour reads low."
        )
        measure = q.covered_ratio(measure, window)
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
    measure = q.change_vs_baseline(kpi, window, minimum, p.BASELINE_OFFSET)
    history = ""
    if policy.needs_full_window:  # a window held only in part reads repeat behaviour low
        measure = q.covered_ratio(measure, window)
        history = f", and once the worker holds the store's events for the whole {window}"
    return make(
        name=f"{PREFIX}{camel(kpi.id)}SuddenDrop",
        severity=Severity.WARNING,
        measure=measure,
        threshold=policy.change_threshold,
        for_=for_,
        condition=f"{window} value below {policy.change_threshold:.0%} of a week earlier",
        summary=f"{kpi.title} at {{store}} is {{value}} of its value a week earlier",
        description=(
            f"{kpi.title} at {{store}} over the last {window} is {{value}} of its value over"
            f" the same window a week earlier (alert below {policy.change_threshold:.0%}): a sudden"
            f" drop, even if it is still within its band ({band}). Evaluated only while both"
            f" windows hold at least {minimum} {policy.denominator_noun}{history}."
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


@dataclass(frozen=True, slots=True)
class PipelineAlerts:
    """The alerts on ShopPulse itself, before any KPI: can Prometheus see it, does it keep up."""

    worker_down: Alert
    collector_down: Alert
    worker_rejecting: Alert
    collector_rejecting: Alert
    collector_refusing: Alert
    consumer_behind: Alert

    def all(self) -> tuple[Alert, ...]:
        return tuple(getattr(self, field.name) for field in fields(self))

    def explaining_silence(self) -> tuple[Alert, ...]:
        """The critical ones: each stops valid events reaching a store's KPIs, so it also
        explains a store falling silent (Alertmanager lets them inhibit `StoreSilent`)."""
        return tuple(alert for alert in self.all() if alert.severity is Severity.CRITICAL)


def pipeline_alerts(timings: Timings) -> PipelineAlerts:
    make = partial(Alert, group=PIPELINE_GROUP, comparison=">")
    window, share = duration(p.REJECTION_WINDOW), f"{p.REJECTED_SHARE:.0%}"
    minimum, trend = p.MIN_EVENTS_FOR_REJECTION_ALERT, duration(p.LAG_TREND_WINDOW)
    worker_down = make(
        name=f"{PREFIX}WorkerDown",
        severity=Severity.CRITICAL,
        measure=q.scrape_up(WORKERS_JOB),
        comparison="<",
        threshold=1,
        for_=timings.target_down,
        anchor="worker-down",
        condition=f"a target of job `{WORKERS_JOB}` has `up == 0`",
        summary="Prometheus cannot scrape ShopPulse worker {instance}",
        description=(
            "Prometheus has failed to scrape worker {instance} for at least"
            f" {duration(timings.target_down)}. Its partitions' KPIs are missing from every dashboard"
            " and KPI alert until it is back (or Kafka hands its partitions to another worker). Silent-store"
            " alerts are inhibited meanwhile."
        ),
        value_unit=None,
    )
    collector_down = make(
        name=f"{PREFIX}CollectorDown",
        severity=Severity.CRITICAL,
        measure=q.scrape_up(COLLECTOR_JOB),
        comparison="<",
        threshold=1,
        for_=timings.target_down,
        anchor="collector-down",
        condition=f"a target of job `{COLLECTOR_JOB}` has `up == 0`",
        summary="Prometheus cannot scrape the ShopPulse collector {instance}",
        description=(
            "Prometheus has failed to scrape collector {instance} for at least"
            f" {duration(timings.target_down)}: if it is down, storefronts that send through it lose or"
            " queue their events. Silent-store alerts are inhibited meanwhile."
        ),
        value_unit=None,
    )
    # Most of the input refused, three ways: the same severity, bound, patience and unit.
    refused_share = partial(
        make,
        severity=Severity.CRITICAL,
        threshold=p.REJECTED_SHARE,
        for_=timings.events_refused,
        value_unit=Unit.RATIO,
    )
    worker_rejecting = refused_share(
        name=f"{PREFIX}WorkerRejectingEvents",
        measure=q.worker_rejected_share(window, minimum),
        anchor="worker-rejecting-events",
        condition=f"more than {share} of the events read from Kafka in {window} were refused",
        summary="ShopPulse workers refuse {value} of the events they read",
        description=(
            f"Over the last {window} the workers refused {{value}} of the events they read from Kafka"
            f" (alert above {share}, from {minimum} events): those go to the dead-letter topic and count in"
            " no KPI. Silent-store alerts are inhibited meanwhile."
        ),
    )
    collector_rejecting = refused_share(
        name=f"{PREFIX}CollectorRejectingEvents",
        measure=q.collector_rejected_share(window, minimum),
        anchor="collector-rejecting-events",
        condition=f"more than {share} of the events posted in {window} were rejected",
        summary="The ShopPulse collector rejects {value} of the events posted to it",
        description=(
            f"Over the last {window} the collector rejected {{value}} of the events storefronts posted"
            f" (alert above {share}, from {minimum} events): they failed validation and never reached"
            " Kafka. Silent-store alerts are inhibited meanwhile."
        ),
    )
    collector_refusing = refused_share(
        name=f"{PREFIX}CollectorRefusingRequests",
        measure=q.collector_refused_request_share(window, minimum),
        anchor="collector-refusing-requests",
        condition=f"more than {share} of the event requests in {window} were answered 4xx or 5xx",
        summary="The ShopPulse collector refuses {value} of event requests as a whole",
        description=(
            f"Over the last {window} the collector answered {{value}} of the requests to"
            f" {c.COLLECTOR_EVENTS_ROUTE} with a 4xx or 5xx status (alert above {share}, from"
            f" {minimum} requests): none of their events reached Kafka. Usually Kafka is unreachable,"
            " the tokens file changed, or a storefront sends bodies or events the contract refuses."
            " Silent-store alerts are inhibited meanwhile."
        ),
    )
    consumer_behind = make(
        name=f"{PREFIX}ConsumerFallingBehind",
        severity=Severity.WARNING,
        measure=q.lag_not_shrinking(trend),
        threshold=p.CONSUMER_LAG_MESSAGES,
        for_=timings.consumer_behind,
        anchor="consumer-falling-behind",
        condition=(
            f"a partition is over {p.CONSUMER_LAG_MESSAGES} messages behind, and not catching up over {trend}"
        ),
        summary="ShopPulse workers fall behind on {topic} partition {partition} ({value} messages)",
        description=(
            "The workers are {value} messages behind on partition {partition} of {topic}, and the lag did"
            f" not shrink over the last {trend} (alert above {p.CONSUMER_LAG_MESSAGES}"
            " messages): the KPIs of the stores on it are getting stale. Nothing is lost yet, Kafka keeps"
            " the events."
        ),
        value_unit=None,
    )
    return PipelineAlerts(
        worker_down,
        collector_down,
        worker_rejecting,
        collector_rejecting,
        collector_refusing,
        consumer_behind,
    )


def all_alerts(timings: Timings) -> tuple[Alert, ...]:
    per_kpi = tuple(alert for policy in p.POLICIES for alert in kpi_alerts(policy, timings))
    return per_kpi + event_alerts(timings) + pipeline_alerts(timings).all()


def prometheus_rule(alert: Alert) -> dict[str, object]:
    value = value_template(alert.value_unit, "$value")
    return {
        "alert": alert.name,
        "expr": alert.expr,
        "for": duration(alert.for_),
        "labels": alert.labels,
        "annotations": alert.annotations(value=value, labels=LabelTemplates()),
    }


def rules_file(timings: Timings) -> dict[str, object]:
    """The Prometheus alerting rules file, as a YAML-ready mapping."""
    groups: dict[str, list[dict[str, object]]] = {}
    for alert in all_alerts(timings):
        groups.setdefault(alert.group, []).append(prometheus_rule(alert))
    return {"groups": [{"name": name, "rules": rules} for name, rules in groups.items()]}
