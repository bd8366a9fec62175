"""One store's KPI series: every numerator and denominator, for every window.

Shared by the reference engine and the stream workers' ledger, so both read a KPI
the same way: its points inside the window plus its spans' steps. A component kept
under another KPI's name (``contributions.SAME_AS``) is read from there.
"""

from __future__ import annotations

from shoppulse.kpis.contributions import POINT, SAME_AS, WINDOW_MINUTES, Steps
from shoppulse.kpis.timeline import PointSeries, StepSeries

SeriesKey = tuple[str, str, int]  # (kpi, part, window minutes or POINT)
Series = PointSeries | StepSeries


class StoreSeries:
    __slots__ = ("points", "steps", "widths")

    def __init__(self, widths: tuple[int, ...] = WINDOW_MINUTES) -> None:
        self.widths = widths  # the windows (minutes) the point series answer for
        self.points: dict[tuple[str, str], PointSeries] = {}  # (kpi, part): the POINT series
        self.steps: dict[SeriesKey, StepSeries] = {}

    def point_line(self, kpi: str, part: str) -> PointSeries:
        """The POINT series of (kpi, part), made empty when there is none yet."""
        points = self.points.get((kpi, part))
        if points is None:
            points = self.points[(kpi, part)] = PointSeries(self.widths)
        return points

    def add(self, key: SeriesKey, minute: int, amount: int) -> None:
        kpi, part, width = key
        if width == POINT:
            self.point_line(kpi, part).add(minute, amount)
        else:
            steps = self.steps.get(key)
            if steps is None:
                steps = self.steps[key] = StepSeries()
            steps.add(minute, amount)

    def add_point(self, kpi: str, part: str, minute: int, amount: int) -> None:
        """``apply`` of the one step ``{(kpi, part, POINT, minute): amount}``, without the dict:
        for the engine's hot paths (``OrderState.place``)."""
        line = self.points.get((kpi, part))
        if line is None:
            line = self.point_line(kpi, part)
        if minute >= line.plain_from:
            held = line.amounts
            held[minute] = held.get(minute, 0) + amount
        else:
            line.add(minute, amount)  # behind the windows' end, or a new lowest

    def apply(self, steps: Steps) -> None:
        """``add`` every step. The common cases of PointSeries.add and StepSeries.add are
        inlined: the engine applies several steps per event, and a call per step cost as
        much as the step itself."""
        points, lines = self.points, self.steps
        line = last_kpi = last_part = last_width = None
        for (kpi, part, width, minute), amount in steps.items():
            if width == POINT:
                point_line = points.get((kpi, part))
                if point_line is None:
                    point_line = self.point_line(kpi, part)
                if minute >= point_line.plain_from:
                    held = point_line.amounts
                    held[minute] = held.get(minute, 0) + amount
                else:
                    point_line.add(minute, amount)  # behind the windows' end, or a new lowest
                continue
            # A span's two steps come one after the other: the same series, found once.
            if kpi is not last_kpi or part is not last_part or width != last_width:
                last_kpi, last_part, last_width = kpi, part, width
                line = lines.get((kpi, part, width))
                if line is None:
                    line = lines[(kpi, part, width)] = StepSeries()
            if line.floor is not None and minute < line.floor:
                line.base += amount
                continue
            held = line.steps
            total = held.get(minute, 0) + amount
            if total:
                held[minute] = total
            else:
                held.pop(minute, None)

    def fold(self, floor: int) -> None:
        for points in self.points.values():
            points.fold(floor)
        for steps in self.steps.values():
            steps.fold(floor)

    def component(self, kpi: str, part: str, width: int, cutoff: int) -> int:
        """A numerator or denominator over the window of ``width`` minutes ending at ``cutoff``."""
        kpi, part = SAME_AS.get((kpi, part), (kpi, part))
        total = 0
        points = self.points.get((kpi, part))
        if points is not None:
            total += points.window_sum(width, cutoff)
        steps = self.steps.get((kpi, part, width))
        if steps is not None:
            total += steps.value(cutoff)
        return total

    def size(self) -> int:
        return sum(len(line) for line in self.points.values()) + sum(len(s) for s in self.steps.values())
