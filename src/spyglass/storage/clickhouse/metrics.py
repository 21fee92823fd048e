"""The clickhouse backend's own metrics, read from its writers and readers at scrape time.

The collector's metrics end where the writer takes spans: a span the writer accepted is
"written" for the collector, yet it may still wait in the writer's buffer while a server or
shard is down. These say how many wait, how often an insert failed (each failure is retried
with backoff) and how many spans the writer itself dropped (its buffer full, or still
pending when the process stopped), summed over the tenants' stores, per store (``primary``,
``archive``). Beside them, how the readers found traces by ID: from the shard that holds
the trace, or through the ``Distributed`` tables (no checked shard map, the shard did not
answer, or the trace was not on it). docs/metrics.md lists them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from spyglass.storage.clickhouse.reader import ClickHouseReader
    from spyglass.storage.clickhouse.writer import ClickHouseWriter

Stores = Callable[[], list[tuple[str, "ClickHouseWriter", "ClickHouseReader"]]]
ROUTES = ("shard", "distributed")


class ClickHouseMetrics(Collector):
    """``stores()`` lists (store, writer, reader) of every store open in the process now."""

    def __init__(self, stores: Stores, capacity: int) -> None:
        self.stores = stores
        self.capacity = capacity

    def describe(self) -> list[Metric]:
        return []  # computed at scrape time

    def collect(self) -> Iterator[Metric]:
        stores = ("primary", "archive")
        buffered = dict.fromkeys(stores, 0)
        failures = dict.fromkeys(stores, 0)
        dropped = dict.fromkeys(stores, 0)
        lookups = {(store, route): 0 for store in stores for route in ROUTES}
        for store, writer, reader in self.stores():
            buffered[store] += writer.pending_spans
            failures[store] += writer.insert_failures
            dropped[store] += writer.dropped
            for route in ROUTES:
                lookups[store, route] += reader.lookups[route]
        families = [
            GaugeMetricFamily("spyglass_clickhouse_buffered_spans",
                              "Spans taken by the clickhouse writer and not inserted yet", labels=["store"]),
            CounterMetricFamily("spyglass_clickhouse_insert_failures",
                                "Failed clickhouse inserts (each retried with backoff)", labels=["store"]),
            CounterMetricFamily("spyglass_clickhouse_spans_dropped",
                                "Spans the clickhouse writer refused (buffer full) or lost at shutdown",
                                labels=["store"]),
        ]
        for family, values in zip(families, (buffered, failures, dropped)):
            for store in stores:
                family.add_metric([store], values[store])
            yield family
        traces = CounterMetricFamily("spyglass_clickhouse_trace_lookups",
                                     "Traces by ID read from the shard that holds them, or through the Distributed tables",
                                     labels=["store", "route"])
        for (store, route), value in lookups.items():
            traces.add_metric([store, route], value)
        yield traces
        yield GaugeMetricFamily("spyglass_clickhouse_buffer_capacity",
                                "Spans one clickhouse writer may hold (--clickhouse.buffer-size)", value=self.capacity)
