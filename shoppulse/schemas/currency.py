"""ISO 4217 currencies and their minor units (cents for USD, none for JPY).

The code list and minor-unit exponents are ISO 4217's own table (list one, the
currencies in use), from the ``iso4217`` package, so they follow its updates without
a hand-kept table here. CLDR's figures (Babel's) are not used: CLDR gives 0 decimals
to a dozen currencies that ISO gives 2 or 3 (RSD, LBP, IQD…), and it knows withdrawn
codes (DEM), while the contract says ISO 4217.
"""

from __future__ import annotations

from iso4217 import Currency
from pydantic_core import PydanticCustomError

# Codes with no minor unit in ISO 4217 ("N.A.": gold, fund and test codes such as XAU,
# XDR, XXX) are left out: they are not a shop's currency, and an amount in them could
# not be counted in minor units.
EXPONENTS: dict[str, int] = {
    currency.code: currency.exponent for currency in Currency if currency.exponent is not None
}


def minor_unit_exponent(code: str) -> int:
    """Number of decimals the currency uses (2 for USD, 0 for JPY, 3 for KWD)."""
    exponent = EXPONENTS.get(code)
    if exponent is None:
        raise PydanticCustomError(
            "invalid_currency", "{code} is not an ISO 4217 currency in use", {"code": code}
        )
    return exponent


class TooManyDecimals(ValueError):
    """A money string with more decimals than its currency has (``minor_units``)."""


def minor_units(amount: str, exponent: int) -> int:
    """A contract money string ("49.90") in minor units (4990 for exponent 2), exact.

    ``amount`` matches the money pattern (the order model checks it first); one with more
    than ``exponent`` decimals raises TooManyDecimals, which the order validator turns into
    the contract's error, with the field's path. Integer arithmetic: a ``Decimal`` rounds
    past 28 digits, and money strings may hold 32.

    Not cached: a report's order lines hold tens of thousands of distinct prices, so an
    ``lru_cache`` of 4,096 missed two lookups in three, and a miss that evicts cost more than
    this computation. Even a table holding them all was no faster: its lookups, spread over
    the heap, miss the CPU caches. Each line comes here once, from the order validator (the
    engine takes the order's revenue from it, ``events.validated_revenue``).
    """
    whole, _, fraction = amount.partition(".")
    places = len(fraction)
    if places > exponent:
        raise TooManyDecimals(f"{amount} has more than {exponent} decimals")
    return int(whole + fraction) * 10 ** (exponent - places)


def decimal_places(amount: str) -> int:
    """Digits after the point of a contract money string ("79.001" → 3)."""
    dot = amount.find(".")
    return 0 if dot < 0 else len(amount) - dot - 1
