"""The catalogue holds the fourteen KPIs of shared/KPIS.md, tiers and directions included."""

from __future__ import annotations

import pytest

from shoppulse.kpis.catalogue import BY_KEY, CATALOGUE, Tier, Unit, kpis_for
from shoppulse.schemas.stores import Vertical

SH, PF = Vertical.SMART_HOME, Vertical.PARTY_FAVORS

# (vertical, id, unit, floor, good, exceptional), copied from KPIS.md by hand.
EXPECTED = [
    (SH, "aov", Unit.CURRENCY, 100, 150, 200),
    (SH, "consultation_conversion", Unit.RATIO, 0.25, 0.35, 0.40),
    (SH, "repeat_purchase_retention", Unit.RATIO, 0.65, 0.75, 0.80),
    (SH, "installation_uptake", Unit.RATIO, 0.30, 0.50, 0.50),
    (SH, "support_satisfaction", Unit.RATIO, 0.85, 0.90, 0.95),
    (SH, "content_engagement", Unit.RATIO, 0.05, 0.10, 0.15),
    (SH, "cross_sell", Unit.RATIO, 0.20, 0.40, 0.50),
    (PF, "aov", Unit.CURRENCY, 30, 80, 80),
    (PF, "personalization_conversion", Unit.RATIO, 0.15, 0.30, 0.40),
    (PF, "repeat_customer_rate", Unit.RATIO, 0.20, 0.40, 0.60),
    (PF, "tool_time_per_visit", Unit.SECONDS, 120, 240, 360),
    (PF, "personalization_error_rate", Unit.RATIO, 0.05, 0.02, 0.01),
    (PF, "customer_satisfaction", Unit.RATIO, 0.70, 0.80, 0.90),
    (PF, "on_time_delivery", Unit.RATIO, 0.85, 0.90, 0.95),
]


def test_catalogue_is_kpis_md() -> None:
    assert len(CATALOGUE) == 14
    assert [(k.vertical, k.id, k.unit, *vars_of(k)) for k in CATALOGUE] == EXPECTED
    assert len(kpis_for(SH)) == len(kpis_for(PF)) == 7


def vars_of(kpi) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
    return (kpi.benchmark.floor, kpi.benchmark.good, kpi.benchmark.exceptional)


def test_only_the_error_rate_is_lower_is_better() -> None:
    assert [k.id for k in CATALOGUE if k.lower_is_better] == ["personalization_error_rate"]


@pytest.mark.parametrize(
    ("vertical", "kpi_id", "value", "tier"),
    [
        (SH, "aov", 99.99, Tier.BELOW_TYPICAL),
        (SH, "aov", 100, Tier.TYPICAL),
        (SH, "aov", 150, Tier.GOOD),
        (SH, "aov", 199.99, Tier.GOOD),
        (SH, "aov", 200, Tier.EXCEPTIONAL),
        (SH, "installation_uptake", 0.49, Tier.TYPICAL),
        (SH, "installation_uptake", 0.50, Tier.EXCEPTIONAL),  # good and exceptional share 50 %
        (PF, "aov", 80, Tier.EXCEPTIONAL),
        (PF, "personalization_error_rate", 0.051, Tier.BELOW_TYPICAL),
        (PF, "personalization_error_rate", 0.05, Tier.TYPICAL),
        (PF, "personalization_error_rate", 0.03, Tier.TYPICAL),
        (PF, "personalization_error_rate", 0.02, Tier.GOOD),
        (PF, "personalization_error_rate", 0.01, Tier.EXCEPTIONAL),
        (PF, "personalization_error_rate", 0.0, Tier.EXCEPTIONAL),
        (PF, "tool_time_per_visit", 119.9, Tier.BELOW_TYPICAL),
        (PF, "on_time_delivery", 0.95, Tier.EXCEPTIONAL),
    ],
)
def test_classify(vertical: Vertical, kpi_id: str, value: float, tier: Tier) -> None:
    assert BY_KEY[(vertical, kpi_id)].classify(value) is tier


def test_every_kpi_says_what_it_measures() -> None:
    for kpi in CATALOGUE:
        assert all((kpi.title, kpi.numerator, kpi.denominator, kpi.description)), kpi.id
        assert len(kpi.tips) >= 3, kpi.id
