"""What routing sends to the entities that join events (see ``routing``)."""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

# An order as the entities keep it: (ts seconds, event_id, flags, revenue in minor
# units, promised delivery ts or None). A tuple: compact, and ordered by (ts, event_id).
OrderFact = tuple[int, str, int, int, int | None]


class Kind(IntEnum):
    """The entities that join events, each keyed by ``(store_id, id)``."""

    ORDER = 0
    CUSTOMER = 1
    VISIT = 2


class PlacedOrder(NamedTuple):
    """A version of an order, for its order and its customer."""

    order_id: str
    fact: OrderFact


class OrderInVisit(NamedTuple):
    """An order placed in a visit: for the visit, then for its signed-in tool users."""

    order_id: str
    ts: int
    event_id: str


class Delivered(NamedTuple):
    ts: int
    event_id: str
    promised: int | None


class Consulted(NamedTuple):
    ts: int


class UsedTool(NamedTuple):
    ts: int
    customer_id: str | None  # the signed-in user, told to the visit


Message = PlacedOrder | OrderInVisit | Delivered | Consulted | UsedTool
Address = tuple[Kind, str, str]  # (entity kind, store_id, entity id)
Forward = tuple[Kind, str, Message]  # an entity's message to another entity of its store
