"""Prometheus metrics of the agent's reporter, on the same registry as the receivers'
``IngestMetrics`` (so ``/metrics`` on 14271 shows both). Dropped spans are counted in
``spyglass_spans_dropped_total{reason}`` with the receivers' drops: ``queue_full`` (the
forwarder's queue had no room), ``send_failed`` (every retry failed), ``rejected`` (a
collector refused the batch as invalid), ``shutdown`` (still queued when the agent stopped
and the collectors did not take it in time)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from spyglass.collector.metrics import IngestMetrics


class ReporterMetrics:
    def __init__(self, ingest: IngestMetrics) -> None:
        r = ingest.registry
        self.ingest = ingest
        self.spans_forwarded = Counter(
            "spyglass_agent_spans_forwarded", "Spans a collector acknowledged", ["collector"], registry=r)
        self.batches = Counter(
            "spyglass_agent_batches", "PostSpans calls by collector and outcome (ok or a gRPC status)",
            ["collector", "result"], registry=r)
        self.retries = Counter("spyglass_agent_batch_retries", "PostSpans calls that were retried", registry=r)
        self.send_seconds = Histogram(
            "spyglass_agent_send_seconds", "Latency of one PostSpans call", registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.collector_up = Gauge(
            "spyglass_agent_collector_up", "1 while the collector takes batches, 0 while backing off",
            ["collector"], registry=r)
        self.sampling_requests = Counter(
            "spyglass_agent_sampling_requests", "Sampling strategy requests by where the answer came from "
            "(collector, cache, error)", ["result"], registry=r)
