"""Crashes mid-stream: whatever the moment of a SIGKILL, nothing is lost or counted twice."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

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


def test_sigkill_at_five_random_points(tmp_path: Path, broker: EmbeddedBroker, stores_file: Path) -> None:
    """Five SIGKILLs at random moments of one stream; the survivor equals the reference.

    The stream arrives in six parts, one before each worker starts, so every worker has
    fresh work; each kill lands while the worker is busy (it has applied something and
    the group has not caught up), interrupting sends, table writes and offset commits.
    """
    rng = random.Random()  # a different schedule each run; printed on failure
    delays = [round(rng.uniform(0.2, 2.5), 2) for _ in range(KILLS)]
    events, messages, _ = traffic(40_000, seed=21)
    parts = [messages[i :: KILLS + 1] for i in range(KILLS + 1)]
    kills = 0
    for round_number, delay in enumerate(delays):
        produce(broker.bootstrap, "storefront.events", parts[round_number])
        worker = start_worker(tmp_path, stores_file, broker.bootstrap, "faults", name=f"w{round_number}")
        try:
            wait_until(lambda w=worker: total(w.scrape(), "shoppulse_events_total") > 0, 120, worker.tail)
            time.sleep(delay)
            kills += not caught_up(broker.bootstrap, "faults")
        finally:
            worker.kill(signal.SIGKILL)
    produce(broker.bootstrap, "storefront.events", parts[-1])
    got = figures_after_restart(tmp_path, stores_file, broker.bootstrap, "faults", "survivor")
    assert kills >= 3, f"only {kills} of {KILLS} kills landed mid-stream (delays {delays})"
    assert got == reference(tmp_path, stores_file, events), f"kill delays {delays}"
