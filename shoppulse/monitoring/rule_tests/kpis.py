"""Tier and week-on-week tests: every KPI of the catalogue, both verticals, one group each."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from shoppulse.kpis.catalogue import Kpi, Tier, Unit
from shoppulse.monitoring import alerts as a
from shoppulse.monitoring import policy as p
from shoppulse.monitoring import promql as q
from shoppulse.monitoring.policy import KpiPolicy, Timings
from shoppulse.monitoring.render import duration
from shoppulse.monitoring.rule_tests.common import (
    CURRENCIES,
    HOUR,
    LONG_AGO,
    MINUTE,
    STORE_PREFIX,
    WEEK,
    WORKER_1,
    WORKER_2,
    Case,
    Json,
    alert_labels,
    constant,
    data_since,
    expected,
    kpi_series,
    merged_checks,
    steps,
    store_info,
)


def tier_cases(policy: KpiPolicy) -> dict[str, Case]:
    """bad: past the floor only; awful: past the critical bound; good; tiny: awful but too small."""
    kpi, floor, critical = policy.kpi, policy.kpi.benchmark.floor, policy.critical_threshold
    far = critical + (critical - floor) / 2
    cases = {
        "awful": Case(far),
        "bad": Case((floor + critical) / 2),
        "good": Case(kpi.benchmark.good),
        "tiny": Case(far, policy.min_denominator - 1),
    }

    def worse(value: float, bound: float) -> bool:
        return value > bound if kpi.lower_is_better else value < bound

    ordered = [
        kpi.classify(cases["good"].exported) in (Tier.GOOD, Tier.EXCEPTIONAL),
        worse(cases["bad"].exported, floor),
        not worse(cases["bad"].exported, critical),
        worse(cases["awful"].exported, critical),
        worse(cases["tiny"].exported, critical),
    ]
    if not all(ordered):
        raise ValueError(f"{kpi.key}: the tiers leave no room for the rule-test cases {cases}")
    return cases


def store_name(kpi: Kpi, case: str) -> str:
    """Each vertical has its own stores: sh-bad, pf-bad."""
    return f"{STORE_PREFIX[kpi.vertical.value]}-{case}"


def tier_test(timings: Timings) -> Json:
    """Every KPI of every vertical in one group (each promtool group costs a fresh database).

    The `young` store is awful on the KPIs that need a whole window, but its worker holds
    its events only since the test began (a fresh start): those stay quiet."""
    below_for, far_for = timings.below_typical, timings.far_below_typical
    n = steps(max(below_for, far_for) + 3 * MINUTE, MINUTE)
    inputs = [
        store_info(f"{prefix}-{case}", vertical, n)
        for vertical, prefix in STORE_PREFIX.items()
        for case in ("awful", "bad", "good", "tiny", "young")
    ]
    inputs += [
        data_since(f"{prefix}-{case}", vertical, n, since=0 if case == "young" else LONG_AGO)
        for vertical, prefix in STORE_PREFIX.items()
        for case in ("awful", "bad", "good", "tiny", "young")
    ]
    firing: dict[a.Alert, list[Json]] = {}
    for policy in p.POLICIES:
        kpi, window = policy.kpi, policy.tier_window
        below, far, _ = a.kpi_alerts(policy, timings)
        cases = tier_cases(policy)
        for name, case in cases.items():
            inputs += kpi_series(
                kpi, window, store_name(kpi, name), lambda pick, case=case: constant(pick(case), n)
            )
        if policy.needs_full_window:
            inputs += kpi_series(
                kpi,
                window,
                store_name(kpi, "young"),
                lambda pick, case=cases["awful"]: constant(pick(case), n),
            )
        # The good store is awful over 1h: tier alerts must read their own window only.
        awful = cases["awful"]
        inputs += kpi_series(
            kpi, "1h", store_name(kpi, "good"), lambda pick, awful=awful: constant(pick(awful), n)
        )
        for alert, names in ((below, ("awful", "bad")), (far, ("awful",))):
            for name in names:
                labels = alert_labels(kpi, window, store_name(kpi, name), currency=kpi.unit is Unit.CURRENCY)
                firing.setdefault(alert, []).append(expected(alert, labels, cases[name].exported))
    return {
        "name": "tier alerts: past the floor, far past it, good, too small a sample, too short a history",
        "interval": duration(MINUTE),
        "input_series": inputs,
        "alert_rule_test": merged_checks(firing, timedelta(0), MINUTE),
    }


def currency_test(timings: Timings) -> Json:
    """A rolling deploy changed one store's currency: its workers disagree on it for a while.

    The disputed store must not take the AOV alerts of its vertical down with it (a
    many-to-many join error fails the whole rule): the steady store alerts with its
    currency, the disputed one with `currency="mixed"`.
    """
    below_for, far_for = timings.below_typical, timings.far_below_typical
    n = steps(max(below_for, far_for) + 3 * MINUTE, MINUTE)
    inputs: list[Json] = []
    firing: dict[a.Alert, list[Json]] = {}
    recorded: list[Json] = []
    for policy in p.POLICIES:
        kpi, window = policy.kpi, policy.tier_window
        if kpi.unit is not Unit.CURRENCY:
            continue
        vertical = kpi.vertical.value
        steady, disputed = store_name(kpi, "steady"), store_name(kpi, "disputed")
        inputs += [
            store_info(steady, vertical, n, WORKER_1),
            store_info(steady, vertical, n, WORKER_2),
            store_info(disputed, vertical, n, WORKER_1),
            store_info(disputed, vertical, n, WORKER_2, currency="GBP"),
        ]
        awful = tier_cases(policy)["awful"]
        for store in (steady, disputed):
            inputs += kpi_series(kpi, window, store, lambda pick, awful=awful: constant(pick(awful), n))
        below, far, _ = a.kpi_alerts(policy, timings)
        for store, currency in ((steady, CURRENCIES[vertical]), (disputed, q.MIXED_CURRENCY)):
            labels = {**alert_labels(kpi, window, store, currency=False), "currency": currency}
            for alert in (below, far):
                firing.setdefault(alert, []).append(expected(alert, labels, awful.exported))
            recorded.append(
                {
                    "labels": q.selector(
                        q.STORE_CURRENCY, {"currency": currency, "store": store, "vertical": vertical}
                    )
                }
            )
    return {
        "name": "a store whose workers disagree on its currency: every store still alerts on AOV",
        "interval": duration(MINUTE),
        "input_series": inputs,
        "promql_expr_test": [
            {
                "expr": q.STORE_CURRENCY,
                "eval_time": duration(MINUTE),
                "exp_samples": [{**sample, "value": 1} for sample in recorded],
            }
        ],
        "alert_rule_test": merged_checks(firing, timedelta(0), MINUTE),
    }


FIRING_CHANGES = frozenset({"moved", "from-zero"})
"""The change-test stores whose change alert must fire; the others must stay quiet."""


def change_cases(policy: KpiPolicy) -> dict[str, tuple[Case, Case]]:
    """(a week earlier, now) per store; only the `FIRING_CHANGES` stores fire.

    Lower-is-better KPIs add the two cases a relative rise got wrong, at the smallest
    sample the guardrail lets through: one error becoming two (a doubling, but a step
    well under the bound) stays quiet; none becoming many (no ratio to a zero) fires.
    """
    kpi, bound, smallest = policy.kpi, policy.change_threshold, policy.min_denominator
    base = kpi.benchmark.exceptional
    # Twice the alert's bound past the baseline: a step (rise) or a distance from 100% (drop).
    moved = base + 2 * bound if policy.change_is_rise else base * (2 * bound - 1)
    cases = {
        "moved": (Case(base), Case(moved)),
        "steady": (Case(base), Case(base)),
        "tiny": (Case(base), Case(moved, smallest - 1)),
    }
    if policy.change_is_rise:
        cases["doubled"] = (Case(1 / smallest, smallest), Case(2 / smallest, smallest))
        # Just inside the floor: no tier alert could speak for it, only the rise.
        cases["from-zero"] = (Case(0, smallest), Case(kpi.benchmark.floor * 0.9, smallest))
        doubled_step = change_value(policy, *cases["doubled"])
        from_zero_step = change_value(policy, *cases["from-zero"])
        if not doubled_step < bound < from_zero_step:
            raise ValueError(
                f"{kpi.key}: the rise bound {bound} leaves no room for the rule-test cases {cases}"
            )
    return cases


def change_value(policy: KpiPolicy, then: Case, now: Case) -> float:
    """What the change alert's measure evaluates to: a difference (rise) or a ratio (drop)."""
    if policy.change_is_rise:
        return now.exported - then.exported
    return now.exported / then.exported


