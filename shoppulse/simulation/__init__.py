"""Traffic simulator: realistic storefront events whose KPIs land in a chosen tier.

Pure: it yields wire-format event dicts and does no I/O (the Kafka producer and the
live clock wrap it elsewhere). Modules, from the outside in:

* ``generator``: ``generate_events``, the entry point (an iterator, any start time);
* ``profiles``: typical / exceptional / failing, and each KPI's target value,
  derived from the catalogue's benchmarks;
* ``behaviour``: the journey mix and the rates that steer each KPI to its target;
* ``smart_home``, ``party_favors``: how each vertical's journeys become events;
* ``storefront``: pacing, scheduling, returning customers and the pre-start backlog;
* ``baskets``: order values and line items; ``quota``: random decisions that keep
  to their rate (why small windows already show the intended values);
* ``timeline``: the heap of scheduled events; ``wire``: times, money and ids as text;
* ``sample``: the bundled sample (``scripts/make-sample.py`` writes it).

How a KPI is steered to its tier: ``profiles.target`` picks a value inside the tier
from the catalogue's thresholds; ``behaviour`` turns it into the rate of the
decision behind the KPI (a consultation converting, a rating of 4 or 5, a parcel
on time...); a ``quota.Quota`` makes those decisions at that rate; the journeys
keep every decision apart from the others (for example only loyal customers come
back, so returning customers cannot turn a one-off buyer into a repeat buyer).
"""

from shoppulse.simulation.generator import generate_events
from shoppulse.simulation.profiles import INTENDED_TIERS, Profile, target

__all__ = ["INTENDED_TIERS", "Profile", "generate_events", "target"]
