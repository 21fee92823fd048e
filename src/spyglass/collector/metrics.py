"""Prometheus metrics of the ingest path, on a registry of their own per process.

Every span that enters and does not reach storage is counted in
``spyglass_spans_dropped_total`` with a reason; requests or packets that could not even be
decoded (so their span count is unknown) are counted in ``spyglass_requests_rejected_total``:
that includes requests refused *before* decoding because the queue was full
(``reason="queue_full"``), whose spans appear in no per-span counter.

The same numbers are also exposed under the names Jaeger v1's collector and agent used
(``jaeger_collector_*``, ``jaeger_agent_*``), which the Jaeger Grafana dashboards and
alerts (jaeger-mixin) query. ``JaegerNames`` is a custom collector that reads the
``spyglass_*`` metrics at scrape time, so one increment feeds both names and they cannot
disagree. docs/metrics.md lists every metric.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

# receiver -> (Jaeger's ``transport``, Jaeger's ``format``)
_TRANSPORTS = {
    "agent_jaeger_compact": ("udp", "jaeger"),
    "agent_jaeger_binary": ("udp", "jaeger"),
    "agent_zipkin_compact": ("udp", "zipkin"),
    "jaeger_http": ("http", "jaeger"),
    "jaeger_grpc": ("grpc", "proto"),
    "otlp_grpc": ("grpc", "otlp"),
    "otlp_http": ("http", "otlp"),
    "zipkin_http": ("http", "zipkin"),
}
_AGENT_PREFIX = "agent_"


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
            "Requests or packets refused before their spans could be counted (undecodable, too large, "
            "or queue_full: refused undecoded while the queue had no room, so their spans are in no "
            "per-span counter)",
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
        self.batches_received = Counter(
            "spyglass_batches_received", "Requests or packets whose spans were decoded", labels, registry=r
        )
        self.batches_rejected = Counter(
            "spyglass_batches_rejected", "Decoded requests or packets refused (queue full, shutting down)",
            labels, registry=r,
        )
        self.write_batch_size = Gauge("spyglass_write_batch_size", "Spans in the last storage write", registry=r)
        self.saved_by_service = ServiceCounts()
        self.storage_write_seconds = Histogram(
            "spyglass_storage_write_seconds",
            "Latency of one storage write batch",
            registry=r,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )

        r.register(JaegerNames(self))

    def reject_request(self, receiver: str, fmt: str, reason: str) -> None:
        """Count a request or packet refused before its spans could be counted."""
        self.requests_rejected.labels(receiver, fmt, reason).inc()


class ServiceCounts:
    """Spans written (or failed) per service, counted by the writer thread: one dict
    update per service per batch, read at scrape time. The number of services kept is
    bounded; beyond it spans count under ``other-services`` (as Jaeger does)."""

    MAX_SERVICES = 4000
    OTHER = "other-services"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, bool], int] = {}

    def add(self, services: Iterable[str], ok: bool) -> None:
        batch: dict[str, int] = {}
        for service in services:
            batch[service] = batch.get(service, 0) + 1
        self.add_counts(batch, ok)

    def add_counts(self, batch: dict[str, int], ok: bool) -> None:
        """``add`` for spans already counted per service."""
        with self._lock:
            counts = self._counts
            for service, n in batch.items():
                key = (service, ok)
                if key not in counts and len(counts) >= self.MAX_SERVICES:
                    key = (self.OTHER, ok)
                counts[key] = counts.get(key, 0) + n

    def snapshot(self) -> dict[tuple[str, bool], int]:
        with self._lock:
            return dict(self._counts)


def _samples(counter: Counter | Gauge) -> Iterator[tuple[dict[str, str], float]]:
    """(labels, value) of a counter's ``_total`` (or a gauge's) samples."""
    for family in counter.collect():
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            yield sample.labels, sample.value


class JaegerNames(Collector):
    """Jaeger v1's collector and agent metric names, derived from ``IngestMetrics``."""

    def __init__(self, metrics: IngestMetrics) -> None:
        self.m = metrics

    def describe(self) -> list[Metric]:
        return []  # computed at scrape time; nothing to check names against at registration

    def collect(self) -> Iterator[Metric]:
        m = self.m
        yield from self._per_transport("jaeger_collector_spans_received", "Spans received by the collector",
                                       m.spans_received)
        yield from self._per_transport("jaeger_collector_spans_rejected", "Spans rejected by the collector",
                                       m.spans_rejected)
        dropped = CounterMetricFamily("jaeger_collector_spans_dropped",
                                      "Spans dropped by the collector (never stored)")
        dropped.add_metric([], sum(v for _, v in _samples(m.spans_dropped)))
        yield dropped
        saved = CounterMetricFamily("jaeger_collector_spans_saved_by_svc", "Spans written to storage, by service",
                                    labels=["debug", "result", "svc"])
        for (svc, ok), n in sorted(m.saved_by_service.snapshot().items()):
            saved.add_metric(["false", "ok" if ok else "err", svc], n)
        yield saved
        yield GaugeMetricFamily("jaeger_collector_queue_length", "Spans waiting in the collector's queue",
                                value=next(iter(v for _, v in _samples(m.queue_length)), 0.0))
        yield GaugeMetricFamily("jaeger_collector_queue_capacity", "Capacity of the collector's queue",
                                value=next(iter(v for _, v in _samples(m.queue_capacity)), 0.0))
        yield GaugeMetricFamily("jaeger_collector_batch_size", "Spans in the last batch written to storage",
                                value=next(iter(v for _, v in _samples(m.write_batch_size)), 0.0))
        yield self._histogram("jaeger_collector_save_latency", "Latency of one storage write, in seconds",
                              m.storage_write_seconds)
        yield from self._agent()

    @staticmethod
    def _per_transport(name: str, doc: str, counter: Counter) -> Iterator[Metric]:
        family = CounterMetricFamily(name, doc, labels=["debug", "format", "svc", "transport"])
        totals: dict[tuple[str, str], float] = {}
        for labels, value in _samples(counter):
            key = _TRANSPORTS.get(labels.get("receiver", ""), ("unknown", labels.get("format", "")))
            totals[key] = totals.get(key, 0.0) + value
        for (transport, fmt), value in sorted(totals.items()):
            family.add_metric(["false", fmt, "other-services", transport], value)
        yield family

    @staticmethod
    def _histogram(name: str, doc: str, histogram: Histogram) -> Metric:
        buckets: list[tuple[str, float]] = []
        total = 0.0
        for family in histogram.collect():
            for sample in family.samples:
                if sample.name.endswith("_bucket"):
                    buckets.append((sample.labels["le"], sample.value))
                elif sample.name.endswith("_sum"):
                    total = sample.value
        return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=total)

    def _agent(self) -> Iterator[Metric]:
        """The UDP listeners are Spyglass's agent; its "reporter" hands batches to the queue."""
        m = self.m

        def by_format(counter: Counter, **where: str) -> dict[str, float]:
            out: dict[str, float] = {}
            for labels, value in _samples(counter):
                receiver = labels.get("receiver", "")
                if not receiver.startswith(_AGENT_PREFIX) or any(labels.get(k) != v for k, v in where.items()):
                    continue
                fmt = _TRANSPORTS.get(receiver, ("udp", "jaeger"))[1]
                out[fmt] = out.get(fmt, 0.0) + value
            return out

        def counter(name: str, doc: str, values: dict[str, float], label: str = "format") -> Metric:
            family = CounterMetricFamily(name, doc, labels=[label])
            for key, value in sorted(values.items()):
                family.add_metric([key], value)
            return family

        submitted, failed = by_format(m.batches_received), by_format(m.batches_rejected)
        yield counter("jaeger_agent_reporter_batches_submitted", "Batches the agent handed on", submitted)
        yield counter("jaeger_agent_reporter_batches_failures", "Batches the agent could not hand on", failed)
        yield counter("jaeger_agent_reporter_spans_submitted", "Spans the agent handed on",
                      by_format(m.spans_received))
        yield counter("jaeger_agent_reporter_spans_failures", "Spans the agent could not hand on",
                      by_format(m.spans_rejected))
        undecodable = by_format(m.requests_rejected)
        dropped = {k: undecodable.get(k, 0.0) + failed.get(k, 0.0) for k in {*undecodable, *failed}}
        yield counter("jaeger_agent_thrift_udp_server_packets_processed", "UDP packets decoded", submitted, "model")
        yield counter("jaeger_agent_thrift_udp_server_packets_dropped",
                      "UDP packets dropped (undecodable, too large, or the queue was full)", dropped, "model")
