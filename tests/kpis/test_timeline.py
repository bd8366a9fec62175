"""StepSeries: value(c) = Σ steps before c, whatever was folded on the way."""

from __future__ import annotations

from shoppulse.kpis.timeline import StepSeries


def test_value_sums_steps_strictly_before_the_cutoff() -> None:
    series = StepSeries()
    series.add(10, 2)
    series.add(20, -2)
    assert [series.value(c) for c in (10, 11, 20, 21)] == [0, 2, 2, 0]


def test_step_added_behind_the_floor_counts_at_once() -> None:
    """A late event lands before the last query: it must count in the next one."""
    series = StepSeries()
    for minute in range(100):
        series.add(1000 + minute, 1)  # many future steps: fold walks the passed minutes only
    assert series.value(50) == 0
    series.add(40, 5)  # behind the floor (50)
    series.add(45, -5)
    series.add(48, 3)
    assert series.value(51) == 3
    assert series.value(1001) == 4


def test_fold_forgets_passed_minutes() -> None:
    series = StepSeries()
    for minute in range(0, 1000, 10):
        series.add(minute, 1)
    series.fold(500)
    assert len(series) == 50
    assert series.value(500) == 50
