"""Hypothesis strategies shared by the fuzz tests of the collector and of the input topic."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**60), max_value=10**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)


def json_text(value: Any) -> bytes:
    """JSON as any producer could write it: big integers exact, lone surrogates escaped."""
    return json.dumps(value).encode()


def json_type(value: Any) -> str:
    """The JSON type of a decoded value, telling bool from int and int from float."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number" if isinstance(value, float) else "int"
    return type(value).__name__
