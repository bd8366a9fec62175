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
