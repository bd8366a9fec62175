"""Dashboards: SDK round trip, every panel queries, only exported or recorded metrics, tier thresholds."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import prometheus

from shoppulse.export.contract import WINDOWS, exported_metric_names
from shoppulse.kpis.catalogue import BY_KEY, CATALOGUE
from shoppulse.monitoring import promql as q
from shoppulse.monitoring.policy import POLICIES
from shoppulse.monitoring.recording import RECORDING_GROUPS, recorded_names
from shoppulse.schemas.stores import Vertical
from tests.monitoring.conftest import REPO_ROOT, run
from tests.monitoring.promql_names import metric_names

NAMES = ["shoppulse-overview", "shoppulse-smart-home", "shoppulse-party-favors", "shoppulse-operations"]
KPI_IN_EXPR = re.compile(r'vertical="(\w+)", kpi="(\w+)"')


def load(name: str) -> dict[str, Any]:
    return json.loads((REPO_ROOT / "dashboards" / f"{name}.json").read_text())


def query_panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in board["panels"] if panel["type"] != "row"]


def exprs(board: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in query_panels(board) for target in panel["targets"]]


@pytest.mark.parametrize("name", NAMES)
def test_round_trips_through_the_sdk_model(name: str) -> None:
    register_default_plugins()
    data = load(name)
    board = model.Dashboard.from_json(data)
    assert json.loads(json.dumps(board, cls=JSONEncoder)) == data
    targets = [
        t for panel in board.panels or [] if isinstance(panel, model.Panel) for t in panel.targets or []
    ]
    assert targets
    assert all(isinstance(target, prometheus.Dataquery) for target in targets)


@pytest.mark.parametrize("name", NAMES)
def test_every_panel_has_a_query(name: str) -> None:
    panels = query_panels(load(name))
    assert panels
    for panel in panels:
        assert panel["targets"], panel["title"]
        assert all(target["expr"].strip() for target in panel["targets"]), panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


@pytest.mark.parametrize("name", NAMES)
def test_queries_name_only_exported_or_recorded_metrics(name: str) -> None:
    allowed = exported_metric_names() | recorded_names()
    for expr in exprs(load(name)):
        names = metric_names(expr)
        assert names, expr
        assert names <= allowed, f"{names - allowed} in {expr}"


def test_recording_rules_read_only_exported_metrics() -> None:
    for group in RECORDING_GROUPS:
        for rule in group.rules:
            assert metric_names(rule.expr) <= exported_metric_names() | recorded_names(), rule.record


def test_the_name_extractor_sees_through_promql() -> None:
    expr = (
        'histogram_quantile(0.5, sum by (le) (rate(a_bucket{x="y"}[5m]))) / on(store) group_left(currency)'
        " max by (store) (b offset 1w) and c:d:e or vector(0)"
    )
    assert metric_names(expr) == {"a_bucket", "b", "c:d:e"}


def test_panel_queries_parse_with_promtool(tmp_path: Path, promtool: str) -> None:
    queries = sorted({expr for name in NAMES for expr in exprs(load(name))})
    rules = [
        {"record": f"panel_query_{i}", "expr": expr.replace("$window", "7d").replace("$store", ".*")}
        for i, expr in enumerate(queries)
    ]
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    done = run(promtool, "check", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules)} rules found" in done.stdout


def kpi_panels(board: dict[str, Any]) -> list[tuple[dict[str, Any], tuple[Vertical, str]]]:
    found = []
    for panel in query_panels(board):
        expr = panel["targets"][0]["expr"]
        match = KPI_IN_EXPR.search(expr)
        if match and q.KPI_RATIO in expr:
            found.append((panel, (Vertical(match.group(1)), match.group(2))))
    return found


@pytest.mark.parametrize("name", NAMES[:3])
def test_kpi_thresholds_are_the_catalogue_tiers(name: str) -> None:
    panels = kpi_panels(load(name))
    assert panels
    for panel, key in panels:
        kpi = BY_KEY[key]
        steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        values = [step["value"] for step in steps]
        b = kpi.benchmark
        assert values[0] is None
        assert values[1:] == sorted({b.floor, b.good, b.exceptional}), (key, values)
        worst, best = ("red", "blue") if not kpi.lower_is_better else ("blue", "red")
        assert (steps[0]["color"], steps[-1]["color"]) == (worst, best)


def test_threshold_examples() -> None:
    board = load("shoppulse-smart-home")
    by_kpi = {key[1]: panel for panel, key in kpi_panels(board) if panel["type"] == "stat"}
    steps = by_kpi["installation_uptake"]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps == [
        {"color": "red", "value": None},
        {"color": "yellow", "value": 0.3},
        {"color": "blue", "value": 0.5},
    ]
    party = {
        key[1]: panel for panel, key in kpi_panels(load("shoppulse-party-favors")) if panel["type"] == "stat"
    }
    steps = party["personalization_error_rate"]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps] == [None, 0.01, 0.02, 0.05]
    assert [s["color"] for s in steps] == ["blue", "green", "yellow", "red"]


@pytest.mark.parametrize("name", NAMES[:3])
def test_units(name: str) -> None:
    for panel, key in kpi_panels(load(name)):
        defaults = panel["fieldConfig"]["defaults"]
        unit = {"ratio": "percentunit", "seconds": "s", "currency": "none"}[BY_KEY[key].unit.value]
        assert defaults["unit"] == unit, key
        if unit == "none":
            overrides = {
                o["matcher"]["options"]: o["properties"][0]["value"]
                for o in panel["fieldConfig"]["overrides"]
            }
            assert overrides[r".*\(USD\)$"] == "currencyUSD"
            assert overrides[r".*\(EUR\)$"] == "currencyEUR"
            assert panel["targets"][0]["legendFormat"] == "{{store}} ({{currency}})"
            assert "group_left(currency)" in panel["targets"][0]["expr"]


def test_overview_shows_every_kpi_once() -> None:
    panels = kpi_panels(load("shoppulse-overview"))
    assert sorted(key for _, key in panels) == sorted(kpi.key for kpi in CATALOGUE)


@pytest.mark.parametrize("vertical", list(Vertical))
def test_vertical_dashboard_layout(vertical: Vertical) -> None:
    board = load(f"shoppulse-{vertical.value.replace('_', '-')}")
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert set(variables) == {"datasource", "store", "window"}
    assert (
        variables["store"]["query"]
        == f'label_values(shoppulse_store_info{{vertical="{vertical.value}"}}, store)'
    )
    assert [o["value"] for o in variables["window"]["options"]] == list(WINDOWS)
    kinds = {}
    for panel, key in kpi_panels(board):
        assert key[0] is vertical
        kinds.setdefault(key[1], []).append(panel["type"])
    assert kinds == {kpi.id: ["stat", "timeseries"] for kpi in CATALOGUE if kpi.vertical is vertical}
    for panel in query_panels(board):
        assert 'window="$window"' in panel["targets"][0]["expr"]
        assert 'store=~"$store"' in panel["targets"][0]["expr"]
        if panel["type"] == "timeseries" and q.KPI_RATIO in panel["targets"][0]["expr"]:
            assert panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "line+area"


def test_sample_size_panels_draw_the_guardrail() -> None:
    minimums = {policy.kpi.key: policy.min_denominator for policy in POLICIES}
    seen = 0
    for vertical in Vertical:
        for panel in query_panels(load(f"shoppulse-{vertical.value.replace('_', '-')}")):
            expr = panel["targets"][0]["expr"]
            if q.DENOMINATOR in expr:
                vertical_id, kpi = KPI_IN_EXPR.search(expr).groups()
                steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
                assert steps[1]["value"] == minimums[(Vertical(vertical_id), kpi)]
                seen += 1
    assert seen == len(CATALOGUE)


def test_operations_dashboard_covers_the_event_flow() -> None:
    text = " ".join(exprs(load("shoppulse-operations")))
    for metric in (
        q.EVENTS_RATE,
        q.REJECTED_RATE,
        q.DUPLICATE_RATE,
        q.LATE_RATE,
        q.LAG,
        q.LATENCY_BUCKET_RATE,
    ):
        assert metric in text
    titles = [p["title"] for p in query_panels(load("shoppulse-operations"))]
    assert "Rejected / s by reason" in titles
    assert "Event to /metrics latency" in titles
