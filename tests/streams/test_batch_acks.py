"""A batch is acknowledged only when its body ran to the end.

Faust's ``take_events`` acknowledges a batch in a ``finally``, so a body cancelled half-way
(a worker stopping) would have its offsets committed as the consumer stops. These tests
drive Faust's own ``Message`` through the same reference counting the consumer uses.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from faust.types.tuples import Message

from shoppulse.streams.app import _acked_only_when_done


@dataclass
class Delivered:
    """What the worker's batch body reads of a Faust event: its message."""

    message: Message


def delivered(offset: int) -> Delivered:
    message = Message("t", 0, offset, 0.0, 0, None, None, b"{}", None)
    message.incref()  # what Faust's consumer does when it hands the message to a stream
    return Delivered(message)


def take_events_acks(events: list[Delivered]) -> list[bool]:
    """The acknowledgements ``take_events`` gives in its ``finally``."""
    return [event.message.ack(None) for event in events]  # type: ignore[arg-type]


def test_a_completed_batch_is_acknowledged() -> None:
    events = [delivered(offset) for offset in range(3)]
    with _acked_only_when_done(events):  # type: ignore[arg-type]
        pass
    assert take_events_acks(events) == [True, True, True]
    assert all(event.message.acked for event in events)


@pytest.mark.parametrize("interruption", [asyncio.CancelledError, RuntimeError])
def test_a_batch_cancelled_or_failed_half_way_is_not_acknowledged(interruption: type[BaseException]) -> None:
    events = [delivered(offset) for offset in range(3)]
    with pytest.raises(interruption), _acked_only_when_done(events):  # type: ignore[arg-type]
        raise interruption
    assert take_events_acks(events) == [False, False, False]
    assert not any(event.message.acked for event in events)
