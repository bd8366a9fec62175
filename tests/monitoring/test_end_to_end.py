"""The generated rules and dashboards on a real Prometheus, scraping a real worker.

The simulator's events go through the embedded broker to one worker; Prometheus (the
Debian binary) scrapes it every second with the rules of deploy/prometheus/rules. Every
query of every dashboard panel and every recording rule must parse and evaluate, and
the KPI series must equal `shoppulse report` over the same events. Events sit between
now - 22h and now - 2h, so the worker's windows (ending when scraped) and the report's
(ending at the next minute) hold the same events.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shoppulse.export.contract import WINDOWS
from shoppulse.monitoring import promql as q
from shoppulse.monitoring.generate import PROMETHEUS, generate
from shoppulse.monitoring.policy import POLICIES, Timings
from shoppulse.monitoring.recording import KPI_RULES, RECORDING_GROUPS
from tests.monitoring.conftest import require_tool
from tests.monitoring.prometheus_support import (
    RULES,
    Stack,
    all_value,
    load_dashboards,
    monitored_stack,
    next_minute,
    query_targets,
    report,
    store_options,
    substitute,
    wait_for_rules,
)
from tests.streams.support import wait_until

Key = tuple[str, str, str, str]  # store, vertical, kpi, window


def reported(stack: Stack) -> dict[Key, dict[str, Any]]:
    at = next_minute(datetime.now(UTC))
    rows = {}
    for window in WINDOWS:
        for row in report(stack, window, at)["kpis"]:
            rows[(row["store_id"], row["vertical"], row["kpi"], window)] = row
    return rows


def key(series: dict[str, Any]) -> Key:
    labels = series["metric"]
    return labels["store"], labels["vertical"], labels["kpi"], labels["window"]


def value(series: dict[str, Any]) -> float:
    return round(float(series["value"][1]), 9)


def test_every_panel_and_recording_rule_on_prometheus_equals_report(tmp_path: Path) -> None:
    require_tool("prometheus")
    with monitored_stack(
        tmp_path, profile="typical", rate=0.06, seed=11, rule_files=[RULES / "*.yml"], app_id="e2e"
    ) as stack:
        prometheus = stack.prometheus
        wait_for_rules(prometheus)
        rows = reported(stack)
        with_data = {k: row for k, row in rows.items() if row["denominator"]}
        assert len(with_data) >= 3 * 21, sorted(with_data)  # 24h, 7d, 30d of every KPI of 3 stores

        # Every recording rule, as an expression and as the series it records.
        field = {q.NUMERATOR: "numerator", q.DENOMINATOR: "denominator", q.KPI_RATIO: "value"}
        for group in RECORDING_GROUPS:
            for rule in group.rules:
                for expr in (rule.expr, rule.record):
                    result = prometheus.query(expr)
                    if group is not KPI_RULES:
                        assert result, f"{expr}: no series"
                        continue
                    got = {key(series): value(series) for series in result}
                    want = {k: round(row[field[rule.record]], 9) for k, row in with_data.items()}
                    # Empty windows (1h) may export zero counts, never a ratio.
                    extra = {k: v for k, v in got.items() if k not in want}
                    if rule.record == q.KPI_RATIO:
                        assert not extra, (expr, extra)
                    assert all(v == 0 for v in extra.values()), (expr, extra)
                    assert {k: got.get(k) for k in want} == want, expr

        # Every query of every panel, for each store (and All) and each window Grafana offers.
        compared = queries = 0
        for name, board in load_dashboards().items():
            variables = {v["name"]: v for v in board["templating"]["list"]}
            stores = store_options(prometheus, variables["store"])
            assert stores, name
            windows = [o["value"] for o in variables["window"]["options"]] if "window" in variables else [""]
            for store_choice in [*stores, all_value(stores)]:
                for window in windows:
                    values = {"store": store_choice, "window": window, "datasource": "shoppulse-prometheus"}
                    for panel, target in query_targets(board):
                        expr = substitute(target["expr"], values)
                        result = prometheus.query(expr)
                        queries += 1
                        if 'kpi="' not in expr:
                            continue
                        kind = "denominator" if q.DENOMINATOR in expr else "value"
                        got = {key(series): value(series) for series in result}
                        want = {
                            k: round(row[kind], 9)
                            for k, row in with_data.items()
                            if k[3] == window
                            and k[0] in stores
                            and (store_choice == k[0] or store_choice.startswith("("))
                            and f'vertical="{k[1]}", kpi="{k[2]}"' in expr
                        }
                        assert got == want, (name, panel["title"], expr)
                        compared += len(got)
        assert queries >= 700, queries
        assert compared >= 400, compared
        assert stack.worker.process.poll() is None


FAILING_WARNINGS = [  # (alert, store, vertical, kpi): failing traffic, samples large enough
    (
        "ShopPulseConsultationConversionBelowTypical",
        "hometech-haven",
        "smart_home",
        "consultation_conversion",
    ),
    ("ShopPulseInstallationUptakeBelowTypical", "lumen-living", "smart_home", "installation_uptake"),
    ("ShopPulseAovBelowTypical", "hometech-haven", "smart_home", "aov"),
    ("ShopPulseAovBelowTypical", "fiesta-favors", "party_favors", "aov"),
    ("ShopPulseOnTimeDeliveryBelowTypical", "fiesta-favors", "party_favors", "on_time_delivery"),
    (
        "ShopPulsePersonalizationErrorRateAboveTypical",
        "fiesta-favors",
        "party_favors",
        "personalization_error_rate",
    ),
    (
        "ShopPulseRepeatPurchaseRetentionBelowTypical",
        "lumen-living",
        "smart_home",
        "repeat_purchase_retention",
    ),
]


def test_failing_traffic_fires_below_typical_alerts(tmp_path: Path) -> None:
    require_tool("prometheus")
    generated = tmp_path / "generated"
    generate(generated, timings=Timings.uniform(timedelta(seconds=2)))
    rules = generated / PROMETHEUS / "rules" / "*.yml"
    with monitored_stack(
        tmp_path, profile="failing", rate=0.1, seed=5, rule_files=[rules], app_id="e2e-failing"
    ) as stack:
        prometheus = stack.prometheus
        rows = reported(stack)
        # Every warning the report says is due: a tier window below its floor on a large enough sample.
        expected = set()
        for policy in POLICIES:
            kpi = policy.kpi
            worse = "Above" if kpi.lower_is_better else "Below"
            for (store, vertical, kpi_id, window), row in rows.items():
                if (vertical, kpi_id) != (kpi.vertical.value, kpi.id) or window != policy.tier_window:
                    continue
                if row["denominator"] >= policy.min_denominator and row["tier"] == "below_typical":
                    name = (
                        "ShopPulse" + "".join(p.capitalize() for p in kpi.id.split("_")) + f"{worse}Typical"
                    )
                    expected.add((name, store, vertical, kpi_id))
        assert set(FAILING_WARNINGS) <= expected, sorted(set(FAILING_WARNINGS) - expected)
        assert len(expected) >= 15, sorted(expected)

        def firing() -> set[tuple[str, str, str, str]]:
            out = set()
            for alert in prometheus.alerts():
                labels = alert["labels"]
                if alert["state"] == "firing" and labels.get("severity") == "warning" and "kpi" in labels:
                    out.add((labels["alertname"], labels["store"], labels["vertical"], labels["kpi"]))
            return out

        wait_until(
            lambda: expected <= firing(),
            45,
            lambda: f"not firing: {sorted(expected - firing())}\n{prometheus.tail()}",
        )
        alerts = prometheus.alerts()
        states = {(a["labels"]["alertname"], a["labels"].get("store")): a for a in alerts}
        # No week-old baseline exists, so no sudden-change alert; and every firing KPI warning is expected.
        assert not [a for a in alerts if "Sudden" in a["labels"]["alertname"]]
        assert firing() == expected
        aov = states[("ShopPulseAovBelowTypical", "fiesta-favors")]
        assert aov["labels"]["currency"] == "EUR"
        assert aov["annotations"]["runbook_url"].endswith("#party_favors-aov")
        assert "below typical" in aov["annotations"]["summary"]
        # The critical twins fire too: failing traffic aims 35% short of the floor.
        assert ("ShopPulseOnTimeDeliveryFarBelowTypical", "fiesta-favors") in states
