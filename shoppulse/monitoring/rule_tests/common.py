"""Building blocks of the promtool test files: worker series, cases, expected alerts."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from shoppulse.export import contract as c
from shoppulse.kpis.catalogue import Kpi
from shoppulse.monitoring import alerts as a
from shoppulse.monitoring import promql as q
from shoppulse.monitoring.prometheus_config import COLLECTOR_JOB, WORKERS_JOB
from shoppulse.monitoring.render import duration
from shoppulse.monitoring.wording import value_text

WORKER_1 = {"instance": "worker-1:9108", "job": WORKERS_JOB}
WORKER_2 = {"instance": "worker-2:9108", "job": WORKERS_JOB}
COLLECTOR = {"instance": "collector:8080", "job": COLLECTOR_JOB}
CURRENCIES = {"smart_home": "USD", "party_favors": "EUR"}
STORE_PREFIX = {"smart_home": "sh", "party_favors": "pf"}
DENOMINATOR = 1000
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
WEEK = timedelta(weeks=1)

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Case:
    """A store whose KPI sits at `value`, with `denominator` in the window."""

    value: float
    denominator: int = DENOMINATOR

    @property
    def numerator(self) -> int:
        return round(self.value * self.denominator)

    @property
    def exported(self) -> float:
        """The value the worker exports: integer numerator over integer denominator."""
        return self.numerator / self.denominator


def series(metric: str, labels: Mapping[str, str], values: str) -> Json:
    return {"series": q.selector(metric, labels), "values": values}


def constant(value: float, steps: int) -> str:
    """`steps + 1` samples of `value` (promtool's `axn` notation)."""
    return f"{q.number(value)}x{steps}"


def counter(*segments: tuple[float, int]) -> str:
    """A counter from 0 that grows by `per_step` for `count` steps, segment after segment.

    `counter((1, 40), (10, 30))`: 0, 1, ... 40 over the first 40 steps, then 50, 60, ...
    (promtool's `a+bxn` notation; a rate of 0 holds the counter flat).
    """
    parts, value = [], 0.0
    for index, (per_step, count) in enumerate(segments):
        first, samples = (value, count) if index == 0 else (value + per_step, count - 1)
        parts.append(f"{q.number(first)}+{q.number(per_step)}x{samples}")
        value = first + per_step * samples
    return " ".join(parts)


def steps(span: timedelta, interval: timedelta) -> int:
    return math.ceil(span / interval)


def store_info(
    store: str, vertical: str, n: int, worker: Mapping[str, str] = WORKER_1, *, currency: str | None = None
) -> Json:
    """The store's info series as `worker` exports it; `currency` defaults to its vertical's."""
    labels = {"store": store, "vertical": vertical, "currency": currency or CURRENCIES[vertical], **worker}
    return series(c.STORE_INFO, labels, constant(1, n))


LONG_AGO = -31 * 24 * 3600
"""A data-since time before every window (promtool's clock starts at 0, Unix time 0)."""


def data_since(store: str, vertical: str, n: int, since: float = LONG_AGO) -> Json:
    """The earliest event time the worker holds for the store (Unix seconds)."""
    labels = {"store": store, "vertical": vertical, **WORKER_1}
    return series(c.STORE_DATA_SINCE, labels, constant(since, n))


def kpi_series(
    kpi: Kpi, window: str, store: str, values: Callable[[Callable[[Case], float]], str]
) -> list[Json]:
    """The three gauges the worker exports for one store, KPI and window."""
    labels = {"store": store, **q.kpi_labels(kpi, window), **WORKER_1}
    return [
        series(c.KPI_NUMERATOR, labels, values(lambda case: case.numerator)),
        series(c.KPI_DENOMINATOR, labels, values(lambda case: case.denominator)),
        series(c.KPI_VALUE, labels, values(lambda case: case.exported)),
    ]


def eval_times(for_: timedelta, start: timedelta, interval: timedelta) -> tuple[timedelta | None, timedelta]:
    """(still pending, firing) evaluation times for a condition that holds from `start` on."""
    fires = start + steps(for_, interval) * interval
    return (fires - interval if for_ > timedelta(0) else None), fires + interval


def check(alert: a.Alert, at: timedelta, firing: list[Json]) -> Json:
    return {"eval_time": duration(at), "alertname": alert.name, "exp_alerts": firing}


def checks(alert: a.Alert, start: timedelta, interval: timedelta, firing: list[Json]) -> list[Json]:
    """Not firing while pending (when `for:` is not zero), then firing with `firing`."""
    pending, fires = eval_times(alert.for_, start, interval)
    return ([check(alert, pending, [])] if pending is not None else []) + [check(alert, fires, firing)]


def expected(alert: a.Alert, labels: Mapping[str, str], value: float) -> Json:
    text = value_text(alert.value_unit, value, labels.get("currency", ""))
    return {
        "exp_labels": {"severity": alert.severity.value, **labels},
        "exp_annotations": alert.annotations(value=text, labels=labels),
    }


def alert_labels(kpi: Kpi, window: str, store: str, *, currency: bool) -> dict[str, str]:
    labels = {"store": store, **q.kpi_labels(kpi, window)}
    if currency:
        labels["currency"] = CURRENCIES[kpi.vertical.value]
    return labels


def merged_checks(firing: Mapping[a.Alert, list[Json]], start: timedelta, interval: timedelta) -> list[Json]:
    """One check list per alert name (aov's alerts share names across verticals)."""
    by_name: dict[str, tuple[a.Alert, list[Json]]] = {}
    for alert, alerts in firing.items():
        by_name.setdefault(alert.name, (alert, []))[1].extend(alerts)
    result = []
    for alert, alerts in by_name.values():
        result += checks(
            alert, start, interval, sorted(alerts, key=lambda x: sorted(x["exp_labels"].items()))
        )
    return result
