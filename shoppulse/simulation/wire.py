"""Wire-format details: RFC 3339 times in a store's time zone, money strings, ids.

Times inside the simulator are integer milliseconds since the epoch; they become
text only when an event is emitted. Formatting is the hot path, so a ``TimeText``
remembers the second it formatted last (events come in bursts within a second).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

SECOND = 1000  # milliseconds
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR


def epoch_millis(moment: datetime) -> int:
    """An aware datetime as whole milliseconds since the epoch."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"start must be timezone-aware, not {moment.isoformat()}")
    return round(moment.timestamp() * SECOND)


class TimeText:
    """Milliseconds → ``2026-05-01T08:00:00.123-04:00`` in one time zone (``Z`` for UTC)."""

    __slots__ = ("_prefix", "_second", "_suffix", "_zone")

    def __init__(self, zone: str) -> None:
        self._zone = ZoneInfo(zone)
        self._second: int | None = None
        self._prefix = ""
        self._suffix = ""

    def __call__(self, millis: int) -> str:
        second, milli = divmod(millis, SECOND)
        if second != self._second:
            text = datetime.fromtimestamp(second, self._zone).isoformat()
            self._prefix, offset = text[:19], text[19:]
            self._suffix = "Z" if offset == "+00:00" else offset
            self._second = second
        return f"{self._prefix}.{milli:03d}{self._suffix}"


def money_text(exponent: int) -> Callable[[int], str]:
    """Minor units → decimal string with the currency's decimals (4990 → "49.90")."""
    if exponent == 0:
        return str
    scale = 10**exponent

    def text(minor: int) -> str:
        units, cents = divmod(minor, scale)
        return f"{units}.{cents:0{exponent}d}"

    return text


class Ids:
    """Unique ids for one run: a short token from (seed, start) and a counter.

    The token keeps two runs apart (restarting a live simulator must not re-send
    event ids the service would drop as duplicates); the same seed and start give
    the same ids, so a run is reproducible.
    """

    __slots__ = ("_counter", "token")

    def __init__(self, seed: int, start_millis: int) -> None:
        digest = hashlib.blake2b(f"{seed}:{start_millis}".encode(), digest_size=4).hexdigest()
        self.token = digest
        self._counter = itertools.count(1)

    def __call__(self, prefix: str) -> str:
        return f"{prefix}-{self.token}-{next(self._counter)}"
