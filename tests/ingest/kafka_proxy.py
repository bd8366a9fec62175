"""A loopback TCP proxy in front of Tansu that lets librdkafka 2.0 (Debian's kcat) talk to it.

Tansu 0.6 answers ApiVersions v3 with tagged fields (SupportedFeatures,
FinalizedFeaturesEpoch, ...). librdkafka 2.0.2, the one inside Debian 12's kcat,
mis-skips tagged fields there (it skips ``length - 1`` bytes) and drops the
connection with "ApiVersionRequest failed: Local: Read underflow". The proxy removes
those optional top-level tags from ApiVersions responses and passes every other byte
through unchanged, so kcat's Produce and Fetch requests reach the real broker as sent.
Start Tansu with ``--advertised-listener-url`` pointing at the proxy, so clients
never bypass it after bootstrap.
"""

from __future__ import annotations

import asyncio
import struct
import threading

API_VERSIONS = 18


def _uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _skip_tags(buf: bytes, pos: int) -> int:
    count, pos = _uvarint(buf, pos)
    for _ in range(count):
        _, pos = _uvarint(buf, pos)
        size, pos = _uvarint(buf, pos)
        pos += size
    return pos


def strip_api_versions_tags(payload: bytes) -> bytes:
    """An ApiVersions v3+ response (after the size prefix) without its top-level tagged fields."""
    pos = 4 + 2  # correlation id, error code
    entries, pos = _uvarint(payload, pos)  # compact array: length + 1
    for _ in range(entries - 1):
        pos = _skip_tags(payload, pos + 6)  # api key, min and max version, then the entry's tags
    pos += 4  # throttle_time_ms
    return payload[:pos] + b"\x00"


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    size = struct.unpack(">i", await reader.readexactly(4))[0]
    return await reader.readexactly(size)


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, to_broker: bool, api_versions: set[int]
) -> None:
    """Copy frames one way; ``api_versions`` holds correlation ids of ApiVersions v3+ requests."""
    try:
        while True:
            frame = await _read_frame(reader)
            if to_broker:
                api_key, api_version, correlation = struct.unpack(">hhi", frame[:8])
                if api_key == API_VERSIONS and api_version >= 3:
                    api_versions.add(correlation)
            else:
                correlation = struct.unpack(">i", frame[:4])[0]
                if correlation in api_versions:
                    api_versions.discard(correlation)
                    frame = strip_api_versions_tags(frame)
            writer.write(struct.pack(">i", len(frame)) + frame)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


class ApiVersionsProxy:
    """``with ApiVersionsProxy(listen_port, broker_port):`` runs the proxy in a thread."""

    def __init__(self, listen_port: int, broker_port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.listen_port = listen_port
        self.broker_port = broker_port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        broker_reader, broker_writer = await asyncio.open_connection(self.host, self.broker_port)
        api_versions: set[int] = set()
        await asyncio.gather(
            _pipe(client_reader, broker_writer, True, api_versions),
            _pipe(broker_reader, client_writer, False, api_versions),
        )

    def __enter__(self) -> ApiVersionsProxy:
        self._thread.start()
        start = asyncio.start_server(self._handle, self.host, self.listen_port)
        self._server = asyncio.run_coroutine_threadsafe(start, self._loop).result(5)
        return self

    def __exit__(self, *exc_info: object) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
