"""The KPI catalogue: the fourteen KPIs of ``shared/KPIS.md`` as data.

This is the single source of truth. The engine's arithmetic is keyed by these ids,
and the metrics, recording rules, alerts, runbooks and dashboards are generated
from these records. To change a benchmark, change it here and regenerate.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shoppulse.schemas.stores import Vertical


class Unit(StrEnum):
    CURRENCY = "currency"  # an amount in the store's currency
    RATIO = "ratio"  # 0..1, shown as percent
    SECONDS = "seconds"


class Direction(StrEnum):
    HIGHER_IS_BETTER = "higher_is_better"
    LOWER_IS_BETTER = "lower_is_better"


class Tier(StrEnum):
    BELOW_TYPICAL = "below_typical"
    TYPICAL = "typical"
    GOOD = "good"
    EXCEPTIONAL = "exceptional"


@dataclass(frozen=True, slots=True)
class Benchmark:
    """Tier thresholds in the KPI's unit, from the seeds' industry benchmarks.

    ``floor`` is the bottom of the typical band, ``good`` the above-average
    threshold, ``exceptional`` the top tier. For a lower-is-better KPI each is an
    upper bound instead.
    """

    floor: float
    good: float
    exceptional: float


@dataclass(frozen=True, slots=True)
class Kpi:
    id: str
    vertical: Vertical
    title: str
    unit: Unit
    direction: Direction
    benchmark: Benchmark
    numerator: str
    denominator: str
    description: str
    tips: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[Vertical, str]:
        return (self.vertical, self.id)

    @property
    def lower_is_better(self) -> bool:
        return self.direction is Direction.LOWER_IS_BETTER

    def classify(self, value: float) -> Tier:
        """The benchmark tier a value falls in (bounds belong to the better tier)."""
        b = self.benchmark
        if self.lower_is_better:
            if value <= b.exceptional:
                return Tier.EXCEPTIONAL
            if value <= b.good:
                return Tier.GOOD
            if value <= b.floor:
                return Tier.TYPICAL
            return Tier.BELOW_TYPICAL
        if value >= b.exceptional:
            return Tier.EXCEPTIONAL
        if value >= b.good:
            return Tier.GOOD
        if value >= b.floor:
            return Tier.TYPICAL
        return Tier.BELOW_TYPICAL


def classify(kpi: Kpi, value: float | None) -> Tier | None:
    """Tier of a KPI value; None when there is no value (denominator 0)."""
    return None if value is None else kpi.classify(value)


_HIGHER = Direction.HIGHER_IS_BETTER
_SH = Vertical.SMART_HOME
_PF = Vertical.PARTY_FAVORS

CATALOGUE: tuple[Kpi, ...] = (
    # --- Smart-home device store -------------------------------------------------
    Kpi(
        id="aov",
        vertical=_SH,
        title="Average order value",
        unit=Unit.CURRENCY,
        direction=_HIGHER,
        benchmark=Benchmark(floor=100, good=150, exceptional=200),
        numerator="order revenue (items net of discount, before tax and shipping)",
        denominator="orders",
        description="What customers spend per order on smart-home devices.",
        tips=(
            "Upsell and cross-sell complementary devices at checkout.",
            "Offer bundles of devices that work together.",
            "Give discounts or free shipping above an order threshold.",
        ),
    ),
    Kpi(
        id="consultation_conversion",
        vertical=_SH,
        title="Device-compatibility consultation conversion",
        unit=Unit.RATIO,
        direction=_HIGHER,
        benchmark=Benchmark(floor=0.25, good=0.35, exceptional=0.40),
        numerator="customers who ordered at or after a consultation in the window",
        denominator="customers who had a consultation in the window",
        description="Share of customers who buy after a device-compatibility consultation.",
        tips=(
            "Tailor the consultation to the customer's existing devices and needs.",
            "Shorten the path from the consultation to checkout (a cart link in the summary).",
            "Ask customers who consulted but did not buy what stopped them.",
        ),
    ),
    Kpi(
        id="repeat_purchase_retention",
        vertical=_SH,
        title="Customer retention for repeat purchases",
        unit=Unit.RATIO,
        direction=_HIGHER,
        benchmark=Benchmark(floor=0.65, good=0.75, exceptional=0.80),
        numerator="customers with two or more orders in the window",
        denominator="customers with at least one order in the window",
        description="Share of ordering customers who come back for another order.",
        tips=(
            "Recommend devices based on what the customer already owns.",
            "Run a loyalty programme that rewards the second order.",
            "Ask for feedback to learn what customers still need.",
            "Make post-purchase support excellent: it decides the next order.",
        ),
    ),
    Kpi(
        id="installation_uptake",
        vertical=_SH,
        title="Installation-service uptake",
        unit=Unit.RATIO,
        direction=_HIGHER,
        benchmark=Benchmark(floor=0.30, good=0.50, exceptional=0.50),
        numerator="device orders that include professional installation",
        denominator="device orders (orders with at least one non-service item)",
        description="Share of device orders that add professional installation.",
        tips=(
            "Offer discounted or bundled installation.",
            "Explain clearly what professional installation brings.",
            "Train sales staff to present installation at the right moment.",
        ),
    ),
    Kpi(
        id="support_satisfaction",
        vertical=_SH,
        title="Post-purchase support satisfaction",
        unit=Unit.RATIO,
        direction=_HIGHER,
        benchmark=Benchmark(floor=0.85, good=0.90, exceptional=0.95),
        numerator="support ratings of 4 or 5",
        denominator="support ratings",
        description="Share of post-purchase support ratings that are satisfied (4 or 5 of 5).",
        tips=(
            "Train support staff on the devices and on empathy.",
            "Answer fast through several channels.",
            "Follow up after a ticket closes to check the problem is solved.",
        ),
    ),
    Kpi(
        id="content_engagement",
        vertical=_SH,
        title="Education-content engagement rate",
        unit=Unit.RATIO,
        direction=_HIGHER,
        benchmark=Benchmark(floor=0.05, good=0.10, exceptional=0.15),
        numerator="likes + shares + comments on educational content",
        denominator="views of educational content",
        description="Interactions per view of the store's educational content.",
        tips=(
            "Publish content that answers real setup and compatibility questions.",
            "Use video and interactive guides.",
            "Invite comments and answer them.",
        ),
    ),
    Kpi(
        id="cross_sell",
        vertical=_SH,
        title="Cross-sell of complementary devices",
        unit=Unit.RATIO,
        direction=_HIGHER,
        benchmark=Benchmark(floor=0.20, good=0.40, exceptional=0.50),
        numerator="customers with an order holding two or more product categories",
        denominator="customers with an order",
        description="Share of ordering customers who buy complementary devices together.",
        tips=(
            "Show devices that work with the one in the cart.",
            "Bundle a hub with compatible sensors, lights or cameras.",
            "Train staff to recommend complementary devices.",
        ),
    ),
    # --- Personalised party-favour store -------------------------------------------
    Kpi(
        id="aov",
        vertical=_PF,
        title="Average order value for personalised products",
        unit=Unit.CURRENCY,
        direction=_HIGHER,
        benchmark=Benchmark(floor=30, good=80, exceptional=80),
        numerator="order revenue (items net of discount, before tax and shipping)",
        denominator="orders",
        description="What customers spend per order (valeur moyenne de commande).",
        tips=(
            "Offer bundles and quantity discounts for larger parties.",
            "Suggest matching favours and add-ons at checkout.",
            "Set a free-shipping threshold above the current average order.",
        ),
    ),
    Kpi(
        id="personalization_conversion",
        vertical=_PF,
        title="Personalisation conversion rate",
        unit=Unit.RATIO,
        direction=_HIGHER,
        benchmark=Benchmark(floor=0.15, good=0.30, exceptional=0.40),
        numerator="design-tool visitors who ordered at or after using the tool",
        denominator="visitors who used the design tool in the window",
        description="Share of design-tool users who go on to order (taux de conversion de personnalisation).",
        tips=(
            "Make the design tool simple and fast, with a live preview.",
            "Offer templates so visitors start from something good.",
            "Send a reminder to visitors who saved a design without ordering.",
        ),
    ),
    Kpi(
        id="repeat_customer_rate",
        vertical=_PF,
        title="Repeat-customer rate for personalised orders",
        unit=Unit.RATIO,
        direction=_HIGHER,
        benchmark=Benchmark(floor=0.20, good=0.40, exceptional=0.60),
        numerator="customers with two or more personalised orders in the window",
        denominator="customers with at least one personalised order in the window",
        description="Share of personalised-order customers who order again (taux client répété).",
        tips=(
            "Remind customers of the next occasion (birthdays, anniversaries).",
            "Keep their designs so reordering takes one click.",
            "Reward repeat orders with a loyalty discount.",
        ),
    ),
    Kpi(
        id="tool_time_per_visit",
        vertical=_PF,
        title="Time on the personalisation tool per visit",
        unit=Unit.SECONDS,
        direction=_HIGHER,
        benchmark=Benchmark(floor=120, good=240, exceptional=360),
        numerator="seconds spent in design-tool sessions",
        denominator="website visits",
        description="Average design-tool time per website visit (temps passé sur l'outil).",
        tips=(
            "Make the tool intuitive and pleasant to use.",
            "Offer many design options and elements.",
            "Show real-time previews and feedback.",
            "Add new designs regularly so visitors come back.",
        ),
    ),
    Kpi(
        id="personalization_error_rate",
        vertical=_PF,
        title="Personalisation error rate",
        unit=Unit.RATIO,
        direction=Direction.LOWER_IS_BETTER,
        benchmark=Benchmark(floor=0.05, good=0.02, exceptional=0.01),
        numerator="personalised items produced with an error",
        denominator="personalised items checked in production",
        description="Share of personalised items produced incorrectly (taux d'erreur de personnalisation).",
        tips=(
            "Add quality checks at several stages of production.",
            "Train the people who personalise items, continuously.",
            "Use automated design validation to catch typos and layout errors.",
            "Ask customers to report errors, and trace each one to its cause.",
        ),
    ),
    Kpi(
        id="customer_satisfaction",
        vertical=_PF,
        title="Customer satisfaction score (CSS)",
        unit=Unit.RATIO,
        direction=_HIGHER,
        benchmark=Benchmark(floor=0.70, good=0.80, exceptional=0.90),
        numerator="survey responses of 4 or 5",
        denominator="survey responses",
        description="Share of survey responses that are positive (score de satisfaction client).",
        tips=(
            "Collect feedback regularly through surveys, reviews and ratings.",
            "Answer individual concerns personally.",
            "Act on the feedback and tell customers what changed.",
        ),
    ),
    Kpi(
        id="on_time_delivery",
        vertical=_PF,
        title="On-time delivery rate for personalised orders",
        unit=Unit.RATIO,
        direction=_HIGHER,
        benchmark=Benchmark(floor=0.85, good=0.90, exceptional=0.95),
        numerator="orders due in the window delivered on or before their promised time",
        denominator="orders whose promised delivery time fell in the window",
        description="Share of orders delivered by the promised date (taux de livraison à temps).",
        tips=(
            "Streamline order processing and production to cut delays.",
            "Promise realistic delivery dates from the start.",
            "Work with reliable shipping partners.",
            "Review production and delivery steps regularly.",
        ),
    ),
)

BY_KEY: dict[tuple[Vertical, str], Kpi] = {kpi.key: kpi for kpi in CATALOGUE}


def kpis_for(vertical: Vertical) -> tuple[Kpi, ...]:
    return tuple(kpi for kpi in CATALOGUE if kpi.vertical is vertical)
