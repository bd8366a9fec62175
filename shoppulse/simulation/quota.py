"""Random decisions that keep to their rate: the simulator's answer to sampling noise.

A coin flip per decision makes a KPI wander: 200 support ratings at 90 % satisfied
give anything from 86 % to 94 %. A ``Quota`` still decides at random, but carries
the difference between what it was asked for (``rate`` per decision) and what it
gave into the next decision (random error diffusion). Its running total never
strays more than one from ``rate * decisions``, so any run of decisions, and so
any window of events, shows the intended ratio within a decision or two. ``Mix``
does the same for a choice among several kinds (the journey mix).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Generic, TypeVar

K = TypeVar("K")
JITTER = 0.5  # how far a Mix may stray from strict round-robin order, in picks


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


class Mix(Generic[K]):
    """Picks among kinds at set shares, each kind's count within about one of its share.

    Every pick adds each kind's share to its carry and takes the kind with the
    largest carry plus a random jitter (smooth weighted round-robin, shuffled), then
    takes one from that kind's carry. A plain weighted draw would let a rare kind
    (returning customers: one journey in a thousand) come three times in a day or
    not at all.
    """

    __slots__ = ("_carry", "_kinds", "_random", "_shares")

    def __init__(self, weights: Mapping[K, float], rng: random.Random) -> None:
        total = sum(weights.values())
        if total <= 0 or min(weights.values()) < 0:
            raise ValueError("a mix needs non-negative weights with a positive sum")
        self._kinds = tuple(weights)
        self._shares = tuple(weight / total for weight in weights.values())
        self._carry = [rng.random() * share for share in self._shares]  # a random phase
        self._random = rng.random

    def pick(self) -> K:
        carry, shares, draw = self._carry, self._shares, self._random
        best, best_score = 0, -2.0
        for index, share in enumerate(shares):
            carry[index] += share
            score = carry[index] + JITTER * draw()
            if score > best_score:
                best, best_score = index, score
        carry[best] -= 1.0
        return self._kinds[best]
