"""A real Prometheus scraping a real worker fed by the simulator through the embedded broker.

Shared by tests/monitoring/test_end_to_end.py and scripts/render-dashboards.py. Every
process started here is stopped when the `monitored_stack` context exits.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from shoppulse.broker import EmbeddedBroker, free_port
from shoppulse.monitoring.prometheus_config import PrometheusSetup, prometheus_yml
from shoppulse.schemas.stores import load_stores
from shoppulse.simulation import generate_events
from tests.streams.support import (
    WorkerProcess,
    batches,
    log_tail,
    produce,
    settled,
    start_worker,
    stop_process,
    wait_until,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
RULES = REPO_ROOT / "deploy" / "prometheus" / "rules"
STORES = REPO_ROOT / "shoppulse" / "samples" / "stores.yaml"
DASHBOARDS = REPO_ROOT / "dashboards"
SETUP_HINT = "run scripts/setup-system.sh as root (it installs prometheus, promtool, alertmanager and amtool)"
INTERVAL = timedelta(seconds=1)


class PromError(AssertionError):
    """Prometheus answered a query with an error (bad syntax, bad evaluation)."""


@dataclass
class Prometheus:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def api(self, path: str, **params: str | float) -> Any:
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=10) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as error:  # 400/422: a parse or evaluation error
            body = json.loads(error.read() or b"{}")
        if body.get("status") != "success":
            raise PromError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query's vector (a scalar comes back as one series without labels)."""
        params: dict[str, str | float] = {"query": expr}
        if at is not None:
            params["time"] = at
        data = self.api("/api/v1/query", **params)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def alerts(self) -> list[dict[str, Any]]:
        return list(self.api("/api/v1/alerts")["alerts"])

    def stop(self) -> None:
        stop_process(self.process)

    def tail(self) -> str:
        return log_tail(self.log)


def prometheus_binary() -> str:
    binary = shutil.which("prometheus")
    if binary is None:
        raise RuntimeError(f"`prometheus` is not on PATH: {SETUP_HINT}")
    return binary


