"""`shoppulse dashboards push` against a stand-in Grafana HTTP API (no Grafana binary here)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from typer.testing import CliRunner

from shoppulse.cli import app
from shoppulse.monitoring.exceptions import GrafanaPushError
from shoppulse.monitoring.push import push_dashboards


class FakeGrafana(ThreadingHTTPServer):
    def __init__(self, token: str) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.token = token
        self.requests: list[tuple[str, str, Any]] = []
        self.folders: set[str] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: FakeGrafana

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.server.requests.append((method, self.path, body))
        if self.headers.get("Authorization") != f"Bearer {self.server.token}":
            self._reply(401, {"message": "invalid API key"})
        elif method == "GET" and self.path.startswith("/api/folders/"):
            uid = self.path.rsplit("/", 1)[1]
            if uid in self.server.folders:
                self._reply(200, {"uid": uid})
            else:
                self._reply(404, {"message": "folder not found"})
        elif method == "POST" and self.path == "/api/folders":
            self.server.folders.add(body["uid"])
            self._reply(200, {"uid": body["uid"], "title": body["title"]})
        elif method == "POST" and self.path == "/api/dashboards/db":
            uid = body["dashboard"]["uid"]
            self._reply(200, {"status": "success", "uid": uid, "url": f"/d/{uid}/{uid}"})
        else:
            self._reply(404, {"message": "not found"})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    server = FakeGrafana(token="s3cret")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


UIDS = ["shoppulse-overview", "shoppulse-smart-home", "shoppulse-party-favors", "shoppulse-operations"]


def test_push_creates_the_folder_and_every_dashboard(grafana: FakeGrafana) -> None:
    urls = push_dashboards(grafana.url, "s3cret")
    assert urls == [f"{grafana.url}/d/{uid}/{uid}" for uid in UIDS]
    posts = [body for method, path, body in grafana.requests if path == "/api/dashboards/db"]
    assert [body["dashboard"]["uid"] for body in posts] == UIDS
    assert all(body["overwrite"] is True and body["folderUid"] == "shoppulse" for body in posts)
    assert all(body["dashboard"]["id"] is None for body in posts)
    assert ("POST", "/api/folders", {"title": "ShopPulse", "uid": "shoppulse"}) in grafana.requests


def test_push_twice_keeps_one_folder(grafana: FakeGrafana) -> None:
    push_dashboards(grafana.url, "s3cret")
    push_dashboards(grafana.url, "s3cret")
    assert sum(1 for method, path, _ in grafana.requests if (method, path) == ("POST", "/api/folders")) == 1


def test_a_wrong_token_is_a_clear_error(grafana: FakeGrafana) -> None:
    with pytest.raises(GrafanaPushError, match=r"\(HTTP 401\): Unauthorized"):
        push_dashboards(grafana.url, "wrong")


def test_unreachable_grafana_is_a_clear_error() -> None:
    with pytest.raises(GrafanaPushError, match="cannot reach Grafana"):
        push_dashboards("http://127.0.0.1:9", "token")


def test_cli_push(grafana: FakeGrafana) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["dashboards", "push", "--grafana-url", grafana.url, "--token", "s3cret"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [f"{grafana.url}/d/{uid}/{uid}" for uid in UIDS]
    failed = runner.invoke(app, ["dashboards", "push", "--grafana-url", grafana.url, "--token", "nope"])
    assert failed.exit_code == 1
    assert "failed (HTTP 401): Unauthorized" in failed.output
