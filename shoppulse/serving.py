"""Listening on a port (the collector, the worker's /metrics): a bind that fails is one
line naming the host and port, not an OSError traceback."""

from __future__ import annotations

import errno
import os
import socket

from aiohttp import web

from shoppulse.exceptions import ShopPulseError


class PortUnavailable(ShopPulseError):
    """A server cannot listen on its host and port: taken, or not an address of this host."""


def port_unavailable(error: OSError, host: str, port: int, flag: str) -> PortUnavailable | None:
    """The error to show for ``error`` raised while binding ``host:port`` (set by ``flag``),
    or None when ``error`` is not one a bind raises."""
    if error.errno == errno.EADDRINUSE:
        return PortUnavailable(
            f"port {port} on {host} is in use: stop what listens there, or pass another {flag}"
        )
    if isinstance(error, socket.gaierror):  # the host does not resolve
        return PortUnavailable(
            f"cannot listen on {host}:{port}: {error.strerror}; use an address of this host"
        )
    # asyncio's own text of these two repeats the address: the system's is enough.
    if error.errno == errno.EADDRNOTAVAIL:
        reason = os.strerror(error.errno)
        return PortUnavailable(f"cannot listen on {host}:{port}: {reason}; use an address of this host")
    if error.errno == errno.EACCES:
        reason = os.strerror(error.errno)
        return PortUnavailable(
            f"cannot listen on {host}:{port}: {reason}; pass another {flag} (below 1024 needs privileges)"
        )
    return None


async def check_can_listen(host: str, port: int, flag: str) -> None:
    """Bind ``host:port`` as aiohttp's TCPSite does, and let go at once.

    For a server that binds later, where a failure can no longer end in one line (the
    worker's /metrics binds inside a Faust task). aiohttp sets SO_REUSEADDR, so the port
    can be bound again straight after.
    """
    runner = web.AppRunner(web.Application())
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        unavailable = port_unavailable(exc, host, port, flag)
        if unavailable is None:
            raise
        raise unavailable from exc
    finally:
        await runner.cleanup()
