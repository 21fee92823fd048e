"""Prometheus metrics of one ingester process (its admin port's ``/metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class IngesterMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        self.spans_written = Counter("spyglass_ingester_spans_written", "Spans written to storage and acknowledged",
                                     registry=r)
        self.messages_acked = Counter("spyglass_ingester_messages_acked",
                                      "Messages acknowledged to JetStream after their spans were stored", registry=r)
        self.redeliveries = Counter("spyglass_ingester_redeliveries",
                                    "Messages received again (an ingester died or failed before acknowledging)",
                                    registry=r)
        self.write_failures = Counter("spyglass_ingester_write_failures",
                                      "Batches storage refused; their messages are redelivered later", registry=r)
        self.poison_messages = Counter("spyglass_ingester_undecodable_messages",
                                       "Messages that are not span batches, terminated (never stored)", registry=r)
        self.lag_seconds = Gauge("spyglass_ingester_lag_seconds",
                                 "Age of the newest message written: how far storage trails the collectors",
                                 registry=r)
        self.standby = Gauge("spyglass_ingester_standby",
                             "1 while storage refuses this ingester (sqlite: another ingester holds the writer lock)",
                             registry=r)
        self.write_seconds = Histogram(
            "spyglass_ingester_write_seconds", "Storing and committing one fetched batch", registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
