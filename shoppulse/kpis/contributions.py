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

**Newest times (the fast path).** Presence, repeat and conversion spans, listed in the
order of their times, have starts *and* ends that never decrease. A union of such a
list covers, from its last span's start on, exactly up to that span's end (its
*reach*). So a time newer than all the others, which appends one span ``(s, e]`` at
the end of its list, adds to the union exactly ``(max(s, reach), e]``: the
``add_newest_*`` functions below write that, for every window, from the last one or
two times alone. Entities use them when a message brings the newest time of its kind
and recompute in full otherwise; tests check both give the same steps.
"""

from __future__ import annotations

from bisect import bisect_right
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


def last_conversion(triggers: list[int], conversions: Iterable[int], attribution: int) -> int | None:
    """The trigger of the last span ``conversion_spans`` makes, or None when it makes none.

    ``triggers`` sorted; ``conversions`` newest first. The spans' ends grow with their
    triggers, so this trigger gives the end of the union of the spans (its reach).
    """
    for conversion in conversions:
        index = bisect_right(triggers, conversion) - 1
        if index < 0:
            return None  # no trigger at or before this conversion, nor before an earlier one
        if conversion - triggers[index] < attribution:
            return triggers[index]
    return None


def add_appended_span(
    steps: Steps, kpi: str, part: str, width: int, start: int, end: int, reach: int | None
) -> None:
    """Add span ``(start, end]`` to a union whose spans start at or before ``start`` and end
    at or before ``reach`` (None: no spans): the union gains ``(max(start, reach), end]``."""
    if reach is not None and reach > start:
        start = reach
    if start < end:
        key = (kpi, part, width, start)
        steps[key] = steps.get(key, 0) + 1
        key = (kpi, part, width, end)
        steps[key] = steps.get(key, 0) - 1


def add_newest_presence(steps: Steps, kpi: str, part: str, minute: int, last: int | None) -> None:
    """What ``minute`` adds to ``presence_spans`` of minutes whose latest is ``last`` (<= minute)."""
    for width in WINDOW_MINUTES:
        reach = None if last is None else last + width
        add_appended_span(steps, kpi, part, width, minute, minute + width, reach)


def add_newest_repeat(
    steps: Steps, kpi: str, part: str, minute: int, last: int | None, second: int | None
) -> None:
    """What ``minute`` adds to ``repeat_spans`` of minutes whose two latest are ``last`` and
    ``second`` (second <= last <= minute): the pair (last, minute), beyond pair (second, last)."""
    if last is None:
        return
    for width in WINDOW_MINUTES:
        reach = None if second is None else second + width
        add_appended_span(steps, kpi, part, width, minute, last + width, reach)


def add_newest_conversion(
    steps: Steps, kpi: str, conversion: int, triggers: list[int], earlier: list[int], attribution: int
) -> None:
    """What ``conversion`` (seconds) adds to ``conversion_spans`` (part NUM) of sorted
    ``triggers`` and sorted ``earlier`` conversions, none of them after it."""
    trigger = last_conversion(triggers, (conversion,), attribution)
    if trigger is None:
        return
    before = last_conversion(triggers, reversed(earlier), attribution)
    for width in WINDOW_MINUTES:
        reach = None if before is None else before // 60 + width
        add_appended_span(steps, kpi, NUM, width, conversion // 60, trigger // 60 + width, reach)


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
