"""Grafana provisioning: the Prometheus datasource and the dashboards provider.

`docker-compose.yml` (or any deployment) mounts `deploy/grafana/provisioning` at
`/etc/grafana/provisioning` and `dashboards/` at `DASHBOARDS_PATH`.
"""

from __future__ import annotations

DATASOURCE_UID = "shoppulse-prometheus"
DATASOURCE_NAME = "Prometheus (ShopPulse)"
PROMETHEUS_URL = "http://prometheus:9090"
DASHBOARDS_PATH = "/var/lib/grafana/dashboards/shoppulse"
FOLDER = "ShopPulse"
FOLDER_UID = "shoppulse"


def datasources() -> dict[str, object]:
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": DATASOURCE_NAME,
                "uid": DATASOURCE_UID,
                "type": "prometheus",
                "access": "proxy",
                "url": PROMETHEUS_URL,
                "isDefault": True,
                "editable": False,
                "jsonData": {"timeInterval": "15s"},
            }
        ],
    }


def dashboard_providers() -> dict[str, object]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "shoppulse",
                "folder": FOLDER,
                "folderUid": FOLDER_UID,
                "type": "file",
                "disableDeletion": False,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 30,
                "options": {"path": DASHBOARDS_PATH},
            }
        ],
    }
