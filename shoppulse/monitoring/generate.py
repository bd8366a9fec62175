"""`generate()`: write every monitoring file from the catalogue into a repository tree."""

from __future__ import annotations

from pathlib import Path

from shoppulse.monitoring import (
    alertmanager,
    alerts,
    dashboards,
    grafana,
    grafana_alerts,
    prometheus_config,
    recording,
    rule_tests,
)
from shoppulse.monitoring.policy import Timings
from shoppulse.monitoring.render import json_text, yaml_text
from shoppulse.monitoring.runbooks import runbooks_markdown

PROMETHEUS = Path("deploy/prometheus")
GRAFANA = Path("deploy/grafana/provisioning")


def render_all(timings: Timings, runbook_base_url: str | None = None) -> dict[Path, str]:
    """Relative path -> file content. Pure: nothing is written.

    `runbook_base_url` makes every `runbook_url` absolute (`alerts.runbook_page`); without
    it they stay repository-relative, as committed.
    """
    page = alerts.runbook_page(runbook_base_url)
    files = {
        Path("dashboards") / name: json_text(board) for name, board in dashboards.all_dashboards().items()
    }
    files[PROMETHEUS / "prometheus.yml"] = prometheus_config.prometheus_yml(prometheus_config.COMPOSE)
    files[PROMETHEUS / "rules/shoppulse-recording.yml"] = yaml_text(recording.rules_file())
    files[PROMETHEUS / "rules/shoppulse-alerts.yml"] = yaml_text(
        alerts.with_runbook_page(alerts.rules_file(timings), page)
    )
    for name, test in rule_tests.promtool_test_files(timings).items():
        files[PROMETHEUS / "tests" / name] = yaml_text(alerts.with_runbook_page(test, page))
    files[Path("deploy/alertmanager/alertmanager.yml")] = yaml_text(alertmanager.config())
    files[GRAFANA / "datasources/shoppulse.yml"] = yaml_text(grafana.datasources())
    files[GRAFANA / "dashboards/shoppulse.yml"] = yaml_text(grafana.dashboard_providers())
    files[GRAFANA / "alerting/shoppulse-alerts.yml"] = yaml_text(
        alerts.with_runbook_page(grafana_alerts.rules_file(timings), page)
    )
    files[Path("docs/runbooks.md")] = runbooks_markdown(timings)
    return files


def generate(
    out_root: Path, *, timings: Timings | None = None, runbook_base_url: str | None = None
) -> list[Path]:
    """Write every generated file under `out_root`; return their paths.

    `timings` shortens the alerts' `for:` durations and exists for tests only: the
    files shipped in the repository use the defaults. `runbook_base_url` is for a
    deployment's own copy (docs/monitoring.md); the committed files have none.
    """
    written = []
    for relative, content in render_all(timings or Timings(), runbook_base_url).items():
        path = out_root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written
