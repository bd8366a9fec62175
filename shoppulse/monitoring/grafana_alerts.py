"""The Prometheus alerts as Grafana-managed rules, for deployments without Alertmanager.

Built with the foundation SDK's alerting builders, which produce the HTTP API shape,
then reshaped into the file-provisioning shape (`apiVersion: 1`, `groups:`): the
folder, group and org move from each rule up to its group. Query A is the alert's
measure, B the threshold on it, so thresholds show in Grafana's rule editor.
Use one engine, not both (docs/monitoring.md).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from grafana_foundation_sdk.builders import alerting, expr, prometheus
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import alerting as alerting_model

from shoppulse.monitoring.alerts import Alert, LabelTemplates, all_alerts
from shoppulse.monitoring.grafana import DATASOURCE_UID, FOLDER
from shoppulse.monitoring.policy import Timings
from shoppulse.monitoring.render import duration
from shoppulse.monitoring.wording import value_template

EXPRESSION_UID = "__expr__"
QUERY_RANGE_SECONDS = 600
EVALUATION_INTERVAL = "1m"
_HTTP_ONLY_FIELDS = ("folderUID", "ruleGroup", "orgID")


def rule_uid(alert: Alert) -> str:
    digest = hashlib.sha256(f"{alert.group}/{alert.name}".encode()).hexdigest()[:16]
    return f"shoppulse-{digest}"


def folder_title(group: str) -> str:
    """A folder per rule group: Grafana wants rule titles unique within a folder (aov exists twice)."""
    return f"{FOLDER} {group.removeprefix('shoppulse-kpis-').removeprefix('shoppulse-')}"


def rule(alert: Alert) -> alerting.Rule:
    measure = (
        alerting.Query("A")
        .datasource_uid(DATASOURCE_UID)
        .relative_time_range(alerting_model.RelativeTimeRange(from_val=QUERY_RANGE_SECONDS, to=0))
        .model(prometheus.Dataquery().expr(alert.measure).instant().ref_id("A"))
    )
    evaluator = expr.ExprTypeThresholdConditionsEvaluator()
    evaluator.type("gt" if alert.comparison == ">" else "lt").params([alert.threshold])
    threshold = (
        alerting.Query("B")
        .datasource_uid(EXPRESSION_UID)
        .model(
            expr.TypeThreshold()
            .expression("A")
            .ref_id("B")
            .conditions([expr.ExprTypeThresholdConditions().evaluator(evaluator)])
        )
    )
    value = value_template(alert.value_unit, "$values.A.Value")
    return (
        alerting.Rule(alert.name)
        .uid(rule_uid(alert))
        .queries([measure, threshold])
        .condition("B")
        .for_val(duration(alert.for_))
        .no_data_state("OK")
        .exec_err_state("Error")
        .labels(alert.labels)
        .annotations(alert.annotations(value=value, labels=LabelTemplates()))
        .is_paused(False)
    )


def file_rule(alert: Alert) -> dict[str, Any]:
    """One rule in the file-provisioning shape."""
    api_shape: dict[str, Any] = json.loads(json.dumps(rule(alert).build(), cls=JSONEncoder))
    return {key: value for key, value in api_shape.items() if key not in _HTTP_ONLY_FIELDS}


def rules_file(timings: Timings) -> dict[str, object]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for alert in all_alerts(timings):
        groups.setdefault(alert.group, []).append(file_rule(alert))
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": name,
                "folder": folder_title(name),
                "interval": EVALUATION_INTERVAL,
                "rules": rules,
            }
            for name, rules in groups.items()
        ],
    }
