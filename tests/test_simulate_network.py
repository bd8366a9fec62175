"""What the simulated network does to events: copies and late sends, every event once or more."""

from __future__ import annotations

import inspect
import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta

from shoppulse import cli
from shoppulse.schemas.stores import load_stores
from shoppulse.simulation import generate_events
from shoppulse.simulation.network import PERFECT, REALISTIC, Network, deliveries
from shoppulse.simulation.sample import SAMPLE_STORES

START = datetime(2026, 5, 1, tzinfo=UTC)


def events(count_hours: int = 6) -> list[dict[str, object]]:
    stores = load_stores(SAMPLE_STORES)
    return list(
        generate_events(
            stores, start=START, duration=timedelta(hours=count_hours), rate=2, profile="typical", seed=3
        )
    )


def test_a_perfect_network_sends_each_event_once_at_its_time() -> None:
    generated = events(1)
    sent = list(deliveries(generated, PERFECT, seed=1))
    assert [event for _, event in sent] == generated
    assert all(at == datetime.fromisoformat(event["ts"]) for at, event in sent)  # type: ignore[arg-type]


def test_some_events_are_sent_twice_and_some_late_in_the_order_they_are_sent() -> None:
    generated = events()
    network = Network(retried=0.02, delayed=0.05)
    sent = list(deliveries(generated, network, seed=1))
    moments = [at for at, _ in sent]
    assert moments == sorted(moments)
    copies = Counter(event["event_id"] for _, event in sent)
    assert set(copies) == {event["event_id"] for event in generated}  # none lost
    assert set(copies.values()) == {1, 2}
    assert abs(sum(n == 2 for n in copies.values()) / len(generated) - network.retried) < 0.01
    lateness = [at - datetime.fromisoformat(event["ts"]) for at, event in sent]  # type: ignore[arg-type]
    assert min(lateness) == timedelta(0)
    assert max(lateness) <= network.max_delay + network.retry_after
    late = sum(delay > network.retry_after for delay in lateness)
    assert abs(late / len(generated) - network.delayed) < 0.02
    # Late sends overtake later events: the topic sees them out of order.
    times = [datetime.fromisoformat(event["ts"]) for _, event in sent]  # type: ignore[arg-type]
    assert any(later < earlier for earlier, later in itertools.pairwise(times))


def test_the_simulate_commands_defaults_are_the_realistic_network() -> None:
    options = inspect.signature(cli.simulate).parameters
    assert (options["retried"].default, options["delayed"].default) == (REALISTIC.retried, REALISTIC.delayed)
