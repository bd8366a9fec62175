"""`shoppulse demo`: broker, worker, simulator (and Prometheus when installed), live table.

Everything runs on loopback and stops on Ctrl-C (or after ``--duration``); nothing is
left behind but a temporary directory, which is removed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from shoppulse.broker import EmbeddedBroker, free_port, wait_for_port
from shoppulse.kpis.catalogue import kpis_for
from shoppulse.render import TIER_STYLE, format_value
from shoppulse.schemas.stores import Stores
from shoppulse.streams.worker import worker_command


def run_demo(
    stores_path: Path, stores: Stores, *, rate: float, profile: str, duration: float | None, window: str
) -> None:
    console = Console()
    # A demo stopped by ``kill`` or a closed terminal stops like one stopped by Ctrl-C:
    # the default handlers end the process at once and leave its broker, worker and
    # Prometheus running. Installed before any of them exists, so none can be orphaned.
    # A hangup already ignored (``nohup shoppulse demo``) stays ignored: that is what
    # its user asked for, and the children inherit it.
    for stop_signal in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(stop_signal) is not signal.SIG_IGN:
            signal.signal(stop_signal, _interrupt)
    with tempfile.TemporaryDirectory(prefix="shoppulse-demo-") as tmp_dir, contextlib.ExitStack() as stack:
        tmp = Path(tmp_dir)
        broker = stack.enter_context(EmbeddedBroker(log_path=tmp / "broker.log"))
        metrics_port = free_port()
        worker = _start_worker(stores_path, broker.bootstrap, metrics_port, tmp)
        stack.callback(_stop, worker)
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        prometheus_url = _start_prometheus(stack, metrics_port, tmp)
        console.print(f"[bold]ShopPulse demo[/]  broker {broker.bootstrap}  metrics {metrics_url}")
        stop_simulator = threading.Event()
        simulator = threading.Thread(
            target=_simulate,
            args=(stores, broker.bootstrap, rate, profile, duration, stop_simulator),
            daemon=True,
        )
        # Unwound first: the simulator's producer stops while the broker is still up. Left
        # running, it logged a connection error every few milliseconds until the process
        # exited. Registered before the thread starts, so an interrupt at any point from
        # here on still stops it.
        stack.callback(_stop_thread, simulator, stop_simulator)
        try:
            if prometheus_url:
                console.print(f"Prometheus with the generated rules and alerts: {prometheus_url}")
            else:
                console.print("(Prometheus is not installed: scripts/setup-system.sh installs it.)")
            simulator.start()
            deadline = time.monotonic() + duration if duration else None
            with Live(console=console, refresh_per_second=1, transient=False) as live:
                while deadline is None or time.monotonic() < deadline:
                    live.update(_view(stores, metrics_url, window))
                    time.sleep(2)
        except KeyboardInterrupt:
            pass
        # A second signal must not cut the clean-up short and orphan what is still running;
        # every step below is bounded in time.
        for stop_signal in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(stop_signal, signal.SIG_IGN)
        console.print("stopping…")


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _start_worker(stores_path: Path, bootstrap: str, port: int, tmp: Path) -> subprocess.Popen[bytes]:
    command = worker_command(stores_path, bootstrap, port, tmp / "worker")
    worker = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "worker.log").open("wb"),
        env={**os.environ, "SHOPPULSE_METRICS_HOST": "127.0.0.1"},
    )
    try:
        started = wait_for_port("127.0.0.1", port, 60)
    except BaseException:  # interrupted while it starts
        _stop(worker)
        raise
    if not started:
        _stop(worker)
        raise SystemExit(f"the worker did not start:\n{(tmp / 'worker.log').read_text()[-2000:]}")
    return worker


def _start_prometheus(stack: contextlib.ExitStack, metrics_port: int, tmp: Path) -> str | None:
    """Prometheus's URL, or None when it is not installed (the demo runs without it)."""
    binary = shutil.which("prometheus")
    if binary is None:
        return None
    config = _write_prometheus_files(tmp / "prometheus", metrics_port)
    port = free_port()
    log = tmp / "prometheus.log"
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    stack.callback(_stop, process)
    if not wait_for_port("127.0.0.1", port, 20):
        # Installed but not serving (a rule it rejects, say): saying "not installed"
        # would send the user to the wrong fix.
        raise SystemExit(f"Prometheus did not start:\n{log.read_text()[-2000:]}")
    return f"http://127.0.0.1:{port}"


def _write_prometheus_files(directory: Path, metrics_port: int) -> Path:
    """Write the catalogue's rule files and a config scraping the demo's worker; return the config.

    The rules are rendered by the generator, not read from deploy/: an installed package
    has no source tree, and a checkout's files may be stale, so either way Prometheus
    would not evaluate exactly the catalogue's rules.
    """
    from shoppulse.monitoring.generate import PROMETHEUS, render_all
    from shoppulse.monitoring.policy import Timings
    from shoppulse.monitoring.prometheus_config import PrometheusSetup, prometheus_yml

    # The same layout as deploy/prometheus, so the default `rules/*.yml` beside the
    # config finds them.
    for relative, content in render_all(Timings()).items():
        if relative.parent == PROMETHEUS / "rules":
            path = directory / relative.relative_to(PROMETHEUS)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
    setup = PrometheusSetup(
        workers=[f"127.0.0.1:{metrics_port}"],
        # Shorter than the default 15 s, so the demo's graphs move while one watches.
        scrape_interval=timedelta(seconds=5),
        evaluation_interval=timedelta(seconds=5),
    )
    config = directory / "prometheus.yml"
    config.write_text(prometheus_yml(setup), encoding="utf-8")
    return config


def _simulate(
    stores: Stores, bootstrap: str, rate: float, profile: str, duration: float | None, stop: threading.Event
) -> None:
    import asyncio

    from shoppulse.simulation.live import simulate
    from shoppulse.simulation.network import REALISTIC

    asyncio.run(
        simulate(
            stores,
            bootstrap,
            rate=rate,
            duration=duration or 7 * 86400,
            profile=profile,
            history=timedelta(hours=2),
            stop=stop,
            network=REALISTIC,  # some events sent twice, some late: the title counts the copies
        )
    )


def _stop_thread(thread: threading.Thread, stop: threading.Event) -> None:
    stop.set()
    if thread.ident is not None:  # started
        thread.join(timeout=15)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def _scrape(url: str) -> Iterator[tuple[str, dict[str, str], float]]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            yield sample.name, sample.labels, sample.value


def _view(stores: Stores, url: str, window: str) -> Group:
    values: dict[tuple[str, str], float] = {}
    applied = duplicates = 0.0
    for name, labels, value in _scrape(url):
        if name == "shoppulse_kpi_value" and labels.get("window") == window:
            values[(labels["store"], labels["kpi"])] = value
        elif name == "shoppulse_events_total":
            applied += value
        elif name == "shoppulse_events_duplicate_total":
            duplicates += value
    counts = f"{applied:,.0f} events applied, {duplicates:,.0f} sent twice and dropped"
    table = Table(title=f"KPIs over the last {window}  ({counts})", title_justify="left")
    for column in ("store", "KPI", "value", "tier"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for store in stores.stores:
        for kpi in kpis_for(store.vertical):
            value = values.get((store.id, kpi.id))
            tier = kpi.classify(value) if value is not None else None
            table.add_row(
                store.id,
                kpi.title,
                format_value(value, kpi.unit, store.currency),
                Text(tier.value.replace("_", " "), style=TIER_STYLE[tier]) if tier else Text("no data"),
            )
    return Group(table, Text("Ctrl-C stops the demo.", style="dim"))
