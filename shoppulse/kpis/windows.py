"""KPI windows and the engine's time resolution.

A window of length W ending at T holds the events whose time falls in the half-open
interval ``[T - W, T)``. Event times are kept to the second for ordering (an order
"at or after" a consultation), but window membership has a resolution of one
minute: an event belongs to the minute it happened in, and a window ending at T
holds the minutes that start in ``[T - W, T)``. When T is on a whole minute (the
default for ``shoppulse report``), this is exactly ``[T - W, T)`` on event times.

Why a minute: state for a window must not grow with the number of events, so it is
bucketed; one-minute buckets keep 30 days in 43,200 slots at most, while a value
on /metrics still moves within a minute of an event.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import Enum

MINUTE = 60  # seconds


class Window(Enum):
    """The four KPI windows; ``minutes`` is the length, ``label`` the metric label."""

    H1 = ("1h", 60)
    H24 = ("24h", 24 * 60)
    D7 = ("7d", 7 * 24 * 60)
    D30 = ("30d", 30 * 24 * 60)

    def __init__(self, label: str, minutes: int) -> None:
        self.label = label
        self.minutes = minutes

    @classmethod
    def parse(cls, label: str) -> Window:
        for window in cls:
            if window.label == label:
                return window
        raise ValueError(f"unknown window {label!r}; use one of {', '.join(w.label for w in cls)}")


WINDOWS: tuple[Window, ...] = tuple(Window)
LONGEST: Window = Window.D30


def epoch_seconds(moment: datetime) -> int:
    """Whole seconds since the epoch, floored (sub-second parts never move a bucket)."""
    return int(moment.timestamp() // 1)


def minute_of(seconds: int) -> int:
    """The minute (since the epoch) a time in seconds falls in."""
    return seconds // MINUTE


def cutoff_minute(moment: datetime) -> int:
    """The first minute *not* in a window ending at ``moment``.

    A minute m is inside ``[T - W, T)`` when its start is before T: m < ceil(T / 60).
    """
    seconds = moment.timestamp()
    return -int(-seconds // MINUTE)


def parse_duration(text: str) -> timedelta:
    """'30d', '24h', '90m', '45s' → timedelta (used for settings and flags)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        return timedelta(seconds=float(text[:-1]) * units[text[-1]])
    except (KeyError, ValueError, IndexError):
        raise ValueError(f"not a duration: {text!r} (use e.g. 30d, 24h, 90m)") from None


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
