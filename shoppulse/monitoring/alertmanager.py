"""Alertmanager configuration: route by severity; a critical alert silences its warnings;
a pipeline failure silences the silent-store alerts it causes.

The receivers carry no integration: fill in email, Slack or PagerDuty settings where
you deploy (docs/monitoring.md says how). Names stay fixed so routes can be tested.
"""

from __future__ import annotations

from shoppulse.monitoring.alerts import PREFIX, Severity, pipeline_alerts
from shoppulse.monitoring.policy import Timings

CRITICAL_RECEIVER = "shoppulse-critical"
WARNING_RECEIVER = "shoppulse-warning"
DEFAULT_RECEIVER = "shoppulse-default"


def config() -> dict[str, object]:
    silence_causes = "|".join(alert.name for alert in pipeline_alerts(Timings()).explaining_silence())
    return {
        "route": {
            "receiver": DEFAULT_RECEIVER,
            "group_by": ["alertname", "vertical", "store"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "12h",
            "routes": [
                {
                    "receiver": CRITICAL_RECEIVER,
                    "matchers": [f'severity="{Severity.CRITICAL.value}"'],
                    "group_wait": "10s",
                    "repeat_interval": "1h",
                },
                {
                    "receiver": WARNING_RECEIVER,
                    "matchers": [f'severity="{Severity.WARNING.value}"'],
                    "repeat_interval": "12h",
                },
            ],
        },
        "inhibit_rules": [
            {
                # Far below typical silences below typical and the sudden change for the same KPI.
                # Only KPI warnings: Alertmanager counts a label missing on both sides as equal, so
                # without `kpi=~".+"` any critical pipeline alert would silence the lag warning.
                "source_matchers": [f'severity="{Severity.CRITICAL.value}"'],
                "target_matchers": [f'severity="{Severity.WARNING.value}"', 'kpi=~".+"'],
                "equal": ["store", "vertical", "kpi"],
            },
            {
                # A silent store's KPIs only reflect the silence.
                "source_matchers": [f'alertname="{PREFIX}StoreSilent"'],
                "target_matchers": ['kpi=~".+"'],
                "equal": ["store"],
            },
            {
                # A worker or collector down, or most events refused, silences stores: the pipeline
                # alert names the cause and its runbook, the per-store silence would only repeat it.
                "source_matchers": [f'alertname=~"{silence_causes}"'],
                "target_matchers": [f'alertname="{PREFIX}StoreSilent"'],
            },
        ],
        "receivers": [{"name": name} for name in (DEFAULT_RECEIVER, CRITICAL_RECEIVER, WARNING_RECEIVER)],
    }
