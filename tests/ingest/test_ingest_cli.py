"""`shoppulse collector` as a user starts it: mistakes end in one line on stderr."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from ingest_support import RAW_TOKENS, STORES_YAML, CollectorProcess, write_tokens_file

from shoppulse.broker import free_port


def run_collector(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The collector with a stores file, run to its end; no broker needs to answer."""
    stores = tmp_path / "stores.yaml"
    stores.write_text(STORES_YAML, encoding="utf-8")
    command = [sys.executable, "-m", "shoppulse", "collector", "--stores", str(stores)]
    command += ["--broker", f"127.0.0.1:{free_port()}", *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)


def test_a_port_in_use_is_one_line_and_nothing_claims_to_listen(tmp_path: Path) -> None:
    """It said "collector on http://..." first, then gave an OSError traceback."""
    tokens = write_tokens_file(tmp_path / "tokens.yaml", RAW_TOKENS)  # no warning about its absence
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = run_collector(tmp_path, "--port", str(port), "--tokens", str(tokens))
    assert (done.returncode, done.stdout) == (2, "")
    assert (
        done.stderr
        == f"error: port {port} on 127.0.0.1 is in use: stop what listens there, or pass another --port\n"
    )


def test_a_tokens_file_listing_a_hash_twice_is_one_line_naming_the_file(tmp_path: Path) -> None:
    """It was pydantic's dump: three lines, the input echoed, a link to pydantic's docs."""
    tokens = write_tokens_file(tmp_path / "tokens.yaml", {"token-a": "store-a"})
    tokens.write_text(tokens.read_text() + tokens.read_text().split("\n", 1)[1])  # the entry again
    done = run_collector(tmp_path, "--port", str(free_port()), "--tokens", str(tokens))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"error: {tokens}: file: a token hash is listed twice (store 'store-a')\n"


def test_a_tokens_file_that_is_not_utf8_is_one_line_naming_the_file(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_bytes(b"tokens:\n  - sha256: \xff\xfe\n")
    done = run_collector(tmp_path, "--port", str(free_port()), "--tokens", str(tokens))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"error: {tokens}: not UTF-8 text (invalid start byte at byte 20)\n"


def test_the_listening_line_comes_once_the_port_is_bound(tmp_path: Path) -> None:
    stores = tmp_path / "stores.yaml"
    stores.write_text(STORES_YAML, encoding="utf-8")
    broker = f"127.0.0.1:{free_port()}"  # the collector starts without one (/readyz says so)
    with CollectorProcess.start(stores, broker, folder=tmp_path) as collector:
        line = f"collector on http://127.0.0.1:{collector.port}, writing to {broker} (idempotence auto)"
        deadline = time.monotonic() + 10  # logged just after the bind the port wait saw
        while line not in collector.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert line in collector.log_text()