def change_test(timings: Timings) -> Json:
    span = steps(timings.sudden_change + 3 * HOUR, HOUR)
    gap = steps(WEEK, HOUR) - span - 1
    stores = {
        (policy.kpi.vertical.value, store_name(policy.kpi, name))
        for policy in p.POLICIES
        for name in change_cases(policy)
    }
    length = steps(WEEK, HOUR) + span
    inputs = [store_info(store, vertical, length) for vertical, store in sorted(stores)]
    inputs += [data_since(store, vertical, length) for vertical, store in sorted(stores)]  # all held whole
    firing: dict[a.Alert, list[Json]] = {}
    for policy in p.POLICIES:
        kpi, window = policy.kpi, policy.change_window
        change = a.kpi_alerts(policy, timings)[2]
        for name, (then, now) in change_cases(policy).items():

            def values(pick: Callable[[Case], float], then: Case = then, now: Case = now) -> str:
                return f"{constant(pick(then), span)} _x{gap} {constant(pick(now), span)}"

            inputs += kpi_series(kpi, window, store_name(kpi, name), values)
            if name in FIRING_CHANGES:
                labels = alert_labels(kpi, window, store_name(kpi, name), currency=False)
                firing.setdefault(change, []).append(
                    expected(change, labels, change_value(policy, then, now))
                )
    return {
        "name": "week-on-week change: moved, steady, too small a sample; a rise from one or from zero",
        "interval": duration(HOUR),
        "input_series": inputs,
        "alert_rule_test": merged_checks(firing, WEEK, HOUR),
    }
