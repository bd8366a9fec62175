"""The stores file: loaded, validated, refused with a readable message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shoppulse.schemas.exceptions import StoresFileError
from shoppulse.schemas.stores import Vertical, load_stores

GOOD = """\
stores:
  - id: hometech-haven
    vertical: smart_home
    currency: USD
    timezone: America/New_York
  - id: fiesta-favors
    vertical: party_favors
    currency: JPY
"""


def test_loads_the_documented_format(tmp_path: Path) -> None:
    path = tmp_path / "stores.yaml"
    path.write_text(GOOD)
    stores = load_stores(path).by_id()
    assert stores["hometech-haven"].vertical is Vertical.SMART_HOME
    assert stores["fiesta-favors"].timezone == "UTC"  # the default
    assert stores["fiesta-favors"].minor_unit_exponent == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("smart_home", "garden"), "vertical"),
        (GOOD.replace("USD", "usd"), "currency"),
        (GOOD.replace("USD", "XYZ"), "XYZ"),
        (GOOD.replace("America/New_York", "Mars/Olympus"), "time zone"),
        (GOOD.replace("fiesta-favors", "hometech-haven"), "twice"),
        (GOOD.replace("hometech-haven", "Home Tech"), "id"),
        (GOOD + "    colour: red\n", "colour"),
        ("stores: []\n", "stores"),
        ("stores: [\n", "stores.yaml"),
    ],
)
def test_bad_stores_file_is_refused_with_a_reason(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "stores.yaml"
    path.write_text(text)
    with pytest.raises(StoresFileError, match=re.escape(message)) as refused:
        load_stores(path)
    assert str(refused.value).startswith(f"{path}: ")
    assert "\n" not in str(refused.value)  # one line for the command's error message


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoresFileError, match=r"missing\.yaml"):
        load_stores(tmp_path / "missing.yaml")


def test_a_file_that_is_not_utf8_is_refused_in_one_line(tmp_path: Path) -> None:
    stores = tmp_path / "stores.yaml"
    stores.write_bytes(b"stores:\n  - id: caf\xe9\n")
    with pytest.raises(StoresFileError) as refused:
        load_stores(stores)
    assert str(refused.value) == f"{stores}: not UTF-8 text (invalid continuation byte at byte 19)"
