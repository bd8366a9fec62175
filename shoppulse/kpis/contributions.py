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

**The fast path.** Presence, repeat and conversion spans, listed in the order of their
times, have starts *and* ends that never decrease. So the spans before a place in that
list cover, from there on, exactly up to the end of the last of them (their *reach*),
and the spans after it cover exactly from the start of the first of them (the
*limit*). A new span ``(s, e]`` put at that place, leaving the others as they are,
adds ``(max(s, reach), min(e, limit)]`` to the union (``add_span_between``). That holds
for a time newer than all the others (presence, repeat: the new span and its reach
come from the last one or two times) and for a conversion at any time (one span per
conversion, from its own trigger). Entities use it for such messages and recompute in
full otherwise; tests check that both give the same steps.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from itertools import pairwise

from shoppulse.kpis.windows import WINDOWS

NUM = "num"
DEN = "den"

StepKey = tuple[str, str, int, int]  # (kpi id, NUM | DEN, window minutes or POINT, minute)
Steps = dict[StepKey, int]

WINDOW_MINUTES: tuple[int, ...] = tuple(w.minutes for w in WINDOWS)


POINT = 0  # the "window minutes" of a point: it counts in every window holding its minute

# KPIs whose steps may lie at a promised time rather than at an event's: an order is due
# at its promise, which may precede every event of its store. The first event time a
# store's steps show is read without them (``streams.ledger.Ledger.data_since``).
AT_PROMISED_TIMES = frozenset({"on_time_delivery"})

# A component defined exactly as another KPI's is kept once, under that KPI: the store
# series answer for it from there (``StoreSeries.component``), and entities send no steps
# for it. cross_sell's denominator, customers with an order in the window, is
# repeat_purchase_retention's (both smart_home): a tenth of a report's steps.
SAME_AS: dict[tuple[str, str], tuple[str, str]] = {("cross_sell", DEN): ("repeat_purchase_retention", DEN)}


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
    triggers: Sequence[int], conversions: Sequence[int], width: int, attribution: int
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


def converting_trigger(triggers: Sequence[int], conversion: int, attribution: int) -> int | None:
    """The trigger of the span ``conversion_spans`` makes for ``conversion`` (the latest at or
    before it, if within the attribution), or None when it makes none. ``triggers`` sorted."""
    index = bisect_right(triggers, conversion) - 1
    if index >= 0 and conversion - triggers[index] < attribution:
        return triggers[index]
    return None


def add_span_between(
    steps: Steps,
    kpi: str,
    part: str,
    start: int,
    end: int,
    reach: int | None,
    limit: int | None = None,
    widths: tuple[int, ...] = WINDOW_MINUTES,
) -> None:
    """In every window W of ``widths``, add span ``(start, end + W]`` to the union of a list
    of spans whose starts and ends never decrease, at its place in that list: after spans
    that end at most at ``reach + W`` (None: no span before it) and before spans that start
    at ``limit`` or later (None: none after it). The union gains
    ``(max(start, reach + W), min(end + W, limit)]`` (see the module docstring)."""
    for width in widths:
        first = start if reach is None or reach + width < start else reach + width
        last = end + width if limit is None or end + width < limit else limit
        if first < last:
            key = (kpi, part, width, first)
            steps[key] = steps.get(key, 0) + 1
            key = (kpi, part, width, last)
            steps[key] = steps.get(key, 0) - 1


def add_new_conversion(
    steps: Steps,
    kpi: str,
    conversion: int,
    triggers: Sequence[int],
    others: Sequence[int],
    attribution: int,
    widths: tuple[int, ...] = WINDOW_MINUTES,
) -> None:
    """What a new ``conversion`` (seconds) adds to ``conversion_spans`` (part NUM) of sorted
    ``triggers`` and sorted ``others`` conversions. It changes no other conversion's span,
    and its own goes between theirs in time order: after the last one before it that
    makes a span, before the first one after it that does."""
    trigger = converting_trigger(triggers, conversion, attribution)
    if trigger is None:
        return  # it converts nothing
    at = bisect_right(others, conversion)
    reach = limit = None  # loops, not generators: every converting order comes here
    for index in range(at - 1, -1, -1):
        before = converting_trigger(triggers, others[index], attribution)
        if before is not None:
            reach = before // 60
            break
    for index in range(at, len(others)):
        if converting_trigger(triggers, others[index], attribution) is not None:
            limit = others[index] // 60
            break
    add_span_between(steps, kpi, NUM, conversion // 60, trigger // 60, reach, limit, widths)


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
