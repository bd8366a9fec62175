"""Traffic profiles, and the value each KPI aims at under each of them.

The targets are derived from the catalogue's benchmarks, never written down a second
time: ``typical`` aims at the middle of the band from the floor to the exceptional
threshold (so the KPI reads *typical* or *good*), ``exceptional`` aims past the top
threshold and ``failing`` short of the floor.
"""

from __future__ import annotations

from enum import StrEnum

from shoppulse.kpis.catalogue import Kpi, Tier, Unit


class Profile(StrEnum):
    TYPICAL = "typical"
    EXCEPTIONAL = "exceptional"
    FAILING = "failing"


INTENDED_TIERS: dict[Profile, frozenset[Tier]] = {
    Profile.TYPICAL: frozenset({Tier.TYPICAL, Tier.GOOD}),
    Profile.EXCEPTIONAL: frozenset({Tier.EXCEPTIONAL}),
    Profile.FAILING: frozenset({Tier.BELOW_TYPICAL}),
}

# How far past a tier's edge a target sits, so that sampling noise and the edges of
# a window cannot pull the KPI back over it.
FAILING_SHORTFALL = 0.35  # 35 % short of the floor (past it, for lower-is-better)
EXCEPTIONAL_HEADROOM = 0.5  # half-way from the top threshold to a ratio's best value
UNBOUNDED_HEADROOM = 0.5  # 50 % above the top threshold for amounts and durations


def parse_profile(name: str) -> Profile:
    try:
        return Profile(name)
    except ValueError:
        choices = ", ".join(p.value for p in Profile)
        raise ValueError(f"unknown profile {name!r}; use one of {choices}") from None


def target(kpi: Kpi, profile: Profile) -> float:
    """The value the simulator aims ``kpi`` at under ``profile``, in the KPI's unit."""
    bench = kpi.benchmark
    if profile is Profile.TYPICAL:
        return (bench.floor + bench.exceptional) / 2
    if kpi.lower_is_better:  # a ratio where 0 is best
        if profile is Profile.EXCEPTIONAL:
            return bench.exceptional * (1 - EXCEPTIONAL_HEADROOM)
        return bench.floor * (1 + FAILING_SHORTFALL)
    if profile is Profile.FAILING:
        return bench.floor * (1 - FAILING_SHORTFALL)
    if kpi.unit is Unit.RATIO:
        room = min(1 - bench.exceptional, bench.exceptional)
        return bench.exceptional + EXCEPTIONAL_HEADROOM * room
    return bench.exceptional * (1 + UNBOUNDED_HEADROOM)
