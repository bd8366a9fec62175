"""Pipeline alert tests: targets Prometheus cannot scrape, refused events, a consumer falling behind.

Share alerts read counters over `REJECTION_WINDOW`, so their condition starts somewhere
inside the window after a change: each test checks "not firing yet" at the change plus
the `for:` duration less a step (the condition cannot have held longer), and "firing"
once the window holds nothing but the new behaviour and the `for:` duration has passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from shoppulse.export import contract as c
from shoppulse.monitoring import alerts as a
from shoppulse.monitoring import policy as p
from shoppulse.monitoring.policy import Timings
from shoppulse.monitoring.render import duration
from shoppulse.monitoring.rule_tests.common import (
    COLLECTOR,
    MINUTE,
    WORKER_1,
    WORKER_2,
    Json,
    check,
    checks,
    constant,
    counter,
    eval_times,
    expected,
    series,
    steps,
)

WINDOW = p.REJECTION_WINDOW


def _after_change(alert: a.Alert, change: timedelta, firing: list[Json]) -> list[Json]:
    """Quiet until the condition can have held for `for:`, firing once the window is past the change."""
    waited = steps(alert.for_, MINUTE) * MINUTE  # `for:` as the evaluations see it
    quiet_until = change + waited - MINUTE
    fires_at = change + WINDOW + waited + MINUTE
    return [check(alert, max(quiet_until, change), []), check(alert, fires_at, firing)]


def _length(alert: a.Alert, change: timedelta) -> int:
    return steps(change + WINDOW + alert.for_ + 3 * MINUTE, MINUTE)


def targets_down_test(timings: Timings) -> Json:
    """worker-1 stops answering scrapes at 10m, the collector at 20m; worker-2 stays up."""
    alerts = a.pipeline_alerts(timings)
    worker_down, collector_down = alerts.worker_down, alerts.collector_down
    worker_stops, collector_stops = 10, 20
    n = collector_stops + steps(max(worker_down.for_, collector_down.for_), MINUTE) + 5

    def up_until(minute: int) -> str:
        return f"1x{minute - 1} 0x{n - minute}"

    def down(alert: a.Alert, target: Mapping[str, str]) -> list[Json]:
        return [expected(alert, dict(target), 0)]

    return {
        "name": "a worker, then the collector, that Prometheus cannot scrape",
        "interval": duration(MINUTE),
        "input_series": [
            series(c.UP, WORKER_1, up_until(worker_stops)),
            series(c.UP, WORKER_2, constant(1, n)),
            series(c.UP, COLLECTOR, up_until(collector_stops)),
        ],
        "alert_rule_test": [
            *checks(worker_down, timedelta(minutes=worker_stops), MINUTE, down(worker_down, WORKER_1)),
            check(collector_down, timedelta(minutes=worker_stops), []),
            *checks(
                collector_down, timedelta(minutes=collector_stops), MINUTE, down(collector_down, COLLECTOR)
            ),
        ],
    }


def worker_rejecting_test(timings: Timings) -> Json:
    """A tenth of the events refused for 40 minutes (quiet), then every event (fires)."""
    alert = a.pipeline_alerts(timings).worker_rejecting
    change = timedelta(minutes=40)
    before, n = steps(change, MINUTE), _length(alert, change)
    after = n - before
    return {
        "name": "workers refuse a tenth of the events, then all of them",
        "interval": duration(MINUTE),
        "input_series": [
            series(
                c.EVENTS, {"store": "busy", "type": "order", **WORKER_1}, counter((9, before), (0, after))
            ),
            series(
                c.EVENTS_REJECTED,
                {"reason": "unknown_type", **WORKER_1},
                counter((1, before), (10, after)),
            ),
            # Every reason exists from the start at 0 (WorkerMetrics): one that never moves.
            series(c.EVENTS_REJECTED, {"reason": "late_event", **WORKER_2}, constant(0, n)),
        ],
        "alert_rule_test": [
            check(alert, change, []),
            *_after_change(alert, change, [expected(alert, {}, 1.0)]),
        ],
    }


def collector_rejecting_test(timings: Timings) -> Json:
    """A fresh collector rejects every event posted to it: no accepted series exists at all."""
    alert = a.pipeline_alerts(timings).collector_rejecting
    n = _length(alert, timedelta(0))
    return {
        "name": "a collector that rejects every event from its start",
        "interval": duration(MINUTE),
        "input_series": [
            series(c.COLLECTOR_EVENTS_REJECTED, {"reason": "unknown_store", **COLLECTOR}, counter((5, n))),
        ],
        "alert_rule_test": _after_change(alert, timedelta(0), [expected(alert, {}, 1.0)]),
    }


def collector_mixed_test(timings: Timings) -> Json:
    """A tenth of the events rejected, some duplicates: the collector alert stays quiet."""
    alert = a.pipeline_alerts(timings).collector_rejecting
    n = _length(alert, timedelta(0))
    return {
        "name": "a collector that rejects a tenth of the events",
        "interval": duration(MINUTE),
        "input_series": [
            series(c.COLLECTOR_EVENTS_ACCEPTED, {"store": "busy", **COLLECTOR}, counter((8, n))),
            series(c.COLLECTOR_EVENTS_DUPLICATE, {"store": "busy", **COLLECTOR}, counter((1, n))),
            series(c.COLLECTOR_EVENTS_REJECTED, {"reason": "missing_field", **COLLECTOR}, counter((1, n))),
        ],
        "alert_rule_test": [check(alert, timedelta(minutes=n), [])],
    }


def collector_refusing_test(timings: Timings) -> Json:
    """Few requests, all refused (too few to alert); then many partly refused (207: some of
    their events written); then most requests answered 503 (Kafka unavailable) or 400
    (nothing usable): fires."""
    alert = a.pipeline_alerts(timings).collector_refusing
    quiet_few, quiet_content = 20, 20
    change = timedelta(minutes=quiet_few + quiet_content)
    n = _length(alert, change)
    last = n - quiet_few - quiet_content
    route = {"route": c.COLLECTOR_EVENTS_ROUTE, **COLLECTOR}
    return {
        "name": "collector requests: few refused, many partly refused, then most writing nothing",
        "interval": duration(MINUTE),
        "input_series": [
            series(
                c.COLLECTOR_REQUESTS,
                {**route, "status": "503"},
                counter((1, quiet_few), (0, quiet_content), (10, last)),
            ),
            series(
                c.COLLECTOR_REQUESTS,
                {**route, "status": "400"},
                counter((0, quiet_few), (0, quiet_content), (10, last)),
            ),
            series(
                c.COLLECTOR_REQUESTS,
                {**route, "status": "200"},
                counter((0, quiet_few), (2, quiet_content + last)),
            ),
            series(
                c.COLLECTOR_REQUESTS,
                {**route, "status": "207"},
                counter((0, quiet_few), (10, quiet_content + last)),
            ),
            # Requests to other routes never count.
            series(
                c.COLLECTOR_REQUESTS, {"route": "/healthz", "status": "503", **COLLECTOR}, counter((50, n))
            ),
        ],
        "alert_rule_test": [
            check(alert, timedelta(minutes=quiet_few), []),
            check(alert, change, []),
            *_after_change(alert, change, [expected(alert, {}, 20 / 32)]),
        ],
    }


def consumer_behind_test(timings: Timings) -> Json:
    """Four partitions: caught up, draining a backlog, growing, stuck. The last two fire."""
    alert = a.pipeline_alerts(timings).consumer_behind
    n = steps(alert.for_ + 5 * MINUTE, MINUTE)
    topic = "storefront.events"
    bound = p.CONSUMER_LAG_MESSAGES
    lags = {
        "0": (bound // 50, 0),  # caught up
        "1": (bound * 5, -bound // 10),  # a large backlog, shrinking: the worker catches up
        "2": (bound + bound // 2, bound // 20),  # growing
        "3": (bound * 3, 0),  # stuck: not one message read
    }
    inputs = [
        series(c.CONSUMER_LAG, {"topic": topic, "partition": partition, **WORKER_1}, f"{start}{slope:+}x{n}")
        for partition, (start, slope) in lags.items()
    ]
    # The lag's derivative needs two recorded samples: the condition holds from the second step.
    start = MINUTE
    _, fires = eval_times(alert.for_, start, MINUTE)
    minutes = fires // MINUTE

    def firing(partition: str) -> Json:
        begin, slope = lags[partition]
        return expected(alert, {"topic": topic, "partition": partition}, begin + slope * minutes)

    return {
        "name": "consumer lag: caught up, draining, growing, stuck",
        "interval": duration(MINUTE),
        "input_series": inputs,
        "alert_rule_test": checks(alert, start, MINUTE, [firing("2"), firing("3")]),
    }


def pipeline_tests(timings: Timings) -> list[Json]:
    return [
        targets_down_test(timings),
        worker_rejecting_test(timings),
        collector_rejecting_test(timings),
        collector_mixed_test(timings),
        collector_refusing_test(timings),
        consumer_behind_test(timings),
    ]
