"""`shoppulse worker` as a user starts it: mistakes end in one line on stderr, not a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from shoppulse.broker import free_port

SHOPPULSE = [sys.executable, "-m", "shoppulse"]


def run_worker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The worker run to its end; usage errors on one line each (rich's box wraps at COLUMNS)."""
    return subprocess.run(
        [*SHOPPULSE, "worker", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "300"},
    )


def test_no_broker_is_one_line_naming_the_address_and_what_to_do(stores_file: Path, tmp_path: Path) -> None:
    port = free_port()
    done = run_worker(
        "--stores", str(stores_file), "--broker", f"127.0.0.1:{port}", "--data-dir", str(tmp_path)
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"shoppulse: no Kafka broker answers at 127.0.0.1:{port} (Connect call failed ('127.0.0.1', {port})):"
        " start one (shoppulse broker --port PORT) or pass --broker the host:port of a running one\n"
    )


def test_an_unknown_table_store_is_a_usage_error_before_any_connection(
    stores_file: Path, tmp_path: Path
) -> None:
    """No broker listens: the flag is refused before the worker tries to reach one (it was a
    ModuleNotFoundError traceback from Faust, once a broker answered)."""
    port = free_port()
    done = run_worker("--stores", str(stores_file), "--broker", f"127.0.0.1:{port}", "--state", "bogus://")
    assert done.returncode == 2
    assert "Invalid value for '--state'" in done.stderr
    assert "'bogus://' is not one of" in done.stderr
    assert "'rocksdb://', 'memory://'" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_metrics_port_in_use_is_one_line(stores_file: Path, tmp_path: Path) -> None:
    """Checked first: no broker needs to answer (it was an OSError traceback from a Faust task)."""
    with socket.create_server(("0.0.0.0", 0)) as taken:
        port = taken.getsockname()[1]
        done = run_worker(
            "--stores", str(stores_file), "--broker", f"127.0.0.1:{free_port()}", "--metrics-port", str(port)
        )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        f"shoppulse: port {port} on 0.0.0.0 is in use: stop what listens there,"
        " or pass another --metrics-port\n"
    )
