"""Smart-home device store journeys: guides, consultations, device baskets, support.

Which journey feeds which KPI:

* browse: content views with likes, shares and comments (content_engagement);
* consult: a compatibility consultation; a share of the customers go on to order
  (consultation_conversion);
* direct, consult, returning: orders by customers. Loyal customers place two or
  three orders in the visit, one basket mixing categories for cross-buyers
  (repeat_purchase_retention, cross_sell);
* guest: an order without an account (counts in aov and installation_uptake only);
* every order: its value (aov), maybe professional installation
  (installation_uptake), maybe a support ticket rated hours or days later
  (support_satisfaction).
"""

from __future__ import annotations

from shoppulse.schemas.stores import Store
from shoppulse.simulation.baskets import Line
from shoppulse.simulation.behaviour import Journey, SmartHomeBehaviour
from shoppulse.simulation.quota import Quota
from shoppulse.simulation.storefront import NEXT_ORDER, Run, Storefront, rating
from shoppulse.simulation.timeline import Event
from shoppulse.simulation.wire import DAY, HOUR, MINUTE, SECOND

CATEGORIES = ("hub", "camera", "lighting", "sensor", "lock", "thermostat", "speaker", "plug")
SKUS = {category: tuple(f"{category[:4].upper()}-{n}" for n in range(1, 6)) for category in CATEGORIES}
INSTALLATION: Line = ("INSTALL-PRO", "service", 1, 0.35, False, "installation")
GUIDES = tuple(
    f"guide-{topic}"
    for topic in ("hub-setup", "matter-explained", "camera-placement", "smart-lighting", "lock-pairing")
)
INTERACTIONS = ("like", "like", "like", "share", "comment")
TICKET_SHARE = 0.2  # orders that lead to a support ticket
TICKET_DELAY = (HOUR, 3 * DAY)
SIGNED_IN_BROWSERS = 0.3


class SmartHomeStore(Storefront):
    def __init__(self, store: Store, run: Run, rate: float, behaviour: SmartHomeBehaviour) -> None:
        super().__init__(store, run, rate, behaviour.journeys)
        rng = run.rng
        self.mean_order_value = behaviour.order_value
        self.converts = Quota(behaviour.consultation_conversion, rng)
        self.loyal = Quota(behaviour.loyal, rng)
        self.mixes = Quota(behaviour.cross_sell, rng)
        self.installs = Quota(behaviour.installation, rng)
        self.satisfied = Quota(behaviour.satisfied, rng)
        self.interacts = Quota(behaviour.interactions_per_view, rng)

    def journey(self, kind: Journey, now: int) -> None:
        if kind is Journey.RETURNING and self.come_back(now):
            return
        if kind is Journey.CONSULT:
            self.consult(now)
        elif kind is Journey.DIRECT:
            self.direct(now)
        elif kind is Journey.GUEST:
            visit = self.visit(now, None)
            mixes = self.rng.random() < 0.3  # guests are not customers: no cross-sell quota
            self.device_order(now + self.between(2 * MINUTE, 15 * MINUTE), None, visit, mixes)
        else:  # browsing, or a returning journey before anyone can return
            customer = self.known_customer(SIGNED_IN_BROWSERS)
            visit = self.visit(now, customer)
            self.read(now + self.between(5 * SECOND, MINUTE), customer, visit, 1 + int(self.rng.random() * 3))

    def come_back(self, now: int) -> bool:
        """A loyal customer's new visit with orders; False while nobody is loyal yet."""
        known = self.returning_customer()
        if known is None:
            return False
        customer, mixes = known
        visit = self.visit(now, customer)
        self.orders(now + self.between(2 * MINUTE, 15 * MINUTE), customer, visit, mixes, True)
        return True

    def consult(self, now: int) -> None:
        """A new customer's compatibility consultation; some order afterwards."""
        customer = self.run.ids("c")
        visit = self.visit(now, customer)
        if self.rng.random() < 0.5:
            self.read(now + self.between(5 * SECOND, MINUTE), customer, visit, 1)
        consulted = now + self.between(MINUTE, 10 * MINUTE)
        self.emit(consulted, "consultation", customer, visit, "consultation_id", self.run.ids("k"))
        if self.converts.yes():
            delay = min(int(self.rng.expovariate(1 / 5) * MINUTE), 40 * MINUTE)
            self.new_customer(consulted + delay, customer, visit)

    def direct(self, now: int) -> None:
        """A new customer who knows what to buy."""
        customer = self.run.ids("c")
        visit = self.visit(now, customer)
        if self.rng.random() < 0.3:
            self.read(now + self.between(5 * SECOND, MINUTE), customer, visit, 1)
        self.new_customer(now + self.between(2 * MINUTE, 15 * MINUTE), customer, visit)

    def read(self, now: int, customer: str | None, visit: str, guides: int) -> None:
        """Views of educational content, each liked, shared or commented at the set rate."""
        for _ in range(guides):
            guide = self.pick(GUIDES)
            self.emit(now, "content_view", customer, visit, "content_id", guide)
            if self.interacts.yes():
                reacted = now + self.between(10 * SECOND, 3 * MINUTE)
                reaction = self.pick(INTERACTIONS)
                fields = ("content_id", guide, "interaction", reaction)
                self.emit(reacted, "content_interaction", customer, visit, *fields)
            now += self.between(20 * SECOND, 4 * MINUTE)

    def new_customer(self, now: int, customer: str, visit: str) -> None:
        loyal = self.loyal.yes()
        mixes = self.mixes.yes()
        if loyal:
            self.remember(customer, mixes)
        self.orders(now, customer, visit, mixes, loyal)

    def orders(self, now: int, customer: str, visit: str, mixes: bool, loyal: bool) -> None:
        """One order, or two or three for a loyal customer; a cross-buyer's first one mixes."""
        count = 2 + (self.rng.random() < 0.3) if loyal else 1
        for index in range(count):
            self.device_order(now, customer, visit, mixes and index == 0)
            now += self.between(*NEXT_ORDER)

    def device_order(self, now: int, customer: str | None, visit: str, mixes: bool) -> None:
        rng = self.rng
        chosen = self.pick_distinct(CATEGORIES, 2 + (rng.random() < 0.3) if mixes else 1)
        lines: list[Line] = []
        for category in chosen:
            quantity = 1 if rng.random() < 0.7 else 2 + int(rng.random() * 3)
            lines.append((self.pick(SKUS[category]), category, quantity, 0.5 + rng.random(), False, None))
        if self.installs.yes():
            lines.append(INSTALLATION)
        self.order(now, customer, visit, *self.basket.priced(lines, self.basket.value(self.mean_order_value)))
        if rng.random() < TICKET_SHARE:
            self.later(now + self.between(*TICKET_DELAY), "support_rating", customer)
        if rng.random() < TICKET_SHARE * self.backlog(now, TICKET_DELAY):
            self.from_backlog(now + self.between(0, 10 * MINUTE), "support_rating", self.run.ids("c"))

    def support_rating(self, now: int, customer: str | None) -> Event:
        event = self.envelope("support_rating", customer, None)
        event["ticket_id"] = self.run.ids("t")
        event["rating"] = rating(self.satisfied.yes(), self.rng.random())
        return event
