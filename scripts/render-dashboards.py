#!/usr/bin/env python
"""Render each dashboard's KPI panels to docs/img/<dashboard>.png with matplotlib.

Every KPI stat panel becomes one small chart: a bar per store with the value Prometheus
returns for the panel's own query, over the panel's threshold bands (the catalogue's
tiers). With --prometheus URL it reads that Prometheus; without, it starts the same
stack as tests/monitoring/test_end_to_end.py (embedded broker, one worker fed twenty
hours of simulated typical traffic, a real Prometheus with the shipped rules) and stops
it afterwards.

    .venv/bin/python scripts/render-dashboards.py [--prometheus URL] [--window 24h] [--out docs/img]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tests.monitoring.prometheus_support import (  # noqa: E402
    RULES,
    Prometheus,
    all_value,
    load_dashboards,
    monitored_stack,
    query_targets,
    store_options,
    substitute,
    wait_for_rules,
)

COLOURS = {"red": "#f2495c", "yellow": "#fade2a", "green": "#73bf69", "blue": "#5794f2", "orange": "#ff9830"}
PERCENT = "percentunit"


def kpi_panels(board: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    return [
        (panel, target["expr"])
        for panel, target in query_targets(board)
        if panel["type"] == "stat" and 'kpi="' in target["expr"]
    ]


def label(series: dict[str, Any]) -> str:
    labels = series["metric"]
    return f"{labels['store']} ({labels['currency']})" if "currency" in labels else labels["store"]


def draw(axis: Any, panel: dict[str, Any], result: list[dict[str, Any]]) -> None:
    defaults = panel["fieldConfig"]["defaults"]
    percent = defaults.get("unit") == PERCENT
    scale = 100 if percent else 1
    steps = defaults["thresholds"]["steps"]
    values = [(label(series), float(series["value"][1]) * scale) for series in result]
    edges = [step["value"] * scale for step in steps if step["value"] is not None]
    top = max([*edges, *(v for _, v in values)], default=1) * 1.25
    if percent:
        top = min(top, 100)
    for index, step in enumerate(steps):
        low = 0 if step["value"] is None else step["value"] * scale
        high = top if index + 1 == len(steps) else steps[index + 1]["value"] * scale
        axis.axvspan(low, high, color=COLOURS.get(step["color"], step["color"]), alpha=0.25, lw=0)
    names = [name for name, _ in values]
    axis.barh(names, [v for _, v in values], color="#37474f", height=0.35)
    for row, (_, measured) in enumerate(values):
        text = f"{measured:.1f}%" if percent else f"{measured:,.1f}"
        axis.text(measured, row, f" {text}", va="center", fontsize=8)
    if not values:
        axis.text(
            0.5, 0.5, defaults.get("noValue", "no data"), ha="center", va="center", transform=axis.transAxes
        )
    axis.set_xlim(0, top)
    axis.set_title(panel["title"], fontsize=9, loc="left")
    axis.tick_params(labelsize=8)
    unit = "%" if percent else {"s": "seconds"}.get(defaults.get("unit"), "")
    axis.set_xlabel(unit, fontsize=8)


def render(prometheus: Prometheus, window: str | None, out: Path) -> list[Path]:
    written = []
    for name, board in load_dashboards().items():
        panels = kpi_panels(board)
        if not panels:
            continue
        variables = {v["name"]: v for v in board["templating"]["list"]}
        chosen = window or variables["window"]["current"]["value"]
        values = {"store": all_value(store_options(prometheus, variables["store"])), "window": chosen}
        columns = 2
        rows = math.ceil(len(panels) / columns)
        figure, axes = plt.subplots(rows, columns, figsize=(12, 1.9 * rows + 0.6), squeeze=False)
        for axis, (panel, expr) in zip(axes.flat, panels, strict=False):
            draw(axis, panel, prometheus.query(substitute(expr, values)))
        for axis in list(axes.flat)[len(panels) :]:
            axis.set_visible(False)
        figure.suptitle(f"{board['title']}: KPIs over the last {chosen} (bands: the catalogue's tiers)")
        figure.tight_layout()
        path = out / f"{name}.png"
        figure.savefig(path, dpi=90)
        plt.close(figure)
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prometheus", help="a Prometheus holding the recording rules (default: start one)")
    parser.add_argument("--window", help="1h, 24h, 7d or 30d (default: each dashboard's own)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "img")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.prometheus:
        url = args.prometheus.rstrip("/")
        urllib.request.urlopen(f"{url}/-/ready", timeout=5).close()
        written = render(Prometheus(None, url, Path("/dev/null")), args.window, args.out)  # type: ignore[arg-type]
    else:
        with (
            tempfile.TemporaryDirectory(prefix="shoppulse-render-") as tmp,
            monitored_stack(
                Path(tmp),
                profile="typical",
                rate=0.06,
                seed=11,
                rule_files=[RULES / "*.yml"],
                app_id="render",
            ) as stack,
        ):
            wait_for_rules(stack.prometheus)
            written = render(stack.prometheus, args.window, args.out)
    for path in written:
        print(path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path)


if __name__ == "__main__":
    main()
