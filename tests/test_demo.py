"""`shoppulse demo` stops everything it started, however it is stopped, and its Prometheus
evaluates exactly the generated rules over the demo's worker."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from shoppulse.monitoring import promql
from shoppulse.monitoring.generate import PROMETHEUS, render_all
from shoppulse.monitoring.policy import Timings
from shoppulse.monitoring.prometheus_config import WORKERS_JOB

T = TypeVar("T")

HEADER = r"broker 127\.0\.0\.1:(\d+)\s+metrics (http://127\.0\.0\.1:(\d+)/metrics)"
PROMETHEUS_LINE = r"Prometheus with the generated rules and alerts:\s+(http://127\.0\.0\.1:(\d+))"


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def running(pid: int, name: str) -> bool:
    """Whether `pid` is still a live `name` (not gone, not a zombie, not a reused pid)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    comm, state = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2]
    return comm == name and state != "Z"


def child_pid(parent: int, name: str) -> int:
    """The pid of `parent`'s child called `name`, from /proc (psutil is not a dependency)."""
    for stat_path in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = stat_path.read_text()
        except OSError:  # exited while we looked
            continue
        comm, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        if comm == name and int(fields[1]) == parent:
            return int(stat_path.parent.name)
    raise AssertionError(f"process {parent} has no child {name!r}")


def wait_for(pattern: str, output: Path, demo: subprocess.Popen[bytes], timeout: float = 90) -> re.Match[str]:
    """The first match of `pattern` in the demo's output, once it is printed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, output.read_text())
        if found:
            return found
        assert demo.poll() is None, output.read_text()
        time.sleep(0.2)
    raise AssertionError(f"no {pattern!r} in {timeout} s:\n{output.read_text()}")


def poll(read: Callable[[], T], done: Callable[[T], bool], timeout: float) -> T:
    """`read()` until `done` holds of its value or `timeout` passes; the last value either
    way, so the caller's assertion shows what was seen."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(1)


@dataclass(frozen=True)
class Demo:
    process: subprocess.Popen[bytes]
    output: Path
    broker_port: int
    metrics_url: str
    metrics_port: int
    prometheus_url: str
    prometheus_port: int
    prometheus_pid: int


def as_from_a_terminal(*, nohup: bool) -> None:
    """Signals as a shell's foreground job has them: SIGINT by default (a background job
    would inherit it ignored), and SIGHUP ignored under ``nohup``."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if nohup:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)


@contextmanager
def demo_running(tmp_path: Path, *, nohup: bool = False) -> Iterator[Demo]:
    """A demo started as from a terminal, once it has printed its broker, worker and
    Prometheus; in a session of its own, so that a hangup can be sent to its group."""
    # The project's setup installs Prometheus, so a missing one is a broken setup to
    # report, not a reason to skip.
    assert shutil.which("prometheus"), "prometheus is not installed: run scripts/setup-system.sh"
    output = tmp_path / "demo.out"
    with output.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "shoppulse", "demo", "--rate", "5", "--duration", "300"],
            stdout=out,
            stderr=subprocess.STDOUT,
            # If it hangs, SIGABRT makes it print every thread's stack into its output.
            env={**os.environ, "PYTHONFAULTHANDLER": "1"},
            restore_signals=True,
            preexec_fn=lambda: as_from_a_terminal(nohup=nohup),
            start_new_session=True,
        )
    try:
        header = wait_for(HEADER, output, process)
        prometheus = wait_for(PROMETHEUS_LINE, output, process)
        yield Demo(
            process=process,
            output=output,
            broker_port=int(header[1]),
            metrics_url=header[2],
            metrics_port=int(header[3]),
            prometheus_url=prometheus[1],
            prometheus_port=int(prometheus[2]),
            prometheus_pid=child_pid(process.pid, "prometheus"),
        )
    finally:
        if process.poll() is None:
            process.kill()


def stop_and_check_nothing_is_left(demo: Demo, stop: signal.Signals, *, to_group: bool = False) -> None:
    """Send ``stop`` to the demo (or to its whole group, as a closed terminal sends a
    hangup), then check that it stopped and left no broker, worker or Prometheus."""
    if to_group:
        os.killpg(demo.process.pid, stop)
    else:
        demo.process.send_signal(stop)
    try:
        demo.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        demo.process.send_signal(signal.SIGABRT)
        demo.process.wait(timeout=10)
        stacks = demo.output.read_text()[-6000:]
        raise AssertionError(f"still running 60 s after {stop.name}:\n{stacks}") from None
    assert "stopping…" in demo.output.read_text()
    for port in (demo.broker_port, demo.metrics_port, demo.prometheus_port):
        assert not listening(port), port
    assert not running(demo.prometheus_pid, "prometheus")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_demo_leaves_nothing_running(tmp_path: Path, stop: signal.Signals) -> None:
    """No broker, worker or Prometheus, whichever way it is stopped."""
    with demo_running(tmp_path) as demo:
        for port in (demo.broker_port, demo.metrics_port, demo.prometheus_port):
            assert listening(port), port
        assert running(demo.prometheus_pid, "prometheus")
        stop_and_check_nothing_is_left(demo, stop)


def test_a_demo_under_nohup_outlives_a_hangup(tmp_path: Path) -> None:
    """``nohup shoppulse demo``: a hangup sent to its whole group, as a closed terminal
    does, stops none of it; it still stops cleanly when asked."""
    with demo_running(tmp_path, nohup=True) as demo:
        os.killpg(demo.process.pid, signal.SIGHUP)
        time.sleep(3)
        assert demo.process.poll() is None, demo.output.read_text()
        assert "stopping…" not in demo.output.read_text()
        for port in (demo.broker_port, demo.metrics_port, demo.prometheus_port):
            assert listening(port), port
        with urllib.request.urlopen(demo.metrics_url, timeout=5) as response:
            assert b"shoppulse_events_duplicate_total" in response.read()
        stop_and_check_nothing_is_left(demo, signal.SIGTERM)


def test_a_hangup_stops_a_demo_as_ctrl_c_does(tmp_path: Path) -> None:
    """A closed terminal without ``nohup``: the demo stops and leaves nothing running."""
    with demo_running(tmp_path) as demo:
        stop_and_check_nothing_is_left(demo, signal.SIGHUP, to_group=True)


def api(prometheus_url: str, path: str, **params: str) -> Any:
    """The `data` of a Prometheus HTTP API answer."""
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    with urllib.request.urlopen(f"{prometheus_url}{path}{query}", timeout=5) as response:
        answer = json.load(response)
    assert answer["status"] == "success", answer
    return answer["data"]


def ready(prometheus_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{prometheus_url}/-/ready", timeout=2) as response:
            return response.status == 200
    except OSError:  # refused, or 503 while it loads its config and rules
        return False


def generated_rule_groups() -> dict[str, list[str]]:
    """Each group of the rule files the generator writes for Prometheus, with its rules' names."""
    groups = {}
    for relative, content in render_all(Timings()).items():
        if relative.parent == PROMETHEUS / "rules":
            for group in yaml.safe_load(content)["groups"]:
                groups[group["name"]] = [rule.get("record") or rule["alert"] for rule in group["rules"]]
    return groups


