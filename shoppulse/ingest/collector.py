"""The collector's core, free of HTTP: a request body in, per-event results out.

For one body: check nesting depth, parse, check the batch size and the writer's store,
validate every event against the contract and the stores file, skip events written
recently (a retry), write the rest to Kafka (one message per store) and wait for the
acknowledgement. Nothing is reported accepted unless Kafka acknowledged it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import orjson

from shoppulse.ingest.dedupe import EventKey, RecentEventIds
from shoppulse.ingest.exceptions import BrokerUnavailable, RequestRefused
from shoppulse.ingest.kafka import EventWriter, pack_events
from shoppulse.ingest.limits import Limits, json_depth_exceeds
from shoppulse.ingest.metrics import CollectorMetrics
from shoppulse.ingest.results import EventResult, Status
from shoppulse.schemas.events import Event
from shoppulse.schemas.stores import Store
from shoppulse.schemas.validation import EventValidator, Reason, Rejection


class Collector:
    def __init__(
        self,
        stores: dict[str, Store],
        writer: EventWriter,
        *,
        limits: Limits | None = None,
        recent: RecentEventIds | None = None,
        metrics: CollectorMetrics | None = None,
    ) -> None:
        self.validator = EventValidator(stores)
        self.writer = writer
        self.limits = limits or Limits()
        self.recent = recent or RecentEventIds()
        self.metrics = metrics or CollectorMetrics()
        self.metrics.watch_producer(lambda: writer.idempotent)

    async def ingest(self, body: bytes, writer_store: str | None) -> list[EventResult]:
        """Process one request body. ``writer_store`` is the token's store (None: any store).

        Raises RequestRefused for a body refused as a whole (bad JSON, too deep, too
        many events, another store's events, Kafka unavailable).
        """
        elements, checked = self._parse_and_validate(body, writer_store)
        results: list[EventResult | None] = [None] * len(elements)
        first_index: dict[EventKey, int] = {}
        repeats: list[tuple[int, EventKey]] = []
        for index, (element, outcome) in enumerate(zip(elements, checked, strict=True)):
            if isinstance(outcome, Rejection):
                event_id = element.get("event_id") if isinstance(element, dict) else None
                results[index] = EventResult(
                    index, event_id if isinstance(event_id, str) else None, Status.REJECTED, rejection=outcome
                )
                continue
            key = (outcome.store_id, outcome.event_id)
            if key in first_index:
                repeats.append((index, key))  # the same event twice in one request
            else:
                first_index[key] = index

        new, seen = await self.recent.claim(first_index)
        try:
            await self._write({key: elements[first_index[key]] for key in first_index if key in new})
        finally:
            self.recent.released(new)  # no-op for the keys _write marked written

        for key, index in first_index.items():
            results[index] = EventResult(index, key[1], Status.ACCEPTED, duplicate=key in seen)
        for index, key in repeats:
            results[index] = EventResult(index, key[1], Status.ACCEPTED, duplicate=True)
        final = [result for result in results if result is not None]
        self._count(final, checked)
        return final

    def _parse_and_validate(
        self, body: bytes, writer_store: str | None
    ) -> tuple[list[Any], list[Event | Rejection]]:
        limits = self.limits
        if json_depth_exceeds(body, limits.max_depth):
            raise RequestRefused(400, "json_too_deep", f"JSON nests deeper than {limits.max_depth} levels")
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise RequestRefused(
                400, Reason.INVALID_JSON.value, f"the body is not UTF-8 JSON: {exc}"
            ) from None
        is_batch = isinstance(parsed, list)
        elements: list[Any] = parsed if is_batch else [parsed]
        if not elements:
            raise RequestRefused(400, "empty_batch", "the array holds no events")
        if len(elements) > limits.max_events:
            raise RequestRefused(
                413, "too_many_events", f"{len(elements)} events; at most {limits.max_events} per request"
            )
        if writer_store is not None:
            _check_store(elements, writer_store)
        # validate_message tells a batch by its first byte: strip JSON whitespace first.
        checked = self.validator.validate_message(body.strip() if is_batch else body)
        if len(checked) != len(elements):  # pragma: no cover - defensive, see validate_message
            checked = [self.validator.validate_json(orjson.dumps(element)) for element in elements]
        return elements, checked

    async def _write(self, events: dict[EventKey, Any]) -> None:
        """Write new events, one message per store; remember the ids Kafka acknowledged.

        The caller releases the other claimed ids, so a retry may write them.
        """
        if not events:
            return
        by_store: dict[str, list[tuple[EventKey, Any]]] = defaultdict(list)
        for key, element in events.items():
            by_store[key[0]].append((key, element))
        packed = [
            (store, keys, value)
            for store, items in by_store.items()
            for keys, value in pack_events(items, self.writer.max_message_bytes)
        ]
        # The answer says what happened, not where Kafka is or how it failed: the writer
        # logs that (a storefront's browser has no business knowing internal addresses).
        unavailable = RequestRefused(
            503, "broker_unavailable", "Kafka did not acknowledge the write; retry the same request"
        )
        try:
            errors = await self.writer.write([(store.encode(), value) for store, _, value in packed])
        except BrokerUnavailable as exc:
            raise unavailable from exc
        for (_, keys, _), error in zip(packed, errors, strict=True):
            if error is None:
                self.recent.written(keys)
        if any(error is not None for error in errors):
            raise unavailable

    def _count(self, results: list[EventResult], checked: list[Event | Rejection]) -> None:
        # Counted per request, then added once per label: a counter's ``labels()`` costs
        # more than the rest of an event's bookkeeping.
        accepted: Counter[str] = Counter()
        duplicates: Counter[str] = Counter()
        rejected: Counter[str] = Counter()
        for result, outcome in zip(results, checked, strict=True):
            if isinstance(outcome, Rejection):
                rejected[outcome.reason.value] += 1
            elif result.duplicate:
                duplicates[outcome.store_id] += 1
            else:
                accepted[outcome.store_id] += 1
        metrics = self.metrics
        for store, count in accepted.items():
            metrics.accepted.labels(store=store).inc(count)
        for store, count in duplicates.items():
            metrics.duplicates.labels(store=store).inc(count)
        for reason, count in rejected.items():
            metrics.rejected.labels(reason=reason).inc(count)


def _check_store(elements: list[Any], writer_store: str) -> None:
    for index, element in enumerate(elements):
        store_id = element.get("store_id") if isinstance(element, dict) else None
        if isinstance(store_id, str) and store_id != writer_store:
            raise RequestRefused(
                403,
                "forbidden_store",
                f"event {index} is for store {store_id!r}; this token writes for {writer_store!r} only",
            )
