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
            passed = [m for m in range(self.floor, floor) if m in steps]
        else:
            passed = [m for m in steps if m < floor]
        for minute in passed:
            self.base += steps.pop(minute)
        self.floor = floor

    def value(self, cutoff: int) -> int:
        """Σ steps at minutes < cutoff. Folds up to the cutoff: never query further back."""
        self.fold(cutoff)
        return self.base

    def __len__(self) -> int:
        return len(self.steps)
