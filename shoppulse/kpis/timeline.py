"""A step function of time, kept as integer steps per minute.

Every KPI numerator and denominator, for one store and one window, is a function of
the window's end: ``value(c) = Σ steps at minutes < c`` (c is the cutoff minute, see
``windows.cutoff_minute``). An event at minute m that counts while it is inside a
window of W minutes adds ``+x`` at m and ``-x`` at m + W; a customer counted while
some condition holds adds ``+1`` where the condition starts and ``-1`` where it ends.

Steps behind ``floor`` are folded into ``base``, so memory holds only minutes not yet
passed: at most a window's length (plus lateness) of them, whatever the traffic.
Integers keep sums exact and independent of the order events arrive in.
"""

from __future__ import annotations

from itertools import repeat

# The walks over minutes below (folds, window moves) run as C loops (filter, map, sum):
# a report's final snapshot walks a month of minutes in every series.

_NO_MINUTE = 1 << 62  # after every minute


class StepSeries:
    __slots__ = ("base", "floor", "steps")

    def __init__(self) -> None:
        self.steps: dict[int, int] = {}
        self.base = 0  # Σ of steps folded away (all minutes < floor)
        self.floor: int | None = None  # None: nothing folded yet

    def add(self, minute: int, amount: int) -> None:
        if self.floor is not None and minute < self.floor:
            self.base += amount
            return
        total = self.steps.get(minute, 0) + amount
        if total:
            self.steps[minute] = total
        else:
            self.steps.pop(minute, None)

    def fold(self, floor: int) -> None:
        """Fold every step before ``floor`` into the base; later queries need c >= floor."""
        if self.floor is not None and floor <= self.floor:
            return
        steps = self.steps
        if self.floor is not None and floor - self.floor < len(steps):
            passed = list(filter(steps.__contains__, range(self.floor, floor)))
        else:
            passed = list(filter(floor.__gt__, steps))  # the minutes before floor
        self.base += sum(map(steps.pop, passed))
        self.floor = floor

    def value(self, cutoff: int) -> int:
        """Σ steps at minutes < cutoff. Folds up to the cutoff: never query further back."""
        self.fold(cutoff)
        return self.base

    def __len__(self) -> int:
        return len(self.steps)


class PointSeries:
    """Amounts at minutes, summed over any of a fixed set of window widths.

    The cheap case of a step function: an amount that counts while its minute is inside
    the window. Instead of two steps per window it is stored once; ``window_sum(w, c)``
    is ``Σ amounts at minutes in [c - w, c)``, kept as a running sum per width that
    moves forward with the cutoff, so a live query costs the minutes passed since the
    last one. Minutes behind the widest window are dropped: they can never count again.
    A move walks only minutes at or after ``lowest``, so cutoffs moving through minutes
    that hold nothing (the first window's length after start-up) cost nothing.
    """

    __slots__ = ("amounts", "cursor", "longest", "lowest", "plain_from", "sums", "widths")

    def __init__(self, widths: tuple[int, ...]) -> None:
        self.widths = widths
        self.longest = max(widths)
        self.amounts: dict[int, int] = {}
        self.cursor: int | None = None  # sums[w] = Σ amounts in [cursor - w, cursor)
        self.sums: dict[int, int] = dict.fromkeys(widths, 0)
        self.lowest: int | None = None  # no minute in ``amounts`` is below it (None: none yet)
        # From this minute on, ``add`` only adds to ``amounts`` (at or after both the cursor
        # and the lowest minute): StoreSeries.apply does that itself.
        self.plain_from: int = _NO_MINUTE

    def add(self, minute: int, amount: int) -> None:
        cursor = self.cursor
        if cursor is not None and minute < cursor:
            if minute < cursor - self.longest:
                return  # behind every window already, and for good
            for width in self.widths:
                if minute >= cursor - width:
                    self.sums[width] += amount
        if self.lowest is None or minute < self.lowest:
            self.lowest = minute
            self.plain_from = max(minute, cursor) if cursor is not None else minute
        self.amounts[minute] = self.amounts.get(minute, 0) + amount

    def fold(self, floor: int) -> None:
        """Move the windows' end to ``floor`` (the same contract as StepSeries.fold)."""
        self.advance(floor)

    def window_sum(self, width: int, cutoff: int) -> int:
        """Σ amounts in [cutoff - width, cutoff). Cutoffs never go back (state is dropped)."""
        self.advance(cutoff)
        return self.sums[width]

    def advance(self, cutoff: int) -> None:
        cursor, amounts, lowest = self.cursor, self.amounts, self.lowest
        if cursor is not None and cutoff <= cursor:
            return
        if lowest is None:
            pass  # nothing stored: every sum is 0
        elif cursor is None or cutoff - max(cursor, lowest) > len(amounts):
            # first query, or a long jump: recount from the stored minutes
            self.sums = _recount(amounts, lowest, cutoff, self.widths)
            stale = cutoff - self.longest  # minutes before it can never count again
            if stale - lowest <= len(amounts):
                for minute in range(lowest, stale):
                    amounts.pop(minute, None)
            else:
                for minute in list(filter(stale.__gt__, amounts)):
                    del amounts[minute]
        else:
            entering = _total(amounts, max(cursor, lowest), cutoff)
            for width in self.widths:
                leaving = _total(amounts, max(cursor - width, lowest), cutoff - width)
                self.sums[width] += entering - leaving
            for minute in range(max(cursor - self.longest, lowest), cutoff - self.longest):
                amounts.pop(minute, None)
        if lowest is not None and lowest < cutoff - self.longest:
            self.lowest = cutoff - self.longest  # what was below is dropped
        self.cursor = cutoff
        self.plain_from = max(cutoff, self.lowest) if self.lowest is not None else _NO_MINUTE

    def __len__(self) -> int:
        return len(self.amounts)


def _recount(amounts: dict[int, int], lowest: int, cutoff: int, widths: tuple[int, ...]) -> dict[int, int]:
    """Σ amounts in [cutoff - w, cutoff) for each width w; no stored minute is below ``lowest``.

    A window starting at or before ``lowest`` holds every stored minute before the cutoff.
    When no minute is at or after it either (the report's one snapshot, after the last
    event: a month of minutes in each series), that is the sum of all the amounts, read
    without walking the window's minutes or testing each key against it.
    """
    everything = None
    if amounts and cutoff - max(widths) <= lowest and max(amounts) < cutoff:
        everything = sum(amounts.values())
    return {
        width: everything
        if everything is not None and cutoff - width <= lowest
        else _total(amounts, cutoff - width, cutoff)
        for width in widths
    }


def _total(amounts: dict[int, int], low: int, high: int) -> int:
    """Σ amounts at minutes in [low, high), walking the minutes or the keys, whichever is
    cheaper (a step of the keys' walk costs about twice a minute's)."""
    if high - low <= 2 * len(amounts):
        return sum(map(amounts.get, range(low, high), repeat(0)))
    return sum(map(amounts.__getitem__, filter(range(low, high).__contains__, amounts)))
