"""Prometheus metrics of the ingest path, on a registry of their own per process.

Every span that enters and does not reach storage is counted in
``spyglass_spans_dropped_total`` with a reason; requests or packets that could not even be
decoded (so their span count is unknown) are counted in ``spyglass_requests_rejected_total``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        labels = ["receiver", "format"]
        self.spans_received = Counter(
            "spyglass_spans_received", "Spans decoded by a receiver", labels, registry=r
        )
        self.spans_accepted = Counter(
            "spyglass_spans_accepted", "Spans accepted into the queue", labels, registry=r
        )
        self.spans_rejected = Counter(
            "spyglass_spans_rejected", "Spans a receiver refused", labels + ["reason"], registry=r
        )
        self.requests_rejected = Counter(
            "spyglass_requests_rejected",
            "Requests or packets refused before their spans could be counted",
            labels + ["reason"],
            registry=r,
        )
        self.bytes_received = Counter(
            "spyglass_bytes_received", "Payload bytes received", labels, registry=r
        )
        self.spans_dropped = Counter(
            "spyglass_spans_dropped", "Spans that never reached storage, by reason", ["reason"], registry=r
        )
        self.spans_written = Counter("spyglass_spans_written", "Spans written to storage", registry=r)
        self.queue_length = Gauge("spyglass_queue_length", "Spans waiting in the queue", registry=r)
        self.queue_capacity = Gauge("spyglass_queue_capacity", "Capacity of the queue in spans", registry=r)
        self.storage_write_seconds = Histogram(
            "spyglass_storage_write_seconds",
            "Latency of one storage write batch",
            registry=r,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )

    def reject_request(self, receiver: str, fmt: str, reason: str) -> None:
        """Count a request or packet refused before its spans could be counted."""
        self.requests_rejected.labels(receiver, fmt, reason).inc()
