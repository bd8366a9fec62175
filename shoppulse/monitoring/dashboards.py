"""The four Grafana dashboards: overview, one per vertical, and operations.

Every query comes from `promql` and reads recorded series, so a panel shows exactly
what the alerts evaluate. Dashboards pick their datasource through a `datasource`
variable, so the same JSON works when provisioned and when pushed to another Grafana.
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import units

from shoppulse.export import contract as c
from shoppulse.kpis.catalogue import Unit
from shoppulse.monitoring import panels
from shoppulse.monitoring import policy as p
from shoppulse.monitoring import promql as q
from shoppulse.monitoring.policy import KpiPolicy
from shoppulse.schemas.stores import Vertical

TAG = "shoppulse"
VERTICAL_TITLES = {
    Vertical.SMART_HOME: "Smart-home device store",
    Vertical.PARTY_FAVORS: "Party-favour store",
}
DEFAULT_WINDOW = "7d"


def _base(uid: str, title: str, description: str) -> dash.Dashboard:
    return (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([TAG])
        .time("now-24h", "now")
        .refresh("1m")
        .timezone("browser")
        .readonly()
        .link(
            dash.DashboardLink("ShopPulse")
            .type(model.DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(True)
        )
        .with_variable(dash.DatasourceVariable("datasource").label("Data source").type("prometheus"))
    )


def store_variable(vertical: Vertical | None = None) -> dash.QueryVariable:
    match = f'{{vertical="{vertical.value}"}}' if vertical else ""
    return (
        dash.QueryVariable("store")
        .label("Store")
        .datasource(panels.DATASOURCE)
        .query(f"label_values({c.STORE_INFO}{match}, store)")
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(model.VariableOption(text="All", value="$__all", selected=True))
    )


def window_variable() -> dash.CustomVariable:
    return (
        dash.CustomVariable("window")
        .label("Window")
        .values(",".join(c.WINDOWS))
        .options([model.VariableOption(text=w, value=w, selected=w == DEFAULT_WINDOW) for w in c.WINDOWS])
        .current(model.VariableOption(text=DEFAULT_WINDOW, value=DEFAULT_WINDOW, selected=True))
        .allow_custom_value(False)
    )


def kpi_expr(policy: KpiPolicy) -> str:
    expr = q.kpi_ratio(policy.kpi, "$window", stores="$store")
    return q.with_currency(expr) if policy.kpi.unit is Unit.CURRENCY else expr


def _numbered(board: dash.Dashboard) -> dict[str, Any]:
    """The dashboard as JSON, panels numbered in layout order (Grafana needs unique ids)."""
    data: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    for number, panel in enumerate(data.get("panels", []), start=1):
        panel["id"] = number
    return data


def overview() -> dict[str, Any]:
    board = _base(
        "shoppulse-overview",
        "ShopPulse overview",
        "Every store and KPI, coloured by its benchmark tier: red below typical, yellow typical,"
        " green good, blue exceptional.",
    )
    board.with_variable(store_variable()).with_variable(window_variable())
    for vertical, title in VERTICAL_TITLES.items():
        board.with_row(dash.Row(title))
        for policy in p.POLICIES:
            if policy.kpi.vertical is vertical:
                board.with_panel(panels.kpi_stat(policy, kpi_expr(policy)))
    return _numbered(board)


def vertical_dashboard(vertical: Vertical) -> dict[str, Any]:
    slug = vertical.value.replace("_", "-")
    board = _base(
        f"shoppulse-{slug}",
        f"ShopPulse {VERTICAL_TITLES[vertical].lower()}",
        f"The {vertical.value} KPIs per store against the seeds' benchmark tiers, with the sample size"
        " the alerts need.",
    )
    board.with_variable(store_variable(vertical)).with_variable(window_variable())
    for policy in p.POLICIES:
        if policy.kpi.vertical is vertical:
            board.with_row(dash.Row(policy.kpi.title))
            board.with_panel(panels.kpi_stat(policy, kpi_expr(policy), height=8))
            board.with_panel(panels.kpi_timeseries(policy, kpi_expr(policy)))
            board.with_panel(
                panels.sample_size(policy, q.kpi_denominator(policy.kpi, "$window", stores="$store"))
            )
    return _numbered(board)


def operations() -> dict[str, Any]:
    board = _base(
        "shoppulse-operations",
        "ShopPulse operations",
        "Event flow through the workers: throughput, rejections, duplicates, late events, consumer lag,"
        " and the delay from an event to its KPI on /metrics.",
    )
    board.with_variable(store_variable())
    stores = '{store=~"$store"}'
    silent = f"count(({q.store_events(p.SILENCE_WINDOW)}) < 1) or vector(0)"
    board.with_row(dash.Row("Flow"))
    board.with_panel(
        panels.ops_stat("Events applied / s", f"sum({q.EVENTS_RATE}{stores})", units.CountsPerSecond)
    )
    board.with_panel(panels.ops_stat("Workers exporting", q.workers(), units.Short))
    board.with_panel(
        panels.ops_stat(
            f"Stores silent for {p.SILENCE_WINDOW}",
            silent,
            units.Short,
            description="Configured stores with no valid event applied in the window (ShopPulseStoreSilent).",
        )
    )
    board.with_panel(panels.ops_stat("Rejected / s", f"sum({q.REJECTED_RATE})", units.CountsPerSecond))
    board.with_panel(
        panels.ops_timeseries(
            "Events applied / s by store", [(f"{q.EVENTS_RATE}{stores}", "{{store}}")], units.CountsPerSecond
        )
    )
    board.with_panel(
        panels.ops_timeseries(
            "Rejected / s by reason", [(q.REJECTED_RATE, "{{reason}}")], units.CountsPerSecond
        )
    )
    board.with_row(dash.Row("Timeliness"))
    board.with_panel(
        panels.ops_timeseries(
            "Duplicates and late events / s",
            [(q.DUPLICATE_RATE, "duplicates"), (q.LATE_RATE, "late")],
            units.CountsPerSecond,
        )
    )
    board.with_panel(
        panels.ops_timeseries("Consumer lag (messages)", [(q.LAG, "{{topic}}/{{partition}}")], units.Short)
    )
    board.with_panel(
        panels.ops_timeseries(
            "Event to /metrics latency",
            [(q.latency_quantile(quantile), f"p{round(quantile * 100)}") for quantile in (0.5, 0.9, 0.99)],
            units.Seconds,
            description="From the event's production to its effect being visible on a worker's /metrics.",
        )
    )
    board.with_row(dash.Row("Workers"))
    board.with_panel(
        panels.ops_timeseries(
            "Worker memory",
            [
                (q.worker_only(c.PROCESS_MEMORY), "{{instance}}"),
                (c.ROCKSDB_MEMORY, "{{instance}} RocksDB"),
            ],
            units.BytesIEC,
            width=12,
            description=(
                "Resident memory, and the part RocksDB's cache holds: it fills up to its budget "
                "(SHOPPULSE_ROCKSDB_MEMORY), then stays there. The rest grows with the event ids "
                "kept 30 days for deduplication (shoppulse_dedupe_ids, about 24 bytes each)."
            ),
        )
    )
    board.with_panel(
        panels.ops_timeseries(
            "Worker CPU (cores)", [(q.worker_only(f"rate({c.PROCESS_CPU}[5m])"), "{{instance}}")], units.Short
        )
    )
    return _numbered(board)


def all_dashboards() -> dict[str, dict[str, Any]]:
    """File name (under dashboards/) -> dashboard JSON."""
    boards = [overview(), *(vertical_dashboard(v) for v in VERTICAL_TITLES), operations()]
    return {f"{board['uid']}.json": board for board in boards}
