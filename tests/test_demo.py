"""`shoppulse demo` stops everything it started, however it is stopped."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_for_header(output: Path, demo: subprocess.Popen[bytes], timeout: float = 90) -> tuple[int, int]:
    """The broker's and the worker's metrics ports, from the demo's first line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        header = r"broker 127\.0\.0\.1:(\d+)\s+metrics http://127\.0\.0\.1:(\d+)/"
        found = re.search(header, output.read_text())
        if found:
            return int(found[1]), int(found[2])
        assert demo.poll() is None, output.read_text()
        time.sleep(0.2)
    raise AssertionError(f"no header in {timeout} s:\n{output.read_text()}")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_demo_leaves_no_broker_or_worker_behind(tmp_path: Path, stop: signal.Signals) -> None:
    output = tmp_path / "demo.out"
    with output.open("wb") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "shoppulse", "demo", "--rate", "5", "--duration", "300"],
            stdout=out,
            stderr=subprocess.STDOUT,
            # If it hangs, SIGABRT makes it print every thread's stack into its output.
            env={**os.environ, "PYTHONFAULTHANDLER": "1"},
            # SIGINT as at a terminal: a background job of a shell would inherit it ignored
            restore_signals=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        broker_port, metrics_port = wait_for_header(output, demo)
        assert listening(broker_port)
        assert listening(metrics_port)
        demo.send_signal(stop)
        try:
            demo.wait(timeout=60)
        except subprocess.TimeoutExpired:
            demo.send_signal(signal.SIGABRT)
            demo.wait(timeout=10)
            stacks = output.read_text()[-6000:]
            raise AssertionError(f"still running 60 s after {stop.name}:\n{stacks}") from None
        assert "stopping…" in output.read_text()
        assert not listening(broker_port)
        assert not listening(metrics_port)
    finally:
        if demo.poll() is None:
            demo.kill()
