"""The generated rules and dashboards on a real Prometheus, scraping a real worker.

The simulator's events go through the embedded broker to one worker; Prometheus (the
Debian binary) scrapes it every second with the rules of deploy/prometheus/rules. Every
query of every dashboard panel and every recording rule must parse and evaluate, and
the KPI series must equal `shoppulse report` over the same events, and the operations
queries must show series wherever the worker's series they read have data. The same
stack also checks the metric contract against the worker's /metrics and runs
scripts/render-dashboards.py. Events sit between now - 22h and now - 2h, so the worker's
windows (ending when scraped) and the report's (ending at the next minute) hold the
same events.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import matplotlib.image
import numpy as np
import pytest

from shoppulse.export.contract import WINDOWS, exported_metric_names
from shoppulse.monitoring import promql as q
from shoppulse.monitoring.generate import PROMETHEUS, generate
from shoppulse.monitoring.policy import POLICIES, Timings
from shoppulse.monitoring.recording import KPI_RULES, RECORDING_GROUPS
from tests.monitoring.conftest import REPO_ROOT, require_tool
from tests.monitoring.prometheus_support import (
    RULES,
    Prometheus,
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
from tests.monitoring.promql_names import metric_names
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
]
# Below typical too, but over 20 hours of a 30-day window: held back until the worker holds it whole.
FAILING_HELD_BACK = [
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
        # Every warning the report says is due: a tier window below its floor on a large enough
        # sample, and a window the worker holds whole. The 20 hours of traffic fill no 30-day
        # window, so the repeat KPIs, which read low over a short history, must stay quiet.
        expected, held_back = set(), set()
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
                    alert = (name, store, vertical, kpi_id)
                    (held_back if policy.needs_full_window else expected).add(alert)
        assert set(FAILING_WARNINGS) <= expected, sorted(set(FAILING_WARNINGS) - expected)
        assert len(expected) >= 13, sorted(expected)
        assert set(FAILING_HELD_BACK) <= held_back, sorted(set(FAILING_HELD_BACK) - held_back)

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
        assert firing() == expected  # none of held_back
        aov = states[("ShopPulseAovBelowTypical", "fiesta-favors")]
        assert aov["labels"]["currency"] == "EUR"
        assert aov["annotations"]["runbook_url"].endswith("#party_favors-aov")
        assert "below typical" in aov["annotations"]["summary"]
        # The critical twins fire too: failing traffic aims 35% short of the floor.
        assert ("ShopPulseOnTimeDeliveryFarBelowTypical", "fiesta-favors") in states


# --- One typical-traffic stack, shared by the tests below -----------------------------------
# It lives until the module ends, so these tests come after the failing-traffic one: two
# stacks never run at once on a small machine.

# What each recording rule reads, to trace a panel's query back to the worker's own series.
RECORDED_FROM = {rule.record: rule.expr for group in RECORDING_GROUPS for rule in group.rules}


def worker_metrics(expr: str) -> set[str]:
    """The worker's own metric names an expression reads, through the recording rules it names."""
    names: set[str] = set()
    for name in metric_names(expr):
        names |= worker_metrics(RECORDED_FROM[name]) if name in RECORDED_FROM else {name}
    return names


def has_data(prometheus: Prometheus, template: str, store_choice: str) -> bool:
    """Whether every worker series the panel query `template` reads has a sample now.

    A query filtered by `$store` reads only that store's series (the operations queries
    filter only store-labelled series by it).
    """
    matcher = f'{{store=~"{store_choice}"}}' if "$store" in template else ""
    return all(prometheus.query(f"count({name}{matcher})") for name in worker_metrics(template))


@pytest.fixture(scope="module")
def typical_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One stack for the tests that only read it: each start costs about 20 s on two cores."""
    require_tool("prometheus")
    with monitored_stack(
        tmp_path_factory.mktemp("e2e"),
        profile="typical",
        rate=0.06,
        seed=11,
        rule_files=[RULES / "*.yml"],
        app_id="e2e",
    ) as stack:
        wait_for_rules(stack.prometheus)
        yield stack


def test_every_panel_and_recording_rule_on_prometheus_equals_report(typical_stack: Stack) -> None:
    stack = typical_stack
    prometheus = stack.prometheus
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
    compared = queries = operations_checked = 0
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
                        # An operations query: when the worker series it reads have data,
                        # it must show some (a wrong label or join would show nothing).
                        if has_data(prometheus, target["expr"], store_choice):
                            assert result, (name, panel["title"], expr, "no series")
                            operations_checked += 1
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
    # 14 operations queries x (3 stores + All); fewer checked means the tracing above broke.
    assert operations_checked >= 50, operations_checked
    assert stack.worker.process.poll() is None


def test_worker_exports_exactly_the_contract_metrics(typical_stack: Stack) -> None:
    # Sample names as Prometheus stores them: a counter's `_total`, a histogram's
    # `_bucket`/`_sum`/`_count`; the contract lists the same (no `_created` is exported).
    on_metrics = {name for name, _labels in typical_stack.worker.scrape()}
    contract = exported_metric_names()
    missing = sorted(contract - on_metrics)
    assert missing == [], f"in the contract, not on the worker's /metrics: {missing}"
    unlisted = sorted(on_metrics - contract)
    assert unlisted == [], f"on the worker's /metrics, not in shoppulse/export/contract.py: {unlisted}"


RENDER_SCRIPT = REPO_ROOT / "scripts" / "render-dashboards.py"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BAR_RGB = (0x37, 0x47, 0x4F)  # the script's bar colour, #37474f: a value Prometheus returned


def render_script() -> ModuleType:
    """scripts/render-dashboards.py as a module (its hyphen rules out a plain import)."""
    spec = importlib.util.spec_from_file_location("render_dashboards", RENDER_SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_render_dashboards_draws_one_png_per_kpi_dashboard(typical_stack: Stack, tmp_path: Path) -> None:
    written = render_script().render(typical_stack.prometheus, None, tmp_path)

    kpi_dashboards = {
        name
        for name, board in load_dashboards().items()
        if any('kpi="' in target["expr"] for _panel, target in query_targets(board))
    }
    assert sorted(path.name for path in written) == sorted(f"{name}.png" for name in kpi_dashboards)
    for path in written:
        assert path.parent == tmp_path
        assert path.read_bytes().startswith(PNG_SIGNATURE), path.name
        assert path.stat().st_size > 20_000, (path.name, path.stat().st_size)
        # Bars, not only empty axes: opaque pixels of the bar colour exist.
        pixels = np.round(matplotlib.image.imread(path)[:, :, :3] * 255).astype(int)
        bar_pixels = int(np.all(pixels == BAR_RGB, axis=-1).sum())
        assert bar_pixels > 1_000, (path.name, bar_pixels)
