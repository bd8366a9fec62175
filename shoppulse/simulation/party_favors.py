"""Personalised party-favour store journeys: the design tool, production, delivery.

Which journey feeds which KPI:

* every journey is one visit (tool_time_per_visit's denominator);
* design: one to three design-tool sessions, signed in or known by the visit only;
  a share of the designers order in the same visit, some as guests
  (tool_time_per_visit, personalization_conversion);
* design converters with an account, and returning loyal customers: personalised
  orders, two or three for loyal customers (repeat_customer_rate);
* plain: an order of plain party goods (aov and deliveries only);
* every order: its value (aov) and a promised delivery by 18:00 store time three
  days after the order date, kept, missed or never delivered (on_time_delivery), maybe a survey after delivery
  (customer_satisfaction); personalised orders get a production check hours later
  (personalization_error_rate).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from shoppulse.schemas.stores import Store
from shoppulse.simulation.baskets import Line
from shoppulse.simulation.behaviour import (
    ACCOUNT_AT_CHECKOUT,
    SIGNED_IN_DESIGNERS,
    Journey,
    PartyFavorsBehaviour,
)
from shoppulse.simulation.quota import Quota
from shoppulse.simulation.storefront import NEXT_ORDER, Run, Storefront, rating
from shoppulse.simulation.timeline import Event
from shoppulse.simulation.wire import DAY, HOUR, MINUTE, SECOND

# category → (smallest, largest) quantity ordered
PERSONALISED = {"favor": (10, 60), "invitation": (10, 50), "sticker": (20, 100), "candy_box": (10, 40)}
PLAIN = {"balloon": (5, 30), "tableware": (8, 40), "confetti": (1, 5)}
PERSONALISED_CATEGORIES = tuple(PERSONALISED)
PLAIN_CATEGORIES = tuple(PLAIN)
MAX_TOOL_SESSION = 21_600.0  # seconds, the contract's limit
QC_DELAY = (2 * HOUR, 12 * HOUR)  # order → production check
PROMISE_DAYS = 3  # delivery promised by PROMISE_HOUR local time, this many days after the order date
PROMISE_HOUR = time(18)
LEAD_TIME = ((PROMISE_DAYS - 1) * DAY + 18 * HOUR, PROMISE_DAYS * DAY + 18 * HOUR)  # order → promise
EARLY = (0, DAY)  # how early an on-time order arrives
LATE = (HOUR, 3 * DAY)  # how late a late one arrives
NEVER_DELIVERED = 0.25  # share of late orders that never arrive
SURVEY_SHARE = 0.35  # delivered orders whose customer answers the survey
SURVEY_DELAY = (2 * HOUR, 2 * DAY)  # delivery → survey
ORDER_TO_SURVEY = (LEAD_TIME[0] - EARLY[1] + SURVEY_DELAY[0], LEAD_TIME[1] + LATE[1] + SURVEY_DELAY[1])
SIGNED_IN_BROWSERS = 0.2


class PartyFavorsStore(Storefront):
    def __init__(self, store: Store, run: Run, rate: float, behaviour: PartyFavorsBehaviour) -> None:
        super().__init__(store, run, rate, behaviour.journeys)
        rng = run.rng
        self.mean_order_value = behaviour.order_value
        self.session_seconds = behaviour.tool_seconds / 2  # 1-3 sessions per design journey
        self.converts = Quota(behaviour.design_conversion, rng)
        self.loyal = Quota(behaviour.loyal, rng)
        self.errors = Quota(behaviour.error_rate, rng)
        self.satisfied = Quota(behaviour.satisfied, rng)
        self.on_time = Quota(behaviour.on_time, rng)

    def journey(self, kind: Journey, now: int) -> None:
        if kind is Journey.RETURNING and self.come_back(now):
            return
        if kind is Journey.DESIGN:
            self.design(now)
        elif kind is Journey.PLAIN:
            customer = self.run.ids("c") if self.rng.random() < 0.4 else None
            visit = self.visit(now, customer)
            self.party_order(now + self.between(2 * MINUTE, 10 * MINUTE), customer, visit, False)
        else:  # browsing, or a returning journey before anyone can return
            self.visit(now, self.known_customer(SIGNED_IN_BROWSERS))

    def come_back(self, now: int) -> bool:
        """A loyal customer reorders saved designs; False while nobody is loyal yet."""
        known = self.returning_customer()
        if known is None:
            return False
        visit = self.visit(now, known[0])
        self.orders(now + self.between(2 * MINUTE, 10 * MINUTE), known[0], visit, True)
        return True

    def design(self, now: int) -> None:
        rng = self.rng
        customer = self.run.ids("c") if rng.random() < SIGNED_IN_DESIGNERS else None
        visit = self.visit(now, customer)
        moment = now + self.between(10 * SECOND, MINUTE)
        for _ in range(1 + int(rng.random() * 3)):
            seconds = min(self.session_seconds * (0.4 + 1.2 * rng.random()), MAX_TOOL_SESSION)
            moment += int(seconds * SECOND)  # the session is reported when it ends
            self.emit(moment, "tool_session", customer, visit, "duration_seconds", round(seconds, 1))
            moment += self.between(10 * SECOND, 2 * MINUTE)
        if not self.converts.yes():
            return
        ordered = moment + self.between(30 * SECOND, 5 * MINUTE)
        if customer is None and rng.random() < ACCOUNT_AT_CHECKOUT:
            customer = self.run.ids("c")
        if customer is None:  # guest checkout: converts the visit, not a customer
            self.party_order(ordered, None, visit, True)
            return
        loyal = self.loyal.yes()
        if loyal:
            self.remember(customer, False)
        self.orders(ordered, customer, visit, loyal)

    def orders(self, now: int, customer: str, visit: str, loyal: bool) -> None:
        count = 2 + (self.rng.random() < 0.3) if loyal else 1
        for _ in range(count):
            self.party_order(now, customer, visit, True)
            now += self.between(*NEXT_ORDER)

    def party_order(self, now: int, customer: str | None, visit: str, personalised: bool) -> None:
        rng = self.rng
        lines: list[Line] = []
        if personalised:
            lines.append(self.line(True))
        for _ in range(int(rng.random() * 3) if personalised else 1 + int(rng.random() * 2)):
            lines.append(self.line(personalised and rng.random() < 0.5))
        promised = self.promise(now)
        items, discount = self.basket.priced(lines, self.basket.value(self.mean_order_value))
        order = self.order(now, customer, visit, items, discount, promised)
        produced = sum(line[2] for line in lines if line[4])
        self.follow_up(now, order, customer, promised, produced)
        self.backlog_follow_ups(now, produced)

    def line(self, personalised: bool) -> Line:
        """A line of personalised or plain party goods, in a quantity for a party."""
        category = self.pick(PERSONALISED_CATEGORIES if personalised else PLAIN_CATEGORIES)
        low, high = (PERSONALISED if personalised else PLAIN)[category]
        quantity = low + int(self.rng.random() * (high - low + 1))
        sku = f"{category[:4].upper()}-{'P' if personalised else 'S'}{1 + int(self.rng.random() * 4)}"
        return (sku, category, quantity, 0.5 + self.rng.random(), personalised, None)

    def promise(self, now: int) -> int:
        """When an order placed at ``now`` is promised: 18:00 store time, three days on.

        A promise that follows the order date keeps orders due in the order they were
        placed, and so in the order of their on-time decisions (see ``quota``): the
        orders due in any window are a run of decisions, whatever the window.
        """
        ordered = datetime.fromtimestamp(now / SECOND, self.zone)
        due = datetime.combine(ordered.date() + timedelta(days=PROMISE_DAYS), PROMISE_HOUR, self.zone)
        return round(due.timestamp() * SECOND)

    def follow_up(self, now: int, order: str, customer: str | None, promised: int, produced: int) -> None:
        """Schedule the order's production check, delivery and survey."""
        rng = self.rng
        if produced:
            self.later(now + self.between(*QC_DELAY), "quality_check", order, produced)
        if self.on_time.yes():
            delivered: int | None = promised - self.between(*EARLY)
        elif rng.random() < NEVER_DELIVERED:
            delivered = None
        else:
            delivered = promised + self.between(*LATE)
        if delivered is not None:
            self.later(delivered, "delivery", order, customer, None)
            if rng.random() < SURVEY_SHARE:
                self.later(delivered + self.between(*SURVEY_DELAY), "survey", customer)

    def backlog_follow_ups(self, now: int, produced: int) -> None:
        """Follow-ups of orders placed before the run (see ``Storefront.backlog``).

        A backlog delivery is emitted soon after ``now`` and names its promise: kept
        (promised at the delivery) or missed by minutes, never before the run's start,
        so it counts in the same windows as the orders placed during the run.
        """
        rng = self.rng
        if produced and rng.random() < self.backlog(now, QC_DELAY):
            self.from_backlog(
                now + self.between(0, 10 * MINUTE), "quality_check", self.run.ids("o"), produced
            )
        if rng.random() < self.backlog(now, LEAD_TIME):
            delivered = now + self.between(MINUTE, 10 * MINUTE)
            promised = delivered
            if not self.on_time.yes():
                promised = max(self.run.start, delivered - self.between(MINUTE, 30 * MINUTE))
            self.from_backlog(delivered, "delivery", self.run.ids("o"), None, promised)
        if rng.random() < SURVEY_SHARE * self.backlog(now, ORDER_TO_SURVEY):
            self.from_backlog(now + self.between(0, 10 * MINUTE), "survey", None)

    def quality_check(self, now: int, order: str, produced: int) -> Event:
        event = self.envelope("production_qc", None, None)
        event["order_id"] = order
        event["items_checked"] = produced
        event["items_with_errors"] = self.errors.count(produced)
        return event

    def delivery(self, now: int, order: str, customer: str | None, promised: int | None) -> Event:
        event = self.envelope("delivery", customer, None)
        event["order_id"] = order
        if promised is not None:
            event["promised_at"] = self.promise_text(promised)
        return event

    def survey(self, now: int, customer: str | None) -> Event:
        event = self.envelope("survey_response", customer, None)
        event["response_id"] = self.run.ids("r")
        event["rating"] = rating(self.satisfied.yes(), self.rng.random())
        return event
