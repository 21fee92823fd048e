"""The distributed pipeline with real processes on loopback:

    OTel OTLP gRPC exporter + plain OTLP/HTTP clients
        -> two collectors (--collector.buffer nats)
        -> nats-server with JetStream (file storage, a temp dir)
        -> two ingesters (one sqlite data directory)
        <- query

During load one collector, the writing ingester and the NATS server are killed with SIGKILL
(NATS is then started again on the same store); afterwards every span a collector acknowledged is found through the
query API exactly once. A full stream makes collectors answer retryable errors on every
protocol, counted, and they take spans again once an ingester drains it.
"""

from __future__ import annotations

import itertools
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from pipeline_procs import UNCAPPED_QUERY, NatsServer, Spyglass, otlp_json, post, traces_by_id
from spyglass.codecs import jaeger_proto, otlp_proto
from spyglass.codecs.proto.jaeger.api_v2 import collector_pb2
from spyglass.model import Resource, Span
from support import wait_for

HTTP_SPANS = 20
OTEL_SPANS = 10


@pytest.fixture
def nats(tmp_path: Path):
    server = NatsServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def procs():
    started: list[Spyglass] = []
    try:
        yield started
    finally:
        for p in started:
            p.kill()


class Load:
    """Client threads sending to the live collectors; ``acked`` maps trace ID -> span count."""

    def __init__(self, collectors: list[Spyglass]) -> None:
        self.collectors = collectors
        self.acked: dict[int, int] = {}
        self.failed = 0
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def _next(self) -> int:
        with self.lock:
            return next(self.ids)

    def _record(self, tid: int, spans: int, ok: bool) -> None:
        with self.lock:
            if ok:
                self.acked[tid] = spans
            else:
                self.failed += 1

    def http_client(self) -> None:
        for i in itertools.count():
            if self.stop.is_set():
                return
            target = self.collectors[i % len(self.collectors)]
            tid = self._next()
            status = post(target.url("collector.otlp-http-port", "/v1/traces"),
                          otlp_json(tid, HTTP_SPANS, "pipe-http"), "application/json", timeout=5)
            self._record(tid, HTTP_SPANS, status == 200)

    def otel_client(self) -> None:
        """The OpenTelemetry SDK's OTLP gRPC exporter; a trace counts when ``export`` succeeded."""
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource as OtelResource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        memory = InMemorySpanExporter()
        provider = TracerProvider(resource=OtelResource({"service.name": "pipe-otel"}))
        provider.add_span_processor(SimpleSpanProcessor(memory))
        tracer = provider.get_tracer("pipeline-test")
        exporters = [OTLPSpanExporter(endpoint=f"127.0.0.1:{c.ports['collector.otlp-grpc-port']}", insecure=True,
                                      timeout=3) for c in self.collectors]
        for i in itertools.count():
            if self.stop.is_set():
                break
            with tracer.start_as_current_span("root") as root:
                for j in range(OTEL_SPANS - 1):
                    with tracer.start_as_current_span(f"child-{j}"):
                        pass
            tid = root.get_span_context().trace_id
            batch = memory.get_finished_spans()
            memory.clear()
            ok = exporters[i % len(exporters)].export(batch) == SpanExportResult.SUCCESS
            self._record(tid, OTEL_SPANS, ok)
        for e in exporters:
            e.shutdown()

    def start(self) -> None:
        for target in (self.http_client, self.http_client, self.otel_client):
            t = threading.Thread(target=target, daemon=True)
            t.start()
            self.threads.append(t)

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)


def _writing(ingesters: list[Spyglass]) -> Spyglass:
    """The ingester that holds the sqlite writer lock (the other is a standby)."""
    def which() -> Spyglass | None:
        for ing in ingesters:
            if ing.metric("spyglass_ingester_spans_written_total") > 0 and ing.metric("spyglass_ingester_standby") == 0:
                return ing
        return None

    return wait_for(which, timeout=20)


