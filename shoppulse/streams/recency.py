"""Caches of decoded state kept in a dict's order: the least recently used first.

A dict keeps its keys in insertion order, so an entry moved to the end on every use
(``pop`` then set again) leaves the least recently used at the front, and trimming is
a slice of the first keys: no linked list or timestamps beside the values.
"""

from __future__ import annotations

import itertools
from typing import Any


def drop_least_recent(cache: dict[Any, Any], size: int) -> None:
    """Delete the least recently used entries of ``cache`` until it holds ``size``."""
    for key in list(itertools.islice(cache, max(len(cache) - size, 0))):
        del cache[key]
