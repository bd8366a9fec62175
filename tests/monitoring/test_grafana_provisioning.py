"""Grafana provisioning: datasource, dashboards provider, and the alerts as Grafana-managed rules."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import yaml

from tests.monitoring.test_prometheus_rules import prometheus_alerts

PROVISIONING = Path("deploy/grafana/provisioning")


def load(generated: Path, relative: str) -> dict:
    return yaml.safe_load((generated / PROVISIONING / relative).read_text())


def grafana_rules(generated: Path) -> list[tuple[dict, dict]]:
    groups = load(generated, "alerting/shoppulse-alerts.yml")["groups"]
    return [(group, rule) for group in groups for rule in group["rules"]]


def test_datasource_and_dashboards_provider(generated: Path) -> None:
    (datasource,) = load(generated, "datasources/shoppulse.yml")["datasources"]
    assert (datasource["uid"], datasource["type"], datasource["url"]) == (
        "shoppulse-prometheus",
        "prometheus",
        "http://prometheus:9090",
    )
    (provider,) = load(generated, "dashboards/shoppulse.yml")["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/shoppulse"


def test_alert_rules_use_the_file_provisioning_shape(generated: Path) -> None:
    data = load(generated, "alerting/shoppulse-alerts.yml")
    assert data["apiVersion"] == 1
    for group in data["groups"]:
        assert set(group) == {"orgId", "name", "folder", "interval", "rules"}
        for rule in group["rules"]:
            assert not {"folderUID", "ruleGroup", "orgID"} & set(rule)
            assert {"uid", "title", "condition", "data", "for", "labels", "annotations"} <= set(rule)
            assert len(rule["uid"]) <= 40


def test_titles_are_unique_per_folder(generated: Path) -> None:
    titles = Counter((group["folder"], rule["title"]) for group, rule in grafana_rules(generated))
    assert max(titles.values()) == 1
    assert len({rule["uid"] for _, rule in grafana_rules(generated)}) == len(titles)


def test_same_alerts_as_prometheus(generated: Path) -> None:
    prometheus = prometheus_alerts(generated)
    grafana = grafana_rules(generated)
    assert len(grafana) == len(prometheus)
    for _, rule in grafana:
        twin = prometheus[(rule["title"], rule["labels"].get("vertical", ""))]
        measure, threshold = rule["data"]
        assert measure["datasourceUid"] == "shoppulse-prometheus"
        assert measure["model"]["instant"] is True
        evaluator = threshold["model"]["conditions"][0]["evaluator"]
        op = {"lt": "<", "gt": ">"}[evaluator["type"]]
        (bound,) = evaluator["params"]
        assert twin["expr"] == f"({measure['model']['expr']}) {op} {bound:.10g}"
        assert (rule["condition"], threshold["datasourceUid"], threshold["model"]["expression"]) == (
            "B",
            "__expr__",
            "A",
        )
        assert rule["for"] == twin["for"]
        assert rule["labels"] == twin["labels"]
        assert rule["noDataState"] == "OK"
        expected = {k: v.replace("$value", "$values.A.Value") for k, v in twin["annotations"].items()}
        assert rule["annotations"] == expected
