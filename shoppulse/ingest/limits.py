"""What one request may carry, and the cheap checks made before a full JSON parse."""

from __future__ import annotations

import re
from typing import NamedTuple

# Escapes go first (so an escaped quote cannot end a string), then everything but
# brackets and quotes, then the strings: what is left is the nesting structure.
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
_STRING = re.compile(rb'"[^"]*"')
_EMPTY_PAIR = re.compile(rb"\[\]|\{\}")


class Limits(NamedTuple):
    """Per-request limits of the collector.

    ``max_depth`` counts every array and object level: a batch of orders is 4 deep
    (batch array → order → ``items`` → line item).
    """

    max_body_bytes: int = 1024 * 1024
    max_events: int = 1000
    max_depth: int = 8


def json_depth_exceeds(body: bytes, max_depth: int) -> bool:
    """True when arrays/objects nest deeper than ``max_depth``.

    Made on the raw bytes before the body reaches a recursive parser: keep only the
    brackets outside strings, then remove innermost empty pairs once per allowed
    level. Anything still removable after that is nested too deep. Every
    step runs in C (``re``, ``bytes.translate``); malformed JSON is left to the parser.
    """
    structure = _STRING.sub(b"", _ESCAPE.sub(b"", body).translate(None, _NOT_STRUCTURE))
    for _ in range(max_depth):
        reduced = _EMPTY_PAIR.sub(b"", structure)
        if reduced == structure:
            return False  # fully reduced, or brackets that do not pair up (malformed)
        structure = reduced
    return _EMPTY_PAIR.search(structure) is not None
