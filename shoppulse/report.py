"""``shoppulse report``: KPIs of a JSON-lines file of events, through the reference engine.

Reading, validation and printing live here; the arithmetic is the engine's.
"""

from __future__ import annotations

import io
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, BinaryIO

import orjson

from shoppulse.exceptions import ShopPulseError
from shoppulse.kpis.engine import Engine, EngineSettings, KpiValue, Outcome
from shoppulse.kpis.facts import seconds
from shoppulse.kpis.windows import Window
from shoppulse.schemas.stores import Stores
from shoppulse.schemas.validation import EventValidator, Rejection


class ReportFileError(ShopPulseError):
    """The events file cannot be read, or the rejects file cannot be written."""


@dataclass
class ReportResult:
    at: datetime
    window: Window
    kpis: list[KpiValue]
    rejected: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    # The state the figures were read from. Kept so that its owner decides when to free
    # it: millions of objects, a third of a second per million events (see cli.report).
    engine: Engine | None = field(default=None, repr=False, compare=False)

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat().replace("+00:00", "Z"),
            "window": self.window.label,
            "kpis": [
                {
                    "store_id": k.store_id,
                    "vertical": k.vertical.value,
                    "kpi": k.kpi.id,
                    "value": k.value,
                    "numerator": k.numerator,
                    "denominator": k.denominator,
                    "tier": k.tier.value if k.tier else None,
                }
                for k in self.kpis
            ],
            "rejected": dict(sorted(self.rejected.items())),
            "events": dict(sorted(self.outcomes.items())),
        }


def end_of_hour(ts: int) -> datetime:
    """The end of the UTC hour holding ``ts`` (so ``ts`` is inside ``[at - W, at)``)."""
    return datetime.fromtimestamp(ts - ts % 3600, UTC) + timedelta(hours=1)


def run_report(
    lines: Iterator[bytes],
    stores: Stores,
    *,
    window: Window = Window.D30,
    at: datetime | None = None,
    rejects: IO[bytes] | None = None,
    settings: EngineSettings | None = None,
) -> ReportResult:
    """Validate and fold every line; a bad line is counted (and written to ``rejects``)."""
    validator = EventValidator(stores.by_id())
    # Only the window printed is kept: each window costs its own spans on every update.
    engine = Engine(stores.by_id(), replace(settings or EngineSettings(), windows=(window,)))
    rejected: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    cutoff = seconds(at) if at is not None else None
    # Outcomes counted by member, and only the rare ones in the loop: an enum member's
    # .value, or the member read through its class, costs a microsecond.
    applied = Outcome.APPLIED
    not_applied = {outcome: 0 for outcome in Outcome if outcome is not applied}
    # Lines counted by hand (enumerate's tuple per line cost more), and the events handed to
    # the engine found from them at the end: the lines not handed over are the rare ones.
    number = 0
    kept_back = 0  # blank, rejected, or after --at
    validate, apply = validator.validate_json, engine.apply  # looked up once, not per line
    for line in lines:
        number += 1
        # The line as read, end of line included: JSON allows the whitespace, and a
        # stripped copy of every line cost 1 % of a report. A blank line fails as
        # invalid JSON, and is told apart from bad input only then.
        result = validate(line)
        if isinstance(result, Rejection):
            kept_back += 1
            raw = line.strip()
            if not raw:
                continue
            rejected[result.reason.value] += 1
            if rejects is not None:
                record = {"line": number, **result.as_dict(), "raw": raw.decode("utf-8", "replace")}
                rejects.write(orjson.dumps(record) + b"\n")
            continue
        if cutoff is not None and seconds(result.ts) >= cutoff:
            kept_back += 1
            outcomes["after_at"] += 1  # not known yet at --at: outside every window
            continue
        outcome = apply(result)
        if outcome is not applied:
            not_applied[outcome] += 1
    handed = number - kept_back  # events handed to the engine
    counts = {applied: handed - sum(not_applied.values()), **not_applied}
    outcomes.update({outcome.value: count for outcome, count in counts.items() if count})
    if at is None:
        # The engine's watermark is the latest applied event time.
        at = end_of_hour(engine.watermark) if engine.watermark is not None else datetime.now(UTC)
    return ReportResult(
        at=at,
        window=window,
        kpis=engine.snapshot(at, [window]),
        rejected=rejected,
        outcomes=outcomes,
        engine=engine,
    )


def read_lines(source: BinaryIO, total_bytes: int | None, progress: bool) -> Iterator[bytes]:
    """Lines of a binary stream, with a progress bar on a terminal."""
    if not progress:
        return iter(source)  # the file's own iterator: a generator around it cost 2 %
    return _with_progress(source, total_bytes)


def _with_progress(source: BinaryIO, total_bytes: int | None) -> Iterator[bytes]:
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("reading", total=total_bytes)
        done = 0
        for line in source:
            done += len(line)
            if done >= 1 << 20:  # refresh per MiB, not per line: the bar must not slow the report
                bar.advance(task, done)
                done = 0
            yield line


def open_events(path: Path) -> tuple[BinaryIO, int | None]:
    """The events file opened for reading ('-': stdin), and its size when known."""
    if str(path) == "-":
        import sys

        return sys.stdin.buffer, None
    try:
        handle = open(path, "rb", buffering=io.DEFAULT_BUFFER_SIZE * 16)  # noqa: SIM115
        return handle, os.fstat(handle.fileno()).st_size  # the file opened, not the path again
    except OSError as exc:
        raise ReportFileError(
            f"events file {path}: {exc.strerror or exc}; pass a JSON-lines file of events, or - for stdin"
        ) from exc


def open_rejects(path: Path) -> BinaryIO:
    """The rejects file, created (or emptied) for writing."""
    try:
        return open(path, "wb")
    except OSError as exc:
        raise ReportFileError(
            f"rejects file {path}: {exc.strerror or exc}; pass --rejects a path in a writable directory"
        ) from exc
