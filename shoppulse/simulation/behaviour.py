"""How simulated customers behave: the journey mix and the rates that steer each KPI.

Every rate comes from the profile's target for one KPI (``profiles.target``). Most
map one to one (a satisfied share of ratings, an installation share of device
orders). Three need a little arithmetic, explained where they are computed:

* repeat buying, because returning customers are all loyal ones (``repeat_share``);
* time in the design tool, because the KPI divides by *all* visits (``tool_seconds``);
* order value, which is a mean of random baskets (``order_value``: the target itself).

Journeys (one visit each) come at fixed shares (``quota.Mix``); the share of
returning customers follows from how many loyal customers the others make.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shoppulse.kpis.catalogue import kpis_for
from shoppulse.schemas.stores import Vertical
from shoppulse.simulation.profiles import Profile, target

# A loyal customer (one who orders again within a visit) comes back this many times
# on average for another visit with orders; other customers do not order again.
RETURNS_PER_LOYAL_CUSTOMER = 0.3


class Journey(StrEnum):
    BROWSE = "browse"  # a visit without an order (reading guides, looking around)
    CONSULT = "consult"  # smart home: a compatibility consultation, then maybe orders
    DIRECT = "direct"  # smart home: a new customer who knows what to buy
    DESIGN = "design"  # party favours: the design tool, then maybe orders
    PLAIN = "plain"  # party favours: an order of plain (not personalised) items
    GUEST = "guest"  # one order without an account
    RETURNING = "returning"  # a loyal customer back for more orders


SMART_HOME_MIX = {Journey.BROWSE: 0.40, Journey.CONSULT: 0.22, Journey.DIRECT: 0.22, Journey.GUEST: 0.08}
PARTY_FAVORS_MIX = {Journey.BROWSE: 0.35, Journey.DESIGN: 0.45, Journey.PLAIN: 0.12}
SIGNED_IN_DESIGNERS = 0.5  # design-tool users who are signed in (else known by their visit)
ACCOUNT_AT_CHECKOUT = 0.5  # anonymous designers who create an account when they order


def repeat_share(target_rate: float, returns: float = RETURNS_PER_LOYAL_CUSTOMER) -> float:
    """Share q of new customers to make loyal so the repeat KPI reads ``target_rate``.

    Loyal customers order two or more times per visit and are the only ones who come
    back, so a window may hold more of them than q. How many more depends on whether
    a returning customer's first visit is in the same window: if it is, the KPI
    reads q; if not, it reads q(1 + r) / (1 + rq) for r returns per loyal customer.
    Which case holds depends on the window and the rate (returning customers are
    drawn from the latest loyal ones), so q puts ``target_rate`` half-way between.
    """

    def reading(q: float) -> float:
        return (q + q * (1 + returns) / (1 + returns * q)) / 2

    low, high = 0.0, 1.0
    for _ in range(50):  # bisection; reading() increases with q
        middle = (low + high) / 2
        if reading(middle) < target_rate:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def _targets(vertical: Vertical, profile: Profile) -> dict[str, float]:
    return {kpi.id: target(kpi, profile) for kpi in kpis_for(vertical)}


def _with_returning(mix: dict[Journey, float], new_loyal: float) -> dict[Journey, float]:
    return {**mix, Journey.RETURNING: RETURNS_PER_LOYAL_CUSTOMER * new_loyal}


@dataclass(frozen=True, slots=True)
class SmartHomeBehaviour:
    journeys: dict[Journey, float]  # relative weights
    order_value: float  # mean order revenue, in the store's currency
    consultation_conversion: float
    loyal: float  # share of new customers who order again in the same visit
    cross_sell: float  # share of customers whose baskets mix device categories
    installation: float  # share of device orders with professional installation
    satisfied: float  # share of support ratings of 4 or 5
    interactions_per_view: float

    @classmethod
    def for_profile(cls, profile: Profile) -> SmartHomeBehaviour:
        aim = _targets(Vertical.SMART_HOME, profile)
        conversion = aim["consultation_conversion"]
        loyal = repeat_share(aim["repeat_purchase_retention"])
        mix = SMART_HOME_MIX
        new_customers = mix[Journey.CONSULT] * conversion + mix[Journey.DIRECT]
        return cls(
            journeys=_with_returning(mix, loyal * new_customers),
            order_value=aim["aov"],
            consultation_conversion=conversion,
            loyal=loyal,
            cross_sell=aim["cross_sell"],
            installation=aim["installation_uptake"],
            satisfied=aim["support_satisfaction"],
            interactions_per_view=aim["content_engagement"],
        )


@dataclass(frozen=True, slots=True)
class PartyFavorsBehaviour:
    journeys: dict[Journey, float]
    order_value: float
    design_conversion: float  # share of design-tool visitors who order
    loyal: float  # share of new customers who place a second personalised order
    tool_seconds: float  # mean design-tool time of a design journey
    error_rate: float  # share of personalised items made wrong
    satisfied: float  # share of survey responses of 4 or 5
    on_time: float  # share of orders delivered by their promised time

    @classmethod
    def for_profile(cls, profile: Profile) -> PartyFavorsBehaviour:
        aim = _targets(Vertical.PARTY_FAVORS, profile)
        conversion = aim["personalization_conversion"]
        loyal = repeat_share(aim["repeat_customer_rate"])
        mix = PARTY_FAVORS_MIX
        identified = SIGNED_IN_DESIGNERS + (1 - SIGNED_IN_DESIGNERS) * ACCOUNT_AT_CHECKOUT
        journeys = _with_returning(mix, loyal * mix[Journey.DESIGN] * conversion * identified)
        # Every journey is one visit and only design journeys use the tool, so the
        # tool time per visit is (share of design journeys) x (tool time per journey).
        design_share = journeys[Journey.DESIGN] / sum(journeys.values())
        return cls(
            journeys=journeys,
            order_value=aim["aov"],
            design_conversion=conversion,
            loyal=loyal,
            tool_seconds=aim["tool_time_per_visit"] / design_share,
            error_rate=aim["personalization_error_rate"],
            satisfied=aim["customer_satisfaction"],
            on_time=aim["on_time_delivery"],
        )
