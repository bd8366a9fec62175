"""One store's KPI series: every numerator and denominator, for every window.

Shared by the reference engine and the stream workers' ledger, so both read a KPI
the same way: its points inside the window plus its spans' steps.
"""

from __future__ import annotations

from shoppulse.kpis.contributions import POINT, WINDOW_MINUTES, Steps
from shoppulse.kpis.timeline import PointSeries, StepSeries

SeriesKey = tuple[str, str, int]  # (kpi, part, window minutes or POINT)
Series = PointSeries | StepSeries


class StoreSeries:
    __slots__ = ("series",)

    def __init__(self) -> None:
        self.series: dict[SeriesKey, Series] = {}

    def add(self, key: SeriesKey, minute: int, amount: int) -> None:
        line = self.series.get(key)
        if line is None:
            line = self.series[key] = PointSeries(WINDOW_MINUTES) if key[2] == POINT else StepSeries()
        line.add(minute, amount)

    def apply(self, steps: Steps) -> None:
        for (kpi, part, width, minute), amount in steps.items():
            self.add((kpi, part, width), minute, amount)

    def fold(self, floor: int) -> None:
        for line in self.series.values():
            line.fold(floor)

    def component(self, kpi: str, part: str, width: int, cutoff: int) -> int:
        """A numerator or denominator over the window of ``width`` minutes ending at ``cutoff``."""
        total = 0
        points = self.series.get((kpi, part, POINT))
        if isinstance(points, PointSeries):
            total += points.window_sum(width, cutoff)
        steps = self.series.get((kpi, part, width))
        if isinstance(steps, StepSeries):
            total += steps.value(cutoff)
        return total

    def size(self) -> int:
        return sum(len(line) for line in self.series.values())
