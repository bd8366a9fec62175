"""Terminal rendering of KPI values (used by `report` and the live demo)."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table

from shoppulse.kpis.catalogue import Tier, Unit
from shoppulse.kpis.engine import KpiValue
from shoppulse.schemas.stores import Stores

TIER_STYLE = {
    Tier.BELOW_TYPICAL: "bold red",
    Tier.TYPICAL: "yellow",
    Tier.GOOD: "green",
    Tier.EXCEPTIONAL: "bold green",
}


def format_value(value: float | None, unit: Unit, currency: str) -> str:
    if value is None:
        return "-"
    if unit is Unit.RATIO:
        return f"{value:.1%}"
    if unit is Unit.SECONDS:
        return f"{value:,.0f} s"
    return f"{value:,.2f} {currency}"


def kpi_table(values: Iterable[KpiValue], stores: Stores, title: str) -> Table:
    currency = {store.id: store.currency for store in stores.stores}
    table = Table(title=title, title_justify="left")
    for column in ("store", "KPI", "value", "numerator / denominator", "tier"):
        table.add_column(column, justify="right" if column in ("value",) else "left")
    for kpi_value in values:
        tier = kpi_value.tier
        table.add_row(
            kpi_value.store_id,
            kpi_value.kpi.id,
            format_value(kpi_value.value, kpi_value.kpi.unit, currency[kpi_value.store_id]),
            f"{kpi_value.numerator:,.10g} / {kpi_value.denominator:,.0f}",
            f"[{TIER_STYLE[tier]}]{tier.value.replace('_', ' ')}[/]" if tier else "no data",
        )
    return table
