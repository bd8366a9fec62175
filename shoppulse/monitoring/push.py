"""Upload the dashboards to an existing Grafana with grafana-client."""

from __future__ import annotations

from typing import Any

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException

from shoppulse.monitoring.dashboards import all_dashboards
from shoppulse.monitoring.exceptions import GrafanaPushError
from shoppulse.monitoring.grafana import FOLDER, FOLDER_UID


def _ensure_folder(api: GrafanaApi) -> None:
    try:
        api.folder.get_folder(FOLDER_UID)
    except GrafanaClientError as exc:
        if exc.status_code != 404:
            raise
        api.folder.create_folder(FOLDER, uid=FOLDER_UID)


def push_dashboards(grafana_url: str, token: str) -> list[str]:
    """Create or overwrite every ShopPulse dashboard in the `ShopPulse` folder; return their URLs.

    The dashboards choose their Prometheus through a `datasource` variable, so they work
    with whatever Prometheus datasource that Grafana has.
    """
    api = GrafanaApi.from_url(grafana_url, credential=token)
    urls = []
    try:
        _ensure_folder(api)
        for board in all_dashboards().values():
            payload: dict[str, Any] = {
                "dashboard": {**board, "id": None},
                "folderUid": FOLDER_UID,
                "overwrite": True,
                "message": "shoppulse dashboards push",
            }
            result = api.dashboard.update_dashboard(payload)
            urls.append(grafana_url.rstrip("/") + str(result.get("url", f"/d/{board['uid']}")))
    except GrafanaException as exc:
        status = f"HTTP {exc.status_code}" if exc.status_code else "no response"
        raise GrafanaPushError(
            f"pushing dashboards to {grafana_url} failed ({status}): {exc.message}"
        ) from exc
    except OSError as exc:  # the HTTP client's connection errors
        raise GrafanaPushError(f"cannot reach Grafana at {grafana_url}: {exc}") from exc
    return urls
