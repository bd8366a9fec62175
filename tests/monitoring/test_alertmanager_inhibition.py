"""The committed Alertmanager config on the real `prometheus-alertmanager`: critical inhibits warning.

test_alertmanager.py compares the inhibit rules as YAML; this posts alerts shaped like
the ones the generated rules fire (their labels plus those the expression carries) and
reads back what Alertmanager itself decided.
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from shoppulse.broker import free_port
from tests.monitoring.conftest import REPO_ROOT, require_tool
from tests.streams.support import log_tail, stop_process, wait_until

CONFIG = REPO_ROOT / "deploy/alertmanager/alertmanager.yml"
ALERT_RULES = REPO_ROOT / "deploy/prometheus/rules/shoppulse-alerts.yml"


@dataclass
class Alertmanager:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        request = urllib.request.Request(
            f"{self.url}/api/v2/alerts",
            data=json.dumps(alerts).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200, response.read()

    def alerts(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=5) as response:
            return list(json.loads(response.read()))

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"alertmanager exited with {self.process.returncode}:\n{log_tail(self.log)}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                return response.status == 200
        except OSError:  # not listening yet
            return False


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Alertmanager]:
    """The Debian binary with the committed config, alone: no cluster, its own storage."""
    binary = require_tool("prometheus-alertmanager")
    port = free_port()
    log = tmp_path / "alertmanager.log"
    command = [
        binary,
        f"--config.file={CONFIG}",
        f"--storage.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",  # empty: no gossip port, no peers to wait for
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    manager = Alertmanager(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_until(manager.ready, 30, lambda: f"alertmanager did not start:\n{log_tail(log)}")
        yield manager
    finally:
        stop_process(process)


def fired(alertname: str, store: str, *, currency: str) -> dict[str, Any]:
    """The alert Prometheus sends when this committed rule fires for `store`.

    Its labels: the rule's own (severity, vertical, kpi), the name, and the labels the
    expression's series carry (store, window, currency).
    """
    rules = [rule for group in yaml.safe_load(ALERT_RULES.read_text())["groups"] for rule in group["rules"]]
    (rule,) = [r for r in rules if r["alert"] == alertname and r["labels"]["vertical"] == "smart_home"]
    window = re.search(r'window="(\w+)"', rule["expr"])
    assert window, rule["expr"]
    labels = {
        "alertname": alertname,
        **rule["labels"],
        "store": store,
        "window": window[1],
        "currency": currency,
    }
    return {
        "labels": labels,
        "annotations": {"summary": f"{alertname} at {store}"},
        "startsAt": datetime.now(UTC).isoformat(),
    }


# (alertname, store): a critical and a warning for one store's AOV, and the warning elsewhere.
CRITICAL = ("ShopPulseAovFarBelowTypical", "hometech-haven")
SAME_STORE_WARNING = ("ShopPulseAovBelowTypical", "hometech-haven")
OTHER_STORE_WARNING = ("ShopPulseAovBelowTypical", "lumen-living")


def test_critical_inhibits_the_warning_of_the_same_store_and_kpi_only(alertmanager: Alertmanager) -> None:
    posted = {key: fired(*key, currency="USD") for key in (CRITICAL, SAME_STORE_WARNING, OTHER_STORE_WARNING)}
    assert [alert["labels"]["severity"] for alert in posted.values()] == ["critical", "warning", "warning"]
    alertmanager.post_alerts(list(posted.values()))

    def by_name_and_store() -> dict[tuple[str, str], dict[str, Any]]:
        return {(a["labels"]["alertname"], a["labels"]["store"]): a for a in alertmanager.alerts()}

    def statuses() -> dict[tuple[str, str], dict[str, Any]]:
        return {key: alert["status"] for key, alert in by_name_and_store().items()}

    def warning_inhibited() -> bool:
        alert = by_name_and_store().get(SAME_STORE_WARNING)
        return alert is not None and bool(alert["status"]["inhibitedBy"])

    # The inhibitor learns of the critical alert asynchronously: wait for its verdict.
    wait_until(
        warning_inhibited,
        15,
        lambda: f"the warning was never inhibited: {statuses()}\n{log_tail(alertmanager.log)}",
    )
    alerts = by_name_and_store()
    assert alerts.keys() == posted.keys()
    inhibited = alerts[SAME_STORE_WARNING]["status"]
    assert inhibited["state"] == "suppressed"
    assert inhibited["inhibitedBy"] == [alerts[CRITICAL]["fingerprint"]]
    for key in (CRITICAL, OTHER_STORE_WARNING):
        status = alerts[key]["status"]
        assert status["state"] == "active", (key, status)
        assert status["inhibitedBy"] == [], (key, status)


def silent(store: str, vertical: str) -> dict[str, Any]:
    """The alert the committed ShopPulseStoreSilent rule sends for `store`."""
    rules = [rule for group in yaml.safe_load(ALERT_RULES.read_text())["groups"] for rule in group["rules"]]
    (rule,) = [r for r in rules if r["alert"] == "ShopPulseStoreSilent"]
    labels = {"alertname": rule["alert"], **rule["labels"], "store": store, "vertical": vertical}
    return {"labels": labels, "annotations": {}, "startsAt": datetime.now(UTC).isoformat()}


def test_a_silent_store_mutes_its_own_kpi_alerts_only(alertmanager: Alertmanager) -> None:
    silent_store = ("ShopPulseStoreSilent", "hometech-haven")
    posted = {
        silent_store: silent("hometech-haven", "smart_home"),
        CRITICAL: fired(*CRITICAL, currency="USD"),  # same store: frozen KPIs, muted
        OTHER_STORE_WARNING: fired(*OTHER_STORE_WARNING, currency="USD"),
    }
    alertmanager.post_alerts(list(posted.values()))

    def statuses() -> dict[tuple[str, str], dict[str, Any]]:
        return {(a["labels"]["alertname"], a["labels"]["store"]): a for a in alertmanager.alerts()}

    def muted() -> bool:
        alert = statuses().get(CRITICAL)
        return alert is not None and bool(alert["status"]["inhibitedBy"])

    def never_muted() -> str:
        return f"the KPI alert was never muted: {statuses()}\n{log_tail(alertmanager.log)}"

    wait_until(muted, 15, never_muted)
    alerts = statuses()
    assert alerts.keys() == posted.keys()
    assert alerts[CRITICAL]["status"]["inhibitedBy"] == [alerts[silent_store]["fingerprint"]]
    for key in (silent_store, OTHER_STORE_WARNING):
        assert alerts[key]["status"]["state"] == "active", (key, alerts[key]["status"])


def pipeline(alertname: str, **labels: str) -> dict[str, Any]:
    """The alert a committed pipeline rule sends: its own labels and its series' labels."""
    rules = [rule for group in yaml.safe_load(ALERT_RULES.read_text())["groups"] for rule in group["rules"]]
    (rule,) = [r for r in rules if r["alert"] == alertname]
    return {
        "labels": {"alertname": alertname, **rule["labels"], **labels},
        "annotations": {},
        "startsAt": datetime.now(UTC).isoformat(),
    }


