"""Crashes mid-stream: whatever the moment of a SIGKILL, nothing is lost or counted twice."""

from __future__ import annotations

import random
import signal
from pathlib import Path

import orjson

from shoppulse.broker import EmbeddedBroker
from tests.streams.support import (
    caught_up,
    figures_after_restart,
    produce,
    reference,
    start_worker,
    total,
    wait_until,
)
from tests.streams.traffic import traffic

KILLS = 5


def events_in(messages: list[bytes]) -> int:
    """Events in ``messages``: one each, or one per element of a JSON array."""
    return sum(len(orjson.loads(m)) if m.startswith(b"[") else 1 for m in messages)


def test_sigkill_at_five_random_points(tmp_path: Path, broker: EmbeddedBroker, stores_file: Path) -> None:
    """Five SIGKILLs at random moments of one stream; the survivor equals the reference.

    The stream arrives in six parts, one before each worker starts, so every worker has
    fresh work. Each kill lands at a random point of the worker's progress (a random share
    of its part applied), not after a random delay: a delay that suits a slow machine
    lets a fast one finish first. The kills interrupt sends, table writes and commits.
    """
    rng = random.Random()  # a different schedule each run; printed on failure
    shares = [round(rng.uniform(0.05, 0.6), 2) for _ in range(KILLS)]
    events, messages, _ = traffic(40_000, seed=21)
    parts = [messages[i :: KILLS + 1] for i in range(KILLS + 1)]
    kills = 0
    for round_number, share in enumerate(shares):
        produce(broker.bootstrap, "storefront.events", parts[round_number])
        worker = start_worker(tmp_path, stores_file, broker.bootstrap, "faults", name=f"w{round_number}")
        # shoppulse_events_total counts events, and a message may hold a hundred of them.
        applied_before_kill = share * events_in(parts[round_number])
        try:
            wait_until(
                lambda w=worker, n=applied_before_kill: total(w.scrape(), "shoppulse_events_total") >= n,
                120,
                worker.tail,
                poll=0.02,
            )
            kills += not caught_up(broker.bootstrap, "faults")
        finally:
            worker.kill(signal.SIGKILL)
    produce(broker.bootstrap, "storefront.events", parts[-1])
    got = figures_after_restart(tmp_path, stores_file, broker.bootstrap, "faults", "survivor")
    assert kills >= 3, f"only {kills} of {KILLS} kills landed mid-stream (shares {shares})"
    assert got == reference(tmp_path, stores_file, events), f"kill shares {shares}"
