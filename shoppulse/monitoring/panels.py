"""Panel builders for the dashboards: KPI stats and time series coloured by the tiers.

Queries come from `promql`; this module only lays them out. Thresholds are the
catalogue's tiers, ascending as Grafana wants them (for a lower-is-better KPI the
best tier comes first). Grafana colours a value equal to a step with that step, so a
value exactly on a bound shows the worse tier's colour (the catalogue gives the
bound to the better tier); nothing else differs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.models import common, units
from grafana_foundation_sdk.models import dashboard as model

from shoppulse.kpis.catalogue import Kpi, Tier, Unit
from shoppulse.monitoring.policy import KpiPolicy
from shoppulse.monitoring.wording import band_text
from shoppulse.schemas.currency import EXPONENTS

DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
TIER_COLOURS = {
    Tier.BELOW_TYPICAL: "red",
    Tier.TYPICAL: "yellow",
    Tier.GOOD: "green",
    Tier.EXCEPTIONAL: "blue",
}
GRAFANA_CURRENCIES = tuple(
    sorted(
        code
        for value in vars(units).values()
        if isinstance(value, str) and re.fullmatch(r"currency[A-Z]{3}", value)
        if (code := value.removeprefix("currency")) in EXPONENTS
    )
)
"""ISO codes Grafana has a currency unit for; other currencies show as plain numbers."""


def query(expr: str, legend: str, ref: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DATASOURCE)


def tier_steps(kpi: Kpi) -> list[model.Threshold]:
    b = kpi.benchmark
    if kpi.lower_is_better:
        bounds = [(None, Tier.EXCEPTIONAL), (b.exceptional, Tier.GOOD), (b.good, Tier.TYPICAL)]
        bounds.append((b.floor, Tier.BELOW_TYPICAL))
    else:
        bounds = [(None, Tier.BELOW_TYPICAL), (b.floor, Tier.TYPICAL), (b.good, Tier.GOOD)]
        bounds.append((b.exceptional, Tier.EXCEPTIONAL))
    steps: dict[float | None, Tier] = {}
    for value, tier in bounds:
        steps[value] = tier  # a shared bound (good == exceptional) keeps the later tier
    return [model.Threshold(value=value, color=TIER_COLOURS[tier]) for value, tier in steps.items()]


def tier_thresholds(kpi: Kpi) -> dash.ThresholdsConfig:
    return dash.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps(tier_steps(kpi))


def unit_of(kpi: Kpi) -> str:
    return {Unit.RATIO: units.PercentUnit, Unit.SECONDS: units.Seconds, Unit.CURRENCY: units.NoUnit}[kpi.unit]


def legend_of(kpi: Kpi) -> str:
    return "{{store}} ({{currency}})" if kpi.unit is Unit.CURRENCY else "{{store}}"


def with_currency_units(panel: stat.Panel | timeseries.Panel, kpi: Kpi) -> None:
    """Per-currency units for amounts: the legend ends with the store's currency code."""
    if kpi.unit is not Unit.CURRENCY:
        return
    for code in GRAFANA_CURRENCIES:
        panel.override_by_regexp(
            rf".*\({code}\)$", [model.DynamicConfigValue(id_val="unit", value=f"currency{code}")]
        )


def describe(policy: KpiPolicy) -> str:
    kpi = policy.kpi
    return (
        f"{kpi.description} Formula: {kpi.numerator} / {kpi.denominator}. Benchmarks: {band_text(kpi)}."
        f" Alerts use the {policy.tier_window} window and need at least {policy.min_denominator}"
        f" {policy.denominator_noun}."
    )


def kpi_stat(policy: KpiPolicy, expr: str, *, width: int = 6, height: int = 6) -> stat.Panel:
    kpi = policy.kpi
    panel = (
        stat.Panel()
        .title(kpi.title)
        .description(describe(policy))
        .datasource(DATASOURCE)
        .with_target(query(expr, legend_of(kpi)))
        .unit(unit_of(kpi))
        .decimals(1)
        .thresholds(tier_thresholds(kpi))
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.AREA)
        .text_mode(common.BigValueTextMode.VALUE_AND_NAME)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .no_value("no data (no denominator yet)")
        .span(width)
        .height(height)
    )
    with_currency_units(panel, kpi)
    return panel


def kpi_timeseries(policy: KpiPolicy, expr: str, *, width: int = 12, height: int = 8) -> timeseries.Panel:
    kpi = policy.kpi
    panel = (
        timeseries.Panel()
        .title(f"{kpi.title} over time")
        .description(describe(policy))
        .datasource(DATASOURCE)
        .with_target(query(expr, legend_of(kpi)))
        .unit(unit_of(kpi))
        .thresholds(tier_thresholds(kpi))
        .thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.LINE_AND_AREA)
        )
        .span(width)
        .height(height)
    )
    with_currency_units(panel, kpi)
    return panel


def sample_size(policy: KpiPolicy, expr: str, *, width: int = 6, height: int = 8) -> timeseries.Panel:
    """The denominator, with the alerts' guardrail drawn as a dashed line."""
    steps = [
        model.Threshold(value=None, color="orange"),
        model.Threshold(value=policy.min_denominator, color="green"),
    ]
    return (
        timeseries.Panel()
        .title(f"Sample: {policy.denominator_noun}")
        .description(
            f"Denominator of {policy.kpi.title} in the selected window. KPI alerts stay quiet below"
            f" {policy.min_denominator} {policy.denominator_noun} (they read the"
            f" {policy.tier_window} window)."
        )
        .datasource(DATASOURCE)
        .with_target(query(expr, "{{store}}"))
        .unit(units.Short)
        .thresholds(dash.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps(steps))
        .thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.DASHED)
        )
        .span(width)
        .height(height)
    )


def ops_timeseries(
    title: str, targets: Sequence[tuple[str, str]], unit: str, *, description: str = "", width: int = 12
) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).description(description).datasource(DATASOURCE).unit(unit)
    for index, (expr, legend) in enumerate(targets):
        panel.with_target(query(expr, legend, ref=chr(ord("A") + index)))
    return panel.span(width).height(8)


def ops_stat(title: str, expr: str, unit: str, *, description: str = "", width: int = 6) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(query(expr, title))
        .unit(unit)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .graph_mode(common.BigValueGraphMode.AREA)
        .span(width)
        .height(4)
    )