def test_a_down_worker_mutes_silent_stores_but_not_the_lag_warning(alertmanager: Alertmanager) -> None:
    down = ("ShopPulseWorkerDown", "")
    lag = ("ShopPulseConsumerFallingBehind", "")
    posted = {
        down: pipeline("ShopPulseWorkerDown", instance="worker-1:9108", job="shoppulse"),
        ("ShopPulseStoreSilent", "hometech-haven"): silent("hometech-haven", "smart_home"),
        ("ShopPulseStoreSilent", "fiesta-favors"): silent("fiesta-favors", "party_favors"),
        # Critical and warning without store, vertical or kpi: "equal" must not pair them.
        lag: pipeline("ShopPulseConsumerFallingBehind", topic="storefront.events", partition="3"),
    }
    alertmanager.post_alerts(list(posted.values()))

    def statuses() -> dict[tuple[str, str], dict[str, Any]]:
        return {(a["labels"]["alertname"], a["labels"].get("store", "")): a for a in alertmanager.alerts()}

    def all_silent_muted() -> bool:
        alerts = statuses()
        silent_stores = [key for key in posted if key[0] == "ShopPulseStoreSilent"]
        return all(key in alerts and alerts[key]["status"]["inhibitedBy"] for key in silent_stores)

    wait_until(
        all_silent_muted, 15, lambda: f"silent stores not muted: {statuses()}\n{log_tail(alertmanager.log)}"
    )
    alerts = statuses()
    assert alerts.keys() == posted.keys()
    for key in posted:
        if key[0] == "ShopPulseStoreSilent":
            assert alerts[key]["status"]["inhibitedBy"] == [alerts[down]["fingerprint"]], key
    for key in (down, lag):
        assert alerts[key]["status"]["state"] == "active", (key, alerts[key]["status"])
