"""PromQL builders shared by the recording rules, the alerts and the dashboard panels.

Every query this package writes is built here, so a rule and the panel that shows it
cannot drift apart. KPI queries read the recorded ratio (numerator and denominator
summed across workers, then divided), never an average of per-worker ratios.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from shoppulse.export import contract as c
from shoppulse.kpis.catalogue import Kpi
from shoppulse.kpis.windows import Window

KPI_JOIN = "on(store, vertical, kpi, window)"


def number(value: float) -> str:
    """A threshold as PromQL reads it: 0.25, 100, 0.06 (no float noise, no exponent for our range)."""
    return f"{value:.10g}"


def matchers(equal: Mapping[str, str] | None = None, regex: Mapping[str, str] | None = None) -> str:
    parts = [f'{name}="{value}"' for name, value in (equal or {}).items()]
    parts += [f'{name}=~"{value}"' for name, value in (regex or {}).items()]
    return "{" + ", ".join(parts) + "}" if parts else ""


def selector(
    metric: str,
    equal: Mapping[str, str] | None = None,
    *,
    regex: Mapping[str, str] | None = None,
    offset: str | None = None,
) -> str:
    return metric + matchers(equal, regex) + (f" offset {offset}" if offset else "")


def sum_by(labels: Iterable[str], expr: str) -> str:
    return f"sum by ({', '.join(labels)}) ({expr})"


def record_name(level: Iterable[str], metric: str, operation: str) -> str:
    """Prometheus's `level:metric:operations` naming for a recorded series."""
    return f"{'_'.join(level)}:{metric}:{operation}"


# --- Recorded series (see recording.py for their definitions) ------------------------
NUMERATOR = record_name(c.KPI_LABELS, c.KPI_NUMERATOR, "sum")
DENOMINATOR = record_name(c.KPI_LABELS, c.KPI_DENOMINATOR, "sum")
KPI_RATIO = record_name(c.KPI_LABELS, "shoppulse_kpi", "ratio")
EVENTS_RATE = record_name(["store"], "shoppulse_events", "rate5m")
REJECTED_RATE = record_name(["reason"], "shoppulse_events_rejected", "rate5m")
DUPLICATE_RATE = record_name([], "shoppulse_events_duplicate", "rate5m")
LATE_RATE = record_name([], "shoppulse_events_late", "rate5m")
LATENCY_BUCKET_RATE = record_name(["le"], f"{c.LATENCY}_bucket", "rate5m")
LAG = record_name(["topic", "partition"], c.CONSUMER_LAG, "max")
STORE_CURRENCY = record_name(["store", "vertical"], c.STORE_INFO, "currency")
MIXED_CURRENCY = "mixed"
"""`currency` of a store whose workers disagree on it (a rolling deploy that changed it)."""


# --- KPI queries ------------------------------------------------------------------------
def kpi_labels(kpi: Kpi, window: str) -> dict[str, str]:
    return {"vertical": kpi.vertical.value, "kpi": kpi.id, "window": window}


def kpi_ratio(kpi: Kpi, window: str, *, stores: str | None = None, offset: str | None = None) -> str:
    """The KPI per store. `stores` is a regex (a dashboard's `$store`)."""
    regex = {"store": stores} if stores else None
    return selector(KPI_RATIO, kpi_labels(kpi, window), regex=regex, offset=offset)


def kpi_denominator(kpi: Kpi, window: str, *, stores: str | None = None, offset: str | None = None) -> str:
    regex = {"store": stores} if stores else None
    return selector(DENOMINATOR, kpi_labels(kpi, window), regex=regex, offset=offset)


def guarded_ratio(kpi: Kpi, window: str, min_denominator: int, *, offset: str | None = None) -> str:
    """The KPI only where its denominator is large enough to mean something."""
    ratio = kpi_ratio(kpi, window, offset=offset)
    denominator = kpi_denominator(kpi, window, offset=offset)
    return f"{ratio} and {KPI_JOIN} {denominator} >= {min_denominator}"


def window_covered(window: str) -> str:
    """Stores whose worker holds their events as far back as `window` reaches.

    After a fresh start (or state lost with a short Kafka retention) a long window holds
    only the days since; a KPI that counts repeat behaviour reads low over them. A store
    exported by no worker (or by two during a rebalance) takes the earliest time.
    """
    seconds = Window.parse(window).minutes * 60
    return f"(time() - min by (store) ({c.STORE_DATA_SINCE})) >= {seconds}"


def covered_ratio(expr: str, window: str) -> str:
    """`expr`, a per-store series, only for the stores `window_covered` keeps."""
    return f"({expr}) and on(store) ({window_covered(window)})"


def store_currency() -> str:
    """One series per (store, vertical), value 1, carrying the store's `currency` label.

    Workers that disagree on a store's currency (a rolling deploy of a changed stores
    file) would give the store two series, and a `group_left` join on it would then fail
    for every store of the query. Such a store gets one series with `currency="mixed"`
    instead, so its AOV still shows and alerts, and every other store is untouched.
    """
    currencies = f"max by (store, vertical, currency) ({c.STORE_INFO})"
    disputed = f"count by (store, vertical) ({currencies}) > 1"
    mixed = f'label_replace(group by (store, vertical) ({disputed}), "currency", "{MIXED_CURRENCY}", "", "")'
    return f"({currencies} unless on(store, vertical) ({disputed})) or {mixed}"


