"""How values, thresholds and benchmark bands read in alerts and runbooks.

Alert texts are Python format strings with `{store}` and `{value}` slots. The rules
fill the slots with Go-template placeholders; the rule tests fill them with the text
Prometheus must render, formatted here the way its template functions do.
"""

from __future__ import annotations

from shoppulse.kpis.catalogue import Kpi, Unit


def threshold_text(unit: Unit, value: float) -> str:
    """A benchmark as people read it: 25%, 120 s, 100 (currency amounts carry no symbol)."""
    if unit is Unit.RATIO:
        return f"{value * 100:g}%"
    if unit is Unit.SECONDS:
        return f"{value:g} s"
    return f"{value:g}"


def difference_text(unit: Unit, value: float) -> str:
    """A step between two values: 1.25 percentage points, 30 s, 20 (a ratio's step is in points)."""
    if unit is Unit.RATIO:
        return f"{value * 100:g} percentage points"
    return threshold_text(unit, value)


def band_text(kpi: Kpi) -> str:
    """The benchmark tiers in words, e.g. "typical from 25%, good from 35%, exceptional from 40%"."""
    b = kpi.benchmark
    word = "up to" if kpi.lower_is_better else "from"
    floor, good, top = (threshold_text(kpi.unit, v) for v in (b.floor, b.good, b.exceptional))
    tiers = f"typical {word} {floor}, "
    tiers += (
        f"good and exceptional {word} {top}"
        if good == top
        else f"good {word} {good}, exceptional {word} {top}"
    )
    if kpi.unit is Unit.CURRENCY:
        tiers += ", in the store's currency"
    return tiers


def value_template(unit: Unit | None, ref: str) -> str:
    """Go-template text that renders a value `ref` (`$value`, `$values.A.Value`) in its unit."""
    if unit is Unit.RATIO:
        return f"{{{{ {ref} | humanizePercentage }}}}"
    if unit is Unit.SECONDS:
        return f"{{{{ {ref} | humanizeDuration }}}}"
    if unit is Unit.CURRENCY:
        return f'{{{{ {ref} | printf "%.2f" }}}} {{{{ $labels.currency }}}}'
    return f"{{{{ {ref} }}}}"


def value_text(unit: Unit | None, value: float, currency: str = "") -> str:
    """What `value_template` renders to for a concrete value (mirrors Prometheus's functions)."""
    if unit is Unit.RATIO:
        return humanize_percentage(value)
    if unit is Unit.SECONDS:
        return humanize_duration(value)
    if unit is Unit.CURRENCY:
        return f"{value:.2f} {currency}"
    return f"{value:g}"


def humanize_percentage(value: float) -> str:
    """Prometheus's humanizePercentage: `%.4g%%` of value * 100."""
    return f"{value * 100:.4g}%"


def humanize_duration(seconds: float) -> str:
    """Prometheus's humanizeDuration, for the range the KPIs use (0 and from 1 s up)."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        raise ValueError("sub-second durations are not used by ShopPulse KPIs")
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes}m {secs}s"
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{seconds:.4g}s"
