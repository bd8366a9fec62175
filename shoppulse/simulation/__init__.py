"""Traffic simulator: realistic storefront events whose KPIs land in a chosen tier.

Pure: it yields wire-format event dicts and does no I/O (the Kafka producer and the
live clock wrap it elsewhere). Modules, from the outside in:

* ``generator``: ``generate_events``, the entry point (an iterator, any start time);
* ``profiles``: typical / exceptional / failing, and each KPI's target value,
  derived from the catalogue's benchmarks;
* ``behaviour``: the journey mix and the rates that steer each KPI to its target;
* ``smart_home``, ``party_favors``: how each vertical's journeys become events;
* ``storefront``: pacing, returning customers, baskets and the pre-start backlog;
* ``quota``: random decisions that keep to their rate (why small windows are right);
* ``timeline``: the heap of scheduled events; ``wire``: times, money and ids as text.
"""

from shoppulse.simulation.generator import generate_events
from shoppulse.simulation.profiles import INTENDED_TIERS, Profile, target

__all__ = ["INTENDED_TIERS", "Profile", "generate_events", "target"]
