"""ISO 4217 currencies and their minor units (cents for USD, none for JPY).

The code list and minor-unit exponents come from CLDR through Babel, so they follow
ISO 4217 updates without a hand-kept table here.
"""

from __future__ import annotations

from functools import cache

from babel.numbers import get_currency_precision, list_currencies
from pydantic_core import PydanticCustomError

_KNOWN = frozenset(list_currencies())


@cache
def minor_unit_exponent(code: str) -> int:
    """Number of decimals the currency uses (2 for USD, 0 for JPY, 3 for KWD)."""
    if code not in _KNOWN:
        raise PydanticCustomError("invalid_currency", "{code} is not an ISO 4217 currency", {"code": code})
    return int(get_currency_precision(code))


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
