"""Event-flow alert tests and recording-rule tests."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import timedelta

from shoppulse.export import contract as c
from shoppulse.kpis.catalogue import CATALOGUE
from shoppulse.monitoring import alerts as a
from shoppulse.monitoring import promql as q
from shoppulse.monitoring.policy import Timings
from shoppulse.monitoring.rule_tests.common import (
    MINUTE,
    WORKER_1,
    WORKER_2,
    Json,
    check,
    checks,
    constant,
    eval_times,
    expected,
    series,
    steps,
    store_info,
)


def silence_test(timings: Timings) -> Json:
    """busy keeps sending; stopped stops after an hour; never sends anything."""
    silent, no_metrics = a.event_alerts(timings)
    stopped_at = 60
    n = stopped_at + 60 + steps(silent.for_, MINUTE) + 10
    inputs = []
    for store in ("busy", "stopped", "never"):  # every worker exports every configured store's info
        inputs += [store_info(store, "smart_home", n, WORKER_1), store_info(store, "smart_home", n, WORKER_2)]
    inputs += [
        series(c.EVENTS, {"store": "busy", "type": "order", **WORKER_1}, f"0+5x{n}"),
        series(c.EVENTS, {"store": "busy", "type": "visit", **WORKER_2}, f"0+3x{n}"),
        series(c.EVENTS, {"store": "stopped", "type": "order", **WORKER_1}, f"0+5x{stopped_at} 300x{n}"),
    ]

    def firing(*stores: str) -> list[Json]:
        return [expected(silent, {"store": s, "vertical": "smart_home"}, 0) for s in stores]

    never_pending, never_fires = eval_times(silent.for_, timedelta(0), MINUTE)
    stopped_pending, stopped_fires = eval_times(silent.for_, timedelta(minutes=stopped_at + 60), MINUTE)
    tests = [check(silent, never_pending, [])] if never_pending is not None else []
    tests.append(check(silent, never_fires, firing("never")))
    if stopped_pending is not None:
        tests.append(check(silent, stopped_pending, firing("never")))
    tests += [check(silent, stopped_fires, firing("never", "stopped")), check(no_metrics, stopped_fires, [])]
    return {
        "name": "stores that stop sending events",
        "interval": "1m",
        "input_series": inputs,
        "alert_rule_test": tests,
    }


def no_metrics_test(timings: Timings) -> Json:
    no_metrics = a.event_alerts(timings)[1]
    n = steps(no_metrics.for_, MINUTE) + 5
    return {
        "name": "no worker exports store info",
        "interval": "1m",
        "input_series": [series(c.PROCESS_CPU, WORKER_1, f"0+1x{n}")],
        "alert_rule_test": checks(no_metrics, timedelta(0), MINUTE, [expected(no_metrics, {}, 0)]),
    }


def rounded(expr: str, value: float, labels: Mapping[str, str], to: float = 0.0001) -> Json:
    """Compare through round(): promtool 2.42 has no fuzzy comparison. Mirrors PromQL's round()."""
    inverse = 1 / to
    return {
        "expr": f"round({expr}, {q.number(to)})",
        "eval_time": "10m",
        "exp_samples": [{"labels": q.matchers(labels), "value": math.floor(value * inverse + 0.5) / inverse}],
    }


def recording_test() -> Json:
    """Two workers export one store during a hand-over: the KPI is sum/sum, not an average."""
    kpi = CATALOGUE[1]
    labels = {"store": "handoff", **q.kpi_labels(kpi, "7d")}
    parts = ((WORKER_1, 1, 10), (WORKER_2, 50, 100))
    inputs = []
    for worker, numerator, denominator in parts:
        inputs += [
            series(c.KPI_NUMERATOR, {**labels, **worker}, constant(numerator, 10)),
            series(c.KPI_DENOMINATOR, {**labels, **worker}, constant(denominator, 10)),
            series(c.KPI_VALUE, {**labels, **worker}, constant(numerator / denominator, 10)),
        ]
    lag = {"topic": "shoppulse-events", "partition": "0"}
    inputs += [
        series(c.EVENTS, {"store": "handoff", "type": "order", **WORKER_1}, "0+60x10"),
        series(c.EVENTS, {"store": "handoff", "type": "visit", **WORKER_2}, "0+120x10"),
        series(c.EVENTS_REJECTED, {"reason": "invalid", **WORKER_1}, "0+30x10"),
        series(c.EVENTS_REJECTED, {"reason": "invalid", **WORKER_2}, "0+30x10"),
        series(c.EVENTS_DUPLICATE, WORKER_1, "0+6x10"),
        series(c.EVENTS_LATE, WORKER_1, "0+12x10"),
        series(f"{c.LATENCY}_bucket", {"le": "0.5", **WORKER_1}, "0+60x10"),
        series(f"{c.LATENCY}_bucket", {"le": "+Inf", **WORKER_1}, "0+60x10"),
        series(c.CONSUMER_LAG, {**lag, **WORKER_1}, constant(5, 10)),
        series(c.CONSUMER_LAG, {**lag, **WORKER_2}, constant(7, 10)),
    ]
    ratio = q.selector(q.KPI_RATIO, {"store": "handoff"})
    return {
        "name": "recording rules sum numerators and denominators across workers",
        "interval": "1m",
        "input_series": inputs,
        "promql_expr_test": [
            rounded(ratio, 51 / 110, labels),
            rounded(q.NUMERATOR, 51, labels),
            rounded(q.DENOMINATOR, 110, labels),
            rounded(q.EVENTS_RATE, 3, {"store": "handoff"}),
            rounded(q.REJECTED_RATE, 1, {"reason": "invalid"}),
            rounded(q.DUPLICATE_RATE, 0.1, {}),
            rounded(q.LATE_RATE, 0.2, {}),
            rounded(q.selector(q.LATENCY_BUCKET_RATE, {"le": "0.5"}), 1, {"le": "0.5"}),
            rounded(q.latency_quantile(0.5), 0.25, {}),
            rounded(q.LAG, 7, lag),
        ],
    }