def start_prometheus(tmp: Path, workers: Sequence[str], rule_files: Sequence[str | Path]) -> Prometheus:
    """Prometheus on a free loopback port, scraping and evaluating every second."""
    binary = prometheus_binary()
    port = free_port()
    config = tmp / "prometheus.yml"
    setup = PrometheusSetup(
        workers=workers, rule_files=rule_files, scrape_interval=INTERVAL, evaluation_interval=INTERVAL
    )
    config.write_text(prometheus_yml(setup))
    log = tmp / "prometheus.log"
    command = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    prometheus = Prometheus(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_until(lambda: _ready(prometheus), 30, lambda: f"prometheus did not start:\n{prometheus.tail()}")
    except BaseException:
        prometheus.stop()
        raise
    return prometheus


def _ready(prometheus: Prometheus) -> bool:
    if prometheus.process.poll() is not None:
        raise AssertionError(f"prometheus exited with {prometheus.process.returncode}:\n{prometheus.tail()}")
    try:
        with urllib.request.urlopen(f"{prometheus.url}/-/ready", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def _rfc3339(text: str) -> float:
    """Prometheus's timestamps carry nanoseconds; Python reads microseconds."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.replace("Z", "+00:00"))
    return datetime.fromisoformat(text).timestamp()


def wait_for_rules(prometheus: Prometheus, scrapes: int = 3, timeout: float = 30) -> None:
    """Wait for `scrapes` successful scrapes, then for every rule group to evaluate after them."""
    up = f'count_over_time(up{{job="shoppulse"}}[1m]) >= {scrapes} and up{{job="shoppulse"}} == 1'
    wait_until(lambda: bool(prometheus.query(up)), timeout, lambda: f"no scrapes:\n{prometheus.tail()}")
    since = time.time()

    def evaluated() -> bool:
        groups = prometheus.api("/api/v1/rules")["groups"]
        return bool(groups) and all(_rfc3339(g["lastEvaluation"]) > since for g in groups)

    wait_until(evaluated, timeout, "the rule groups did not evaluate")


# --- Grafana's template variables ---------------------------------------------------------
def store_options(prometheus: Prometheus, variable: dict[str, Any]) -> list[str]:
    """The values of a `label_values(metric{...}, label)` query variable, as Grafana lists them."""
    match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", variable["query"])
    assert match, variable["query"]
    return sorted(prometheus.api(f"/api/v1/label/{match[2]}/values", **{"match[]": match[1]}))


def substitute(expr: str, values: dict[str, str]) -> str:
    """Replace `$var`, `${var}` and `[[var]]` as Grafana does; fail on any variable left over."""
    builtins = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h", "__range_s": "3600"}

    def value(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        if name in values:
            return values[name]
        if name in builtins:
            return builtins[name]
        raise AssertionError(f"unknown template variable {name!r} in {expr}")

    out = re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]", value, expr)
    assert "$" not in out, out
    return out


def all_value(options: Sequence[str]) -> str:
    """What Grafana puts for `All` in a regex matcher when the variable has no custom all value."""
    # Grafana's prometheusSpecialRegexEscape: regex metacharacters get a PromQL-escaped backslash.
    escaped = (re.sub(r"([\\^$*+?.()|{}\[\]])", r"\\\\\1", option) for option in options)
    return "(" + "|".join(escaped) + ")"


def query_targets(board: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(panel, target) for every query of every panel, rows' collapsed panels included."""
    for panel in board["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            for target in inner.get("targets") or []:
                yield inner, target


def load_dashboards() -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}


# --- The stack -------------------------------------------------------------------------------
@dataclass
class Stack:
    broker: EmbeddedBroker
    worker: WorkerProcess
    prometheus: Prometheus
    events: list[dict[str, Any]]
    events_file: Path
    stores_file: Path


def simulated(profile: str, rate: float, seed: int, now: datetime) -> list[dict[str, Any]]:
    """Twenty hours of traffic between now - 22h and now - 2h: away from every window's edge."""
    return list(
        generate_events(
            load_stores(STORES),
            start=now - timedelta(hours=22),
            duration=timedelta(hours=20),
            rate=rate,
            profile=profile,
            seed=seed,
        )
    )


@contextlib.contextmanager
def monitored_stack(
    tmp: Path, *, profile: str, rate: float, seed: int, rule_files: Sequence[str | Path], app_id: str
) -> Iterator[Stack]:
    """Broker, one worker (memory state) fed the simulator's events, then Prometheus scraping it."""
    now = datetime.now(UTC)
    events = simulated(profile, rate, seed, now)
    events_file = tmp / "events.jsonl"
    events_file.write_bytes(b"".join(orjson.dumps(event) + b"\n" for event in events))
    with contextlib.ExitStack() as stack:
        broker = stack.enter_context(EmbeddedBroker(log_path=tmp / "broker.log"))
        worker = start_worker(tmp, STORES, broker.bootstrap, app_id)
        stack.callback(worker.kill)
        produce(broker.bootstrap, "storefront.events", batches(events, 200))
        wait_until(lambda: settled(worker, broker.bootstrap, app_id), 90, worker.tail)
        prometheus = start_prometheus(tmp, [f"127.0.0.1:{worker.metrics_port}"], rule_files)
        stack.callback(prometheus.stop)
        yield Stack(broker, worker, prometheus, events, events_file, STORES)


def report(stack: Stack, window: str, at: datetime) -> dict[str, Any]:
    """`shoppulse report --json` over the stack's events."""
    command = [
        sys.executable,
        "-m",
        "shoppulse",
        "report",
        str(stack.events_file),
        "--stores",
        str(stack.stores_file),
        "--json",
        "--window",
        window,
        "--at",
        at.isoformat(),
    ]
    result = subprocess.run(command, capture_output=True, check=True, timeout=60)
    return orjson.loads(result.stdout)


def next_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
