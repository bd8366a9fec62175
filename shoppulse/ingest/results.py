"""The per-event answer to ``POST /v1/events`` and the status code it implies."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any, NamedTuple

from shoppulse.schemas.validation import Rejection


class Status(StrEnum):
    ACCEPTED = "accepted"  # on the topic (now, or already: see ``duplicate``)
    REJECTED = "rejected"  # breaks the contract; do not retry it unchanged


class EventResult(NamedTuple):
    index: int  # position in the request (0 for a single event)
    event_id: str | None
    status: Status
    duplicate: bool = False  # accepted earlier (a retry): not written again
    rejection: Rejection | None = None

    def as_dict(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"index": self.index, "event_id": self.event_id, "status": self.status.value}
        if self.duplicate:
            answer["duplicate"] = True
        if self.rejection is not None:
            answer.update(self.rejection.as_dict())
        return answer


def status_code(results: Sequence[EventResult]) -> int:
    """200 when every event is accepted, 400 when none is, 207 when some are."""
    accepted = sum(result.status is Status.ACCEPTED for result in results)
    if accepted == len(results):
        return 200
    return 400 if accepted == 0 else 207


def response_body(results: Sequence[EventResult]) -> dict[str, Any]:
    accepted = [r for r in results if r.status is Status.ACCEPTED]
    return {
        "accepted": len(accepted),
        "duplicates": sum(r.duplicate for r in accepted),
        "rejected": len(results) - len(accepted),
        "results": [result.as_dict() for result in results],
    }
