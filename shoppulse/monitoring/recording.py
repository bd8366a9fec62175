"""Recording rules: the worker's raw series turned into what alerts and panels read.

KPI numerators and denominators are summed across worker instances first and divided
after, so a KPI is never an average of ratios (even during a partition hand-over, when
two workers may briefly export the same store).
"""

from __future__ import annotations

from dataclasses import dataclass

from shoppulse.export import contract as c
from shoppulse.monitoring import promql as q


@dataclass(frozen=True, slots=True)
class RecordingRule:
    record: str
    expr: str


@dataclass(frozen=True, slots=True)
class RuleGroup:
    name: str
    rules: tuple[RecordingRule, ...]


def _rate(metric: str, by: list[str]) -> str:
    rate = f"rate({metric}[5m])"
    return q.sum_by(by, rate) if by else f"sum({rate})"


KPI_RULES = RuleGroup(
    name="shoppulse-kpis.rules",
    rules=(
        RecordingRule(q.NUMERATOR, q.sum_by(c.KPI_LABELS, c.KPI_NUMERATOR)),
        RecordingRule(q.DENOMINATOR, q.sum_by(c.KPI_LABELS, c.KPI_DENOMINATOR)),
        RecordingRule(q.KPI_RATIO, f"{q.NUMERATOR} / {q.KPI_JOIN} ({q.DENOMINATOR} > 0)"),
    ),
)

OPERATIONS_RULES = RuleGroup(
    name="shoppulse-operations.rules",
    rules=(
        RecordingRule(q.EVENTS_RATE, _rate(c.EVENTS, ["store"])),
        RecordingRule(q.REJECTED_RATE, _rate(c.EVENTS_REJECTED, ["reason"])),
        RecordingRule(q.DUPLICATE_RATE, _rate(c.EVENTS_DUPLICATE, [])),
        RecordingRule(q.LATE_RATE, _rate(c.EVENTS_LATE, [])),
        RecordingRule(q.LATENCY_BUCKET_RATE, _rate(f"{c.LATENCY}_bucket", ["le"])),
        RecordingRule(q.LAG, f"max by (topic, partition) ({c.CONSUMER_LAG})"),
    ),
)

STORE_RULES = RuleGroup(
    name="shoppulse-stores.rules",
    rules=(RecordingRule(q.STORE_CURRENCY, q.store_currency()),),
)
"""Per-store metadata the KPI alerts and panels join on: one series per store, never two."""

RECORDING_GROUPS = (KPI_RULES, STORE_RULES, OPERATIONS_RULES)


def recorded_names() -> frozenset[str]:
    return frozenset(rule.record for group in RECORDING_GROUPS for rule in group.rules)


def rules_file() -> dict[str, object]:
    """The Prometheus rules file, as a YAML-ready mapping."""
    return {
        "groups": [
            {"name": group.name, "rules": [{"record": r.record, "expr": r.expr} for r in group.rules]}
            for group in RECORDING_GROUPS
        ]
    }
