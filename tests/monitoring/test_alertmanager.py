"""Alertmanager: the config loads, severities reach their receivers, critical inhibits warning."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shoppulse.monitoring.alerts import all_alerts
from shoppulse.monitoring.policy import Timings
from tests.monitoring.conftest import run

CONFIG = Path("deploy/alertmanager/alertmanager.yml")


def test_amtool_check_config(generated: Path, amtool: str) -> None:
    done = run(amtool, "check-config", str(generated / CONFIG))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
    assert " - 3 inhibit rules" in done.stdout
    assert " - 3 receivers" in done.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (
            ["alertname=ShopPulseAovFarBelowTypical", "severity=critical", "store=s1", "kpi=aov"],
            "shoppulse-critical",
        ),
        (["alertname=ShopPulseStoreSilent", "severity=critical", "store=s1"], "shoppulse-critical"),
        (
            ["alertname=ShopPulseAovBelowTypical", "severity=warning", "store=s1", "kpi=aov"],
            "shoppulse-warning",
        ),
        (["alertname=ShopPulseAovSuddenDrop", "severity=warning"], "shoppulse-warning"),
        (["alertname=ShopPulseWorkerDown", "severity=critical", "instance=w1:9108"], "shoppulse-critical"),
        (
            ["alertname=ShopPulseConsumerFallingBehind", "severity=warning", "partition=3"],
            "shoppulse-warning",
        ),
        (["alertname=SomethingElse"], "shoppulse-default"),
    ],
)
def test_routes(generated: Path, amtool: str, labels: list[str], receiver: str) -> None:
    config = f"--config.file={generated / CONFIG}"
    done = run(amtool, "config", "routes", "test", config, f"--verify.receivers={receiver}", *labels)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == receiver
    for other in {"shoppulse-critical", "shoppulse-warning", "shoppulse-default"} - {receiver}:
        wrong = run(amtool, "config", "routes", "test", config, f"--verify.receivers={other}", *labels)
        assert wrong.returncode == 1, f"{labels} also routed to {other}"


def test_critical_inhibits_the_matching_warning(generated: Path) -> None:
    rules = yaml.safe_load((generated / CONFIG).read_text())["inhibit_rules"]
    assert rules[0] == {
        "source_matchers": ['severity="critical"'],
        "target_matchers": ['severity="warning"', 'kpi=~".+"'],
        "equal": ["store", "vertical", "kpi"],
    }
    assert rules[1]["source_matchers"] == ['alertname="ShopPulseStoreSilent"']
    assert rules[1]["equal"] == ["store"]


def test_critical_pipeline_alerts_inhibit_store_silent(generated: Path) -> None:
    rule = yaml.safe_load((generated / CONFIG).read_text())["inhibit_rules"][2]
    assert rule["target_matchers"] == ['alertname="ShopPulseStoreSilent"']
    assert "equal" not in rule  # a down worker explains every store's silence
    (matcher,) = rule["source_matchers"]
    assert set(matcher.removeprefix('alertname=~"').removesuffix('"').split("|")) == {
        "ShopPulseWorkerDown",
        "ShopPulseCollectorDown",
        "ShopPulseWorkerRejectingEvents",
        "ShopPulseCollectorRejectingEvents",
        "ShopPulseCollectorRefusingRequests",
    }


def test_every_alert_severity_has_a_route(generated: Path) -> None:
    routes = yaml.safe_load((generated / CONFIG).read_text())["route"]["routes"]
    routed = {matcher for route in routes for matcher in route["matchers"]}
    assert {f'severity="{alert.severity.value}"' for alert in all_alerts(Timings())} == routed
