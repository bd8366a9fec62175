"""PointSeries: window_sum(w, c) = Σ amounts at minutes in [c - w, c), whatever was added,
folded and dropped on the way (cutoffs never go back)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from shoppulse.kpis.timeline import PointSeries

WIDTHS = (2, 5, 11)

operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 80), st.integers(-3, 3)),
        st.tuples(st.just("query"), st.sampled_from(WIDTHS), st.integers(0, 30)),  # cutoff step
        st.tuples(st.just("fold"), st.just(0), st.integers(0, 30)),
    ),
    max_size=60,
)


@settings(max_examples=500, deadline=None)
@given(operations, st.integers(0, 40))
def test_window_sums_match_a_recount(ops: list[tuple[str, int, int]], start: int) -> None:
    series = PointSeries(WIDTHS)
    added: list[tuple[int, int]] = []
    cutoff = start
    for op, a, b in ops:
        if op == "add":
            series.add(a, b)
            added.append((a, b))
        else:
            cutoff += b  # small and long moves: both ways of advancing
            if op == "fold":
                series.fold(cutoff)
            else:
                assert series.window_sum(a, cutoff) == sum(x for m, x in added if cutoff - a <= m < cutoff)
    for width in WIDTHS:
        assert series.window_sum(width, cutoff) == sum(x for m, x in added if cutoff - width <= m < cutoff)


def test_moving_through_empty_minutes_walks_nothing() -> None:
    series = PointSeries((60, 43_200))
    series.add(1_000_000, 5)
    series.fold(900_000)
    series.fold(950_000)  # far below the lowest minute: no walk over 50,000 empty minutes
    assert series.window_sum(60, 1_000_001) == 5
    assert series.window_sum(43_200, 1_000_061) == 5
    assert series.window_sum(60, 1_000_061) == 0
