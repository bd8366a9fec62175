"""Baskets: order values around a target mean, spread over line items as money strings."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from shoppulse.simulation.timeline import Atom

DISCOUNTED = 0.15  # share of orders with a discount
ORDER_VALUE_SPREAD = 0.5  # sigma of the log-normal order value around its mean

# A line of a basket being made: (sku, category, quantity, share of the price,
# personalised, service or None).
Line = tuple[str, str, int, float, bool, str | None]
# A priced line travels flat, ITEM_FIELDS atoms in a row: sku, category, quantity,
# unit price text, personalised, service or None.
ITEM_FIELDS = 6


class Basket:
    __slots__ = ("_minor_per_unit", "_money", "_rng")

    def __init__(self, rng: random.Random, money: Callable[[int], str], minor_per_unit: int) -> None:
        self._rng = rng
        self._money = money
        self._minor_per_unit = minor_per_unit

    def value(self, mean: float) -> int:
        """A random order revenue in minor units, log-normal with mean ``mean`` (major units)."""
        sigma = ORDER_VALUE_SPREAD
        return round(mean * self._minor_per_unit * self._rng.lognormvariate(-sigma * sigma / 2, sigma))

    def priced(self, lines: list[Line], revenue: int) -> tuple[tuple[Atom, ...], str | None]:
        """Flat line items whose total, net of the discount, is ``revenue`` (to rounding).

        ``revenue`` is shared among the lines in proportion to their price shares; a
        discounted basket is priced 5-20 % higher and the discount brings it back.
        """
        rng = self._rng
        discounted = rng.random() < DISCOUNTED
        gross = revenue * (1.05 + 0.15 * rng.random()) if discounted else revenue
        shares = sum(line[3] for line in lines)
        items: list[Atom] = []
        total = 0
        for sku, category, quantity, share, personalised, service in lines:
            unit = max(1, round(gross * share / shares / quantity))
            total += unit * quantity
            items += (sku, category, quantity, self._money(unit), personalised, service)
        discount = total - revenue if discounted and total > revenue else 0
        return tuple(items), self._money(discount) if discount else None


def item_dict(
    sku: str, category: str, quantity: int, price: str, personalised: bool, service: str | None
) -> dict[str, Any]:
    """A line item in the wire format (optional fields only when set)."""
    item: dict[str, Any] = {"sku": sku, "category": category, "quantity": quantity, "unit_price": price}
    if personalised:
        item["personalized"] = True
    if service is not None:
        item["service"] = service
    return item
