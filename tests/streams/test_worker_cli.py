"""`shoppulse worker` as a user starts it: mistakes end in one line on stderr, not a traceback."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import TopicPartition

from shoppulse.broker import EmbeddedBroker, free_port
from shoppulse.streams.local_state import LocalStateMismatch, LocalTable, unbacked
from tests.streams.support import exported, figures_after_restart, produce, start_worker, wait_settled
from tests.streams.traffic import traffic

SHOPPULSE = [sys.executable, "-m", "shoppulse"]


def run_worker(
    *args: str, app_id: str = "shoppulse", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The worker run to its end; usage errors on one line each (rich's box wraps at COLUMNS)."""
    return subprocess.run(
        [*SHOPPULSE, "worker", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "300", "SHOPPULSE_APP_ID": app_id},
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


def test_tables_a_restarted_broker_has_no_changelog_of_are_one_line_and_kept(
    tmp_path: Path, stores_file: Path
) -> None:
    """The README's broker and worker, both stopped and started again: the worker ended in
    Faust's ConsistencyError traceback, or served the old figures where Faust had stored
    no offset. On the broker that holds its changelogs it restarts as before."""
    app_id = "restart"
    _, messages, _ = traffic(600, seed=21)
    data_dir = tmp_path / "w1-data"  # start_worker's, by the worker's name
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as broker:
        worker = start_worker(tmp_path, stores_file, broker.bootstrap, app_id, state="rocksdb://")
        try:
            produce(broker.bootstrap, "storefront.events", messages)
            wait_settled([worker], broker.bootstrap, app_id)
            before = exported([worker])
        finally:
            worker.kill()
        again = figures_after_restart(
            tmp_path, stores_file, broker.bootstrap, app_id, "w1", state="rocksdb://"
        )
        assert again == before != {}
    databases = sorted((data_dir / "v1" / "tables").glob("*.db"))

    def refused(bootstrap: str) -> str:
        done = run_worker(
            "--stores", str(stores_file), "--broker", bootstrap, "--metrics-port", str(free_port()),
            "--partitions", "4", "--data-dir", str(data_dir), app_id=app_id,
        )  # fmt: skip
        assert (done.returncode, done.stdout) == (1, ""), done.stderr
        advice = str(LocalStateMismatch(data_dir, bootstrap, "FINDING"))
        before, after = advice.split("FINDING")
        assert done.stderr.startswith(f"shoppulse: {before}"), done.stderr
        assert done.stderr.endswith(f"{after}\n"), done.stderr
        assert f"remove {data_dir} to start from empty tables" in after
        assert "--state memory://" in after
        return done.stderr.removeprefix(f"shoppulse: {before}").removesuffix(f"{after}\n")

    with EmbeddedBroker(log_path=tmp_path / "broker-restarted.log") as restarted:
        assert re.fullmatch(
            rf"no topic {app_id}-(entities|seen|store-chunks)-changelog", refused(restarted.bootstrap)
        )
        # A worker on memory:// makes the changelogs again, empty: Faust's own check
        # (its stored offset past the changelog's end) is made before Faust starts too.
        start_worker(tmp_path, stores_file, restarted.bootstrap, app_id, name="memory").kill()
        finding = refused(restarted.bootstrap)
        assert re.fullmatch(
            rf"{app_id}-(entities|seen)-changelog\[\d\] ends at offset 0, the table was read to [1-9]\d*",
            finding,
        )
    assert sorted((data_dir / "v1" / "tables").glob("*.db")) == databases  # nothing deleted


@pytest.mark.parametrize(
    ("read_to", "end", "finding"),
    [
        (408, 0, "t[2] ends at offset 0, the table was read to 408"),  # Faust's own check
        (408, 409, None),
        (None, 0, "t[2] is empty, and the table holds data"),  # made again by another worker
        (None, 5, None),  # Faust reads it whole
    ],
)
def test_a_changelog_that_cannot_hold_a_tables_data_is_named(
    read_to: int | None, end: int, finding: str | None
) -> None:
    table = LocalTable(TopicPartition("t", 2), Path("t-2.db"), holds_data=True, read_to=read_to)
    assert unbacked(table, end) == finding
