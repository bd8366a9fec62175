"""StoreSeries.apply inlines the common cases of PointSeries.add and StepSeries.add: it must
give what adding the steps one by one gives, whatever was folded and queried before."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from shoppulse.kpis.contributions import DEN, NUM, POINT, SAME_AS, Steps
from shoppulse.kpis.store_series import StoreSeries

WIDTHS = (3, 7)
KPIS = ("aov", "repeat_purchase_retention", "cross_sell")

step_keys = st.tuples(st.sampled_from(KPIS), st.sampled_from([NUM, DEN]), st.sampled_from((POINT, *WIDTHS)))
batches = st.dictionaries(
    st.tuples(step_keys, st.integers(0, 60)).map(lambda k: (*k[0], k[1])), st.integers(-3, 3), max_size=6
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("apply"), batches),
        st.tuples(st.just("query"), st.integers(0, 8)),  # cutoff step
        st.tuples(st.just("fold"), st.integers(0, 8)),
    ),
    max_size=40,
)


@settings(max_examples=500, deadline=None)
@given(operations, st.integers(0, 30))
def test_apply_is_adding_step_by_step(ops: list[tuple[str, object]], start: int) -> None:
    applied, added = StoreSeries(WIDTHS), StoreSeries(WIDTHS)
    cutoff = start
    for op, arg in ops:
        if op == "apply":
            steps: Steps = arg  # type: ignore[assignment]
            applied.apply(steps)
            for (kpi, part, width, minute), amount in steps.items():
                added.add((kpi, part, width), minute, amount)
            continue
        cutoff += arg  # type: ignore[operator]
        for series in (applied, added):
            if op == "fold":
                series.fold(cutoff)
        if op == "query":
            for kpi in KPIS:
                for part in (NUM, DEN):
                    for width in WIDTHS:
                        got = applied.component(kpi, part, width, cutoff)
                        assert got == added.component(kpi, part, width, cutoff), (kpi, part, width)


def test_a_shared_component_reads_the_series_it_is_kept_in() -> None:
    series = StoreSeries((60,))
    (kpi, part), (kept_kpi, kept_part) = next(iter(SAME_AS.items()))
    series.apply({(kept_kpi, kept_part, 60, 10): 1, (kept_kpi, kept_part, 60, 70): -1})
    assert series.component(kpi, part, 60, 11) == series.component(kept_kpi, kept_part, 60, 11) == 1


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(KPIS), st.sampled_from([NUM, DEN]), st.integers(0, 60), st.integers(-3, 3)),
        max_size=12,
    ),
    st.integers(0, 60),
)
def test_add_point_is_applying_one_point(points: list[tuple[str, str, int, int]], cutoff: int) -> None:
    """The engine's shortcut for an order's points adds what ``apply`` adds, before the
    windows moved and behind their end."""
    added, applied = StoreSeries(WIDTHS), StoreSeries(WIDTHS)
    for number, (kpi, part, minute, amount) in enumerate(points):
        if number == len(points) // 2:  # halfway, the windows move on
            for series in (added, applied):
                series.fold(cutoff // 2)
        added.add_point(kpi, part, minute, amount)
        applied.apply({(kpi, part, POINT, minute): amount})
    for kpi in KPIS:
        for part in (NUM, DEN):
            for width in WIDTHS:
                assert added.component(kpi, part, width, cutoff) == applied.component(
                    kpi, part, width, cutoff
                )
