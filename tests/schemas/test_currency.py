"""Currencies and their decimals are ISO 4217's, as the contract says."""

from __future__ import annotations

import pytest
from pydantic_core import PydanticCustomError

from shoppulse.schemas.currency import minor_unit_exponent


@pytest.mark.parametrize(
    ("code", "exponent"),
    [
        ("USD", 2),
        ("EUR", 2),
        ("JPY", 0),
        ("KWD", 3),
        # CLDR (Babel) says 0 for these; ISO 4217 says 2 and 3.
        ("RSD", 2),
        ("LBP", 2),
        ("IQD", 3),
    ],
)
def test_minor_units_are_iso_4217s(code: str, exponent: int) -> None:
    assert minor_unit_exponent(code) == exponent


@pytest.mark.parametrize("code", ["DEM", "XAU", "XXX", "ABC"])
def test_withdrawn_codes_and_codes_without_a_minor_unit_are_refused(code: str) -> None:
    with pytest.raises(PydanticCustomError) as refused:
        minor_unit_exponent(code)
    assert refused.value.type == "invalid_currency"
