"""KPI gauges built at scrape time from the series a worker owns.

A custom collector (prometheus_client calls ``collect()`` on every scrape) reads the
live state instead of mirroring it into gauges: a series exists exactly while this
worker owns its store, so nothing goes stale after a rebalance, and windows end at
the moment of the scrape, so a quiet store's windows still move on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shoppulse.export import contract
from shoppulse.kpis.catalogue import kpis_for
from shoppulse.kpis.contributions import DEN, NUM
from shoppulse.kpis.engine import kpi_value
from shoppulse.kpis.store_series import StoreSeries
from shoppulse.kpis.windows import WINDOWS, cutoff_minute
from shoppulse.schemas.stores import Store


class KpiCollector(Collector):
    def __init__(
        self,
        stores: Mapping[str, Store],
        owned: Callable[[], Mapping[str, StoreSeries]],
        data_since: Callable[[], Mapping[str, int]] = dict,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.stores = stores
        self.owned = owned
        self.data_since = data_since  # owned store → earliest event time held (seconds)
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        labels = list(contract.KPI_LABELS)
        value = GaugeMetricFamily(
            contract.KPI_VALUE, "KPI value in base units (ratio 0-1, seconds, currency)", labels=labels
        )
        numerator = GaugeMetricFamily(contract.KPI_NUMERATOR, "KPI numerator in base units", labels=labels)
        denominator = GaugeMetricFamily(contract.KPI_DENOMINATOR, "KPI denominator", labels=labels)
        cutoff = cutoff_minute(datetime.fromtimestamp(self.clock(), UTC))
        for store_id, series in sorted(self.owned().items()):
            store = self.stores[store_id]
            for kpi in kpis_for(store.vertical):
                for window in WINDOWS:
                    num = series.component(kpi.id, NUM, window.minutes, cutoff)
                    den = series.component(kpi.id, DEN, window.minutes, cutoff)
                    if den == 0:
                        continue  # no sample without a denominator (never 0, never NaN)
                    kpi_figures = kpi_value(store, kpi, window, num, den)
                    names = [store.id, store.vertical.value, kpi.id, window.label]
                    value.add_metric(names, kpi_figures.value)  # type: ignore[arg-type]
                    numerator.add_metric(names, kpi_figures.numerator)
                    denominator.add_metric(names, kpi_figures.denominator)
        info = GaugeMetricFamily(
            contract.STORE_INFO, "Configured stores (1 per store)", labels=["store", "vertical", "currency"]
        )
        for store in self.stores.values():
            info.add_metric([store.id, store.vertical.value, store.currency], 1)
        since = GaugeMetricFamily(
            contract.STORE_DATA_SINCE,
            "Earliest event time of the data held for the store (Unix seconds): windows reaching"
            " further back are partial",
            labels=["store", "vertical"],
        )
        for store_id, seconds in sorted(self.data_since().items()):
            since.add_metric([store_id, self.stores[store_id].vertical.value], seconds)
        yield from (value, numerator, denominator, info, since)
