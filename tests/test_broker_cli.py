"""`shoppulse broker`: the embedded broker as a command."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from shoppulse.broker import free_port, wait_for_port


def test_broker_command_stops_on_sigterm() -> None:
    port = free_port()
    broker = subprocess.Popen(
        [sys.executable, "-m", "shoppulse", "broker", "--port", str(port)], stdout=subprocess.PIPE
    )
    try:
        assert wait_for_port("127.0.0.1", port, 20)
        started = time.monotonic()
        broker.send_signal(signal.SIGTERM)
        assert broker.wait(10) == 0
        assert time.monotonic() - started < 5
        assert not wait_for_port("127.0.0.1", port, 0.5)  # the broker itself is gone too
    finally:
        if broker.poll() is None:
            broker.kill()
