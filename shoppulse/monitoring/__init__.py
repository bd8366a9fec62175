"""Monitoring as code, generated from the KPI catalogue.

promql (query builders) -> recording, alerts (rules) -> rule_tests (promtool tests),
runbooks, alertmanager, grafana (provisioning), grafana_alerts, panels -> dashboards;
generate() writes them all, push_dashboards() uploads the dashboards to a Grafana.
"""
