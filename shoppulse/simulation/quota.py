"""Random decisions that keep to their rate: the simulator's answer to sampling noise.

A coin flip per decision makes a KPI wander: 200 support ratings at 90 % satisfied
give anything from 86 % to 94 %. A ``Quota`` still decides at random, but carries
the difference between what it was asked for (``rate`` per decision) and what it
gave into the next decision (random error diffusion). Its running total never
strays more than one from ``rate * decisions``, so any run of decisions, and so
any window of events, shows the intended ratio within one decision.
"""

from __future__ import annotations

import random


class Quota:
    __slots__ = ("_carry", "_random", "rate")

    def __init__(self, rate: float, rng: random.Random) -> None:
        if rate < 0:
            raise ValueError(f"a quota's rate must be >= 0, not {rate}")
        self.rate = rate
        self._random = rng.random
        self._carry = 0.0  # what was asked for and not yet given; always in (-1, 1]

    def yes(self) -> bool:
        """One decision; true with probability ``rate`` (at most 1), corrected by the carry."""
        expected = self._carry + self.rate
        if expected + self._random() >= 1.0:
            self._carry = expected - 1.0
            return True
        self._carry = expected
        return False

    def count(self, trials: int) -> int:
        """How many of ``trials`` succeed, at ``rate`` each (never more than ``trials``)."""
        expected = self._carry + trials * self.rate
        hits = int(expected + self._random())  # truncation: 0 when the sum is in (-1, 1)
        hits = min(max(hits, 0), trials)
        self._carry = expected - hits
        return hits