def served_rule_groups(prometheus_url: str) -> dict[str, list[str]]:
    groups = api(prometheus_url, "/api/v1/rules")["groups"]
    return {group["name"]: [rule["name"] for rule in group["rules"]] for group in groups}


def worker_targets(prometheus_url: str) -> list[tuple[str, str]]:
    """(scrape URL, health) of each target of the workers' job."""
    targets = api(prometheus_url, "/api/v1/targets", state="active")["activeTargets"]
    workers = [target for target in targets if target["labels"]["job"] == WORKERS_JOB]
    return [(target["scrapeUrl"], target["health"]) for target in workers]


def test_the_demo_s_prometheus_evaluates_the_generated_rules_over_its_worker(tmp_path: Path) -> None:
    with demo_running(tmp_path) as demo:
        # Ready only once its config and rule files are loaded.
        assert poll(lambda: ready(demo.prometheus_url), bool, 30), demo.output.read_text()
        expected = generated_rule_groups()
        assert expected
        assert served_rule_groups(demo.prometheus_url) == expected

        up = [(demo.metrics_url, "up")]
        assert poll(lambda: worker_targets(demo.prometheus_url), lambda seen: seen == up, 60) == up

        # Recorded from the worker's KPI series once simulated events reach them.
        def kpi_ratios() -> list[Any]:
            return api(demo.prometheus_url, "/api/v1/query", query=promql.KPI_RATIO)["result"]

        assert poll(kpi_ratios, bool, 120), f"no {promql.KPI_RATIO}:\n{demo.output.read_text()[-3000:]}"
        # Every rule evaluates without error over real series, not just loads.
        groups = api(demo.prometheus_url, "/api/v1/rules")["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        assert {rule["name"]: rule["lastError"] for rule in rules if rule["health"] == "err"} == {}

        stop_and_check_nothing_is_left(demo, signal.SIGINT)


def test_an_unknown_window_is_refused_as_the_report_refuses_it() -> None:
    """`--window 2h` was accepted and the table said "no data" for every KPI."""
    refusals = {}
    for command in (
        ["demo", "--duration", "8"],
        ["report", "-", "--stores", "shoppulse/samples/stores.yaml"],
    ):
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "shoppulse", *command, "--window", "2h"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
            cwd=Path(__file__).resolve().parents[1],
            env={**os.environ, "COLUMNS": "300"},  # rich's error box: one line per message
        )
        assert time.monotonic() - started < 5, "refused before starting anything"
        assert (done.returncode, done.stdout) == (2, ""), command[0]
        (refusal,) = [line for line in done.stderr.splitlines() if "Invalid value" in line]
        refusals[command[0]] = refusal.strip("│ ")
    assert refusals == dict.fromkeys(
        ("demo", "report"), "Invalid value for '--window': unknown window '2h'; use one of 1h, 24h, 7d, 30d"
    )