@pytest.mark.slow
def test_kill_9_and_a_nats_restart_lose_nothing_acknowledged(tmp_path: Path, nats: NatsServer, procs) -> None:
    data = tmp_path / "storage"
    nats_flags = ("--nats.url", nats.url, "--nats.stream", "pipeline", "--nats.ack-wait", "3s")
    collectors = [Spyglass(tmp_path, f"collector{i}", "collector", "--collector.buffer", "nats", *nats_flags,
                           "--storage", "memory") for i in (1, 2)]
    ingesters = [Spyglass(tmp_path, f"ingester{i}", "ingester", *nats_flags, "--storage", "sqlite",
                          "--nats.fetch-batch", "50", data_dir=data) for i in (1, 2)]
    query = Spyglass(tmp_path, "query", "query", *UNCAPPED_QUERY, data_dir=data)
    for p in (*collectors, *ingesters, query):
        procs.append(p.start(wait=False))
    for p in (*collectors, *ingesters, query):
        p.wait_healthy()

    load = Load(collectors)
    load.start()
    try:
        time.sleep(1.5)
        collectors[1].kill(signal.SIGKILL)
        victim = _writing(ingesters)
        time.sleep(1.0)
        victim.kill(signal.SIGKILL)
        time.sleep(1.0)
        nats.stop(signal.SIGKILL)  # a crash, not a clean shutdown
        time.sleep(0.5)
        nats.start()
        time.sleep(2.5)
    finally:
        load.finish()
    assert len(load.acked) > 50, (load.failed, collectors[0].log_tail())
    assert load.failed > 0  # the kills and the restart did refuse some requests

    survivor = next(i for i in ingesters if i is not victim)
    services = {"pipe-http": HTTP_SPANS, "pipe-otel": OTEL_SPANS}

    def all_found() -> dict[int, list] | None:
        found: dict[int, list] = {}
        for service in services:
            found |= traces_by_id(query, service)
        return found if load.acked.keys() <= found.keys() else None

    try:
        found = wait_for(all_found, timeout=60, interval=1.0)
    except AssertionError:
        found = {}
        for service in services:
            found |= traces_by_id(query, service)
        missing = load.acked.keys() - found.keys()
        raise AssertionError(f"{len(missing)} of {len(load.acked)} acknowledged traces missing; "
                             f"survivor: {survivor.log_tail()}") from None
    for tid, count in load.acked.items():
        ids = [s["spanID"] for s in found[tid]]
        assert len(ids) == count and len(set(ids)) == count, (tid, ids)  # each span exactly once
    assert survivor.metric("spyglass_ingester_redeliveries_total") > 0  # the victim's batches came back
    # Both sides rode out the NATS restart (publishes made while it was away were sent, and
    # acknowledged, after the reconnect, or refused with a retryable error).
    assert "reconnected to NATS" in collectors[0].log_path.read_text()
    assert "reconnected to NATS" in survivor.log_path.read_text()


def _spans(n: int, trace: int) -> list[Span]:
    r = Resource("full")
    return [Span(trace, i + 1, "op", time.time_ns(), 1000, r) for i in range(n)]


def _grpc_code(port: int, method: str, body: bytes) -> grpc.StatusCode:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call: Callable[..., bytes] = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        try:
            call(body, timeout=10)
            return grpc.StatusCode.OK
        except grpc.RpcError as exc:
            return exc.code()  # type: ignore[no-any-return]


@pytest.mark.slow
def test_a_full_stream_answers_retryable_errors_until_drained(tmp_path: Path, nats: NatsServer, procs) -> None:
    nats_flags = ("--nats.url", nats.url, "--nats.stream", "tiny", "--nats.max-bytes", "100000")
    collector = Spyglass(tmp_path, "collector", "collector", "--collector.buffer", "nats", *nats_flags,
                         "--storage", "memory")
    procs.append(collector.start())
    url = collector.url("collector.otlp-http-port", "/v1/traces")
    statuses = [post(url, otlp_json(tid, 50, "full"), "application/json") for tid in range(1, 200)]
    assert 200 in statuses and 503 in statuses
    first_refusal = statuses.index(503)
    assert all(s == 503 for s in statuses[first_refusal:])  # full stays full; nothing silently dropped
    otlp = otlp_proto.encode_export_request(_spans(50, 10_001))
    assert _grpc_code(collector.ports["collector.otlp-grpc-port"],
                      "/opentelemetry.proto.collector.trace.v1.TraceService/Export", otlp) == grpc.StatusCode.UNAVAILABLE
    jaeger = collector_pb2.PostSpansRequest(batch=jaeger_proto.batch_from_spans(_spans(50, 10_002))).SerializeToString()
    assert _grpc_code(collector.ports["collector.grpc-port"], "/jaeger.api_v2.CollectorService/PostSpans",
                      jaeger) == grpc.StatusCode.RESOURCE_EXHAUSTED
    refused = collector.metric("spyglass_spans_rejected_total", reason="buffer_full")
    assert refused == 50 * (len(statuses) - first_refusal) + 100
    assert collector.metric("spyglass_buffer_max_bytes") == 100_000

    ingester = Spyglass(tmp_path, "ingester", "ingester", *nats_flags, "--storage", "memory")
    procs.append(ingester.start())
    wait_for(lambda: post(url, otlp_json(20_000, 50, "full"), "application/json") == 200, timeout=30, interval=0.5)
    wait_for(lambda: ingester.metric("spyglass_ingester_spans_written_total") >= 50 * first_refusal, timeout=30)
