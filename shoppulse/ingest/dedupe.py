"""A bounded memory of recently written event ids, so a retried request is not written twice.

Storefronts retry a request whose answer they did not get, with the same event ids.
The collector remembers the ``(store_id, event_id)`` pairs it wrote for ``ttl`` seconds
(at most ``max_size`` pairs, oldest forgotten first) and answers a repeat as an
accepted duplicate without producing it again.

Ids being written right now are *pending*: a concurrent request holding the same id
waits for that write's outcome, then either sees it written (duplicate) or, if the
write failed, claims the id itself. The memory is per process and lost on restart, so
consumers still treat ``event_id`` as the key of an event.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

EventKey = tuple[str, str]  # (store_id, event_id)


class RecentEventIds:
    def __init__(
        self, ttl: float = 3600.0, max_size: int = 500_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.max_size = max_size
        self._clock = clock
        self._written: OrderedDict[EventKey, float] = OrderedDict()  # key → time written
        self._pending: dict[EventKey, asyncio.Future[None]] = {}

    def __len__(self) -> int:
        return len(self._written)

    def __contains__(self, key: object) -> bool:
        self._expire()
        return key in self._written

    async def claim(self, keys: Iterable[EventKey]) -> tuple[set[EventKey], set[EventKey]]:
        """Split keys into (new, already written); the new ones become pending.

        Every new key must later be passed to ``written`` or ``released``.
        """
        wanted = set(keys)
        while busy := [self._pending[key] for key in wanted if key in self._pending]:
            await asyncio.wait(busy)
        self._expire()
        seen = {key for key in wanted if key in self._written}
        new = wanted - seen
        loop = asyncio.get_running_loop()
        for key in new:
            self._pending[key] = loop.create_future()
        return new, seen

    def written(self, keys: Iterable[EventKey]) -> None:
        """The write of these pending keys was acknowledged: remember them."""
        now = self._clock()
        for key in keys:
            self._written[key] = now
            self._written.move_to_end(key)
            self._finish(key)
        while len(self._written) > self.max_size:
            self._written.popitem(last=False)

    def released(self, keys: Iterable[EventKey]) -> None:
        """The write of these pending keys failed: forget them, a retry may claim them."""
        for key in keys:
            self._finish(key)

    def _finish(self, key: EventKey) -> None:
        future = self._pending.pop(key, None)
        if future is not None and not future.done():
            future.set_result(None)

    def _expire(self) -> None:
        horizon = self._clock() - self.ttl
        while self._written:
            key, written_at = next(iter(self._written.items()))
            if written_at > horizon:
                break
            del self._written[key]
