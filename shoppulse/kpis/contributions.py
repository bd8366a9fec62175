"""From facts to steps: how one order, customer or visit moves the KPI series.

A KPI component for a window is a step function (see ``timeline``). What one entity
adds to it is written as a ``Steps`` mapping ``(kpi, part, window minutes, minute) →
amount``. Two shapes cover all fourteen KPIs:

* a **point** at minute m counts while m is inside the window: cutoffs c with
  ``c - W <= m < c``. As steps that is ``+x`` at m and ``-x`` at m + W for each window;
  it is kept once instead, under window ``POINT`` (see ``timeline.PointSeries``);
* a **span** ``(s, e]`` of cutoffs during which a customer or visitor satisfies a
  condition ("has two orders in the window"): ``+1`` at s, ``-1`` at e. A customer's
  spans are merged first, so a customer is counted once however many orders
  qualify them.

An entity's steps are recomputed from its state; an update sends ``after - before``.
That difference is all a downstream sum needs, it does not depend on the order
events arrive in, and sending it twice is the only way to count twice: the stream
workers guard exactly that.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise

from shoppulse.kpis.windows import WINDOWS

NUM = "num"
DEN = "den"

StepKey = tuple[str, str, int, int]  # (kpi id, NUM | DEN, window minutes or POINT, minute)
Steps = dict[StepKey, int]

WINDOW_MINUTES: tuple[int, ...] = tuple(w.minutes for w in WINDOWS)


POINT = 0  # the "window minutes" of a point: it counts in every window holding its minute


def add_point(steps: Steps, kpi: str, part: str, minute: int, amount: int) -> None:
    """An amount that counts in every window holding ``minute`` (kept once, see PointSeries)."""
    key = (kpi, part, POINT, minute)
    steps[key] = steps.get(key, 0) + amount


def add_spans(steps: Steps, kpi: str, part: str, width: int, spans: Iterable[tuple[int, int]]) -> None:
    """Count 1 for cutoffs in the union of ``(start, end]`` spans (each counted once)."""
    reach = None  # the furthest end so far: spans are merged into disjoint pieces
    for start, end in sorted(spans):
        if reach is not None and start < reach:
            start = reach
        if end <= start:
            continue
        key = (kpi, part, width, start)
        steps[key] = steps.get(key, 0) + 1
        key = (kpi, part, width, end)
        steps[key] = steps.get(key, 0) - 1
        reach = end


def presence_spans(minutes: Iterable[int], width: int) -> list[tuple[int, int]]:
    """Cutoffs at which at least one of ``minutes`` is inside a window of ``width``."""
    return [(m, m + width) for m in minutes]


def repeat_spans(sorted_minutes: list[int], width: int) -> list[tuple[int, int]]:
    """Cutoffs at which at least two of ``sorted_minutes`` are inside the window.

    Two consecutive times a <= b are both inside ``[c - W, c)`` for c in (b, a + W].
    """
    return [(b, a + width) for a, b in pairwise(sorted_minutes)]


def conversion_spans(
    triggers: list[int], conversions: list[int], width: int, attribution: int
) -> list[tuple[int, int]]:
    """Cutoffs at which a trigger in the window was followed by a conversion before the cutoff.

    ``triggers`` and ``conversions`` are times in seconds, sorted. A trigger k and a
    conversion o with ``k <= o < k + attribution`` count for cutoffs c with k in the
    window and o before c: c in (minute(o), minute(k) + W]. For each conversion the
    latest trigger at or before it gives the widest span, so only that one is used.
    """
    spans = []
    index = -1
    for o in conversions:
        while index + 1 < len(triggers) and triggers[index + 1] <= o:
            index += 1
        if index < 0:
            continue
        k = triggers[index]
        if o - k < attribution:
            spans.append((o // 60, k // 60 + width))
    return spans


def difference(after: Steps, before: Steps) -> Steps:
    """``after - before``, without zero entries."""
    if not before:
        return after
    out = dict(after)
    for key, amount in before.items():
        total = out.get(key, 0) - amount
        if total:
            out[key] = total
        else:
            out.pop(key, None)
    return out


def merge_into(target: Steps, extra: Steps) -> None:
    for key, amount in extra.items():
        total = target.get(key, 0) + amount
        if total:
            target[key] = total
        else:
            target.pop(key, None)