def with_currency(expr: str) -> str:
    """Add the store's `currency` label to a per-store series, keeping its value."""
    return f"({expr}) * on(store, vertical) group_left(currency) {STORE_CURRENCY}"


def change_vs_baseline(kpi: Kpi, window: str, min_denominator: int, baseline_offset: str) -> str:
    """The KPI now divided by its own value `baseline_offset` earlier; both sides guarded."""
    now = guarded_ratio(kpi, window, min_denominator)
    then = guarded_ratio(kpi, window, min_denominator, offset=baseline_offset)
    return f"({now}) / {KPI_JOIN} (({then}) > 0)"


def rise_vs_baseline(kpi: Kpi, window: str, min_denominator: int, baseline_offset: str) -> str:
    """The KPI now minus its own value `baseline_offset` earlier, in its unit; both sides guarded.

    A baseline of 0 counts like any other (0 then, 9 in 200 now: a rise of 0.045).
    """
    now = guarded_ratio(kpi, window, min_denominator)
    then = guarded_ratio(kpi, window, min_denominator, offset=baseline_offset)
    return f"({now}) - {KPI_JOIN} ({then})"


# --- Event-flow queries ---------------------------------------------------------------
def configured_stores() -> str:
    return f"max by (store, vertical) ({c.STORE_INFO})"


def store_events(window: str) -> str:
    """Valid events applied per configured store over `window`; 0 for a store with none."""
    events = sum_by(["store"], f"increase({c.EVENTS}[{window}])")
    stores = configured_stores()
    return f"({events} or on(store) 0 * {stores}) * on(store) group_left(vertical) {stores}"


def exported_stores() -> str:
    """How many store series the workers export; 0 when no worker is scraped."""
    return f"count({c.STORE_INFO}) or vector(0)"


def workers() -> str:
    return f"count(count by (instance, job) ({c.STORE_INFO}))"


def latency_quantile(quantile: float) -> str:
    return f"histogram_quantile({number(quantile)}, {LATENCY_BUCKET_RATE})"


def worker_only(expr: str) -> str:
    """Keep series of processes that are ShopPulse workers (they export store info)."""
    return f"{expr} and on(instance, job) {c.STORE_INFO}"


# --- Pipeline queries -----------------------------------------------------------------
def scrape_up(job: str) -> str:
    """Prometheus's `up` for every target of `job`: 0 while it cannot scrape it."""
    return selector(c.UP, {"job": job})


def total_increase(
    metric: str,
    window: str,
    equal: Mapping[str, str] | None = None,
    *,
    regex: Mapping[str, str] | None = None,
) -> str:
    """How much a counter grew over `window`, summed over all its series; 0 when it has none.

    A labelled counter has no series before its first increment (the collector's, and
    `shoppulse_events_total` on a worker that has applied nothing yet): without the 0,
    "every event rejected since start" would have no denominator and never alert.
    """
    return f"(sum(increase({selector(metric, equal, regex=regex)}[{window}])) or vector(0))"


def share_of(part: str, whole: str, minimum: int) -> str:
    """`part / whole`, only while `whole` reaches `minimum` (a share of 3 events means nothing)."""
    return f"{part} / (({whole}) >= {minimum})"


def worker_rejected_share(window: str, minimum: int) -> str:
    """Share of the events reaching the workers that they refused (duplicates are neither)."""
    rejected = total_increase(c.EVENTS_REJECTED, window)
    return share_of(rejected, f"{rejected} + {total_increase(c.EVENTS, window)}", minimum)


def collector_rejected_share(window: str, minimum: int) -> str:
    """Share of the events the collector answered for that it refused (duplicates are accepted)."""
    rejected = total_increase(c.COLLECTOR_EVENTS_REJECTED, window)
    accepted = total_increase(c.COLLECTOR_EVENTS_ACCEPTED, window)
    duplicates = total_increase(c.COLLECTOR_EVENTS_DUPLICATE, window)
    return share_of(rejected, f"{rejected} + {accepted} + {duplicates}", minimum)


COLLECTOR_REFUSALS = "4..|5.."
"""Statuses of event requests that wrote nothing: every event rejected or the body unusable
(400, 413, 415), a missing or unknown token or one for another store (401, 403), Kafka
unavailable (503), a collector error (500). A 200 or 207 wrote events."""


def collector_refused_request_share(window: str, minimum: int) -> str:
    """Share of event requests the collector refused whole (`COLLECTOR_REFUSALS`)."""
    route = {"route": c.COLLECTOR_EVENTS_ROUTE}
    refused = total_increase(c.COLLECTOR_REQUESTS, window, route, regex={"status": COLLECTOR_REFUSALS})
    return share_of(refused, total_increase(c.COLLECTOR_REQUESTS, window, route), minimum)


def lag_not_shrinking(trend_window: str) -> str:
    """Each partition's lag, where it did not shrink over `trend_window` (growing, or stuck)."""
    return f"{LAG} and (deriv({LAG}[{trend_window}]) >= 0)"
