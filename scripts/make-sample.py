#!/usr/bin/env python3
"""Write shoppulse/samples/events.jsonl: the bundled sample of simulated traffic.

Deterministic (fixed seed and start, see shoppulse.simulation.sample): run it after
changing the simulator and commit the result; the tests fail while the file is stale.

    .venv/bin/python scripts/make-sample.py
"""

from __future__ import annotations

from shoppulse.simulation.sample import SAMPLE_EVENTS, sample_lines


def main() -> None:
    count = 0
    with SAMPLE_EVENTS.open("wb") as out:
        for line in sample_lines():
            out.write(line)
            count += 1
    print(f"wrote {count} events to {SAMPLE_EVENTS}")


if __name__ == "__main__":
    main()
