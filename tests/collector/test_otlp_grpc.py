"""OTLP/gRPC receiver: the real OpenTelemetry SDK exporter into a MemoryStore, partial
success, bad payloads and a full queue, over real sockets."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry import trace as otel_trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk.resources import Resource as OtelResource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import Link as OtelLink
from opentelemetry.trace import SpanContext, Status as OtelStatus, StatusCode as OtelStatusCode, TraceFlags
from support import wait_for

from spyglass.codecs import otlp_proto
from spyglass.collector.metrics import IngestMetrics
from spyglass.collector.processor import ProcessorConfig, SpanProcessor
from spyglass.collector.receivers import otlp_grpc
from spyglass.model import KeyValue, RefType, Resource, Span, SpanKind, Status, StatusCode
from spyglass.server import GrpcServer
from spyglass.storage.memory import MemoryStore

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


class Served:
    """A listener running on an event loop in a background thread, so that blocking
    clients (the SDK exporters, grpc stubs) can be used from the test itself."""

    def __init__(self, listener: Any) -> None:
        self.listener = listener
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.call(listener.start())

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    @property
    def port(self) -> int:
        return self.listener.port

    def close(self) -> None:
        try:
            self.call(self.listener.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


def _serve(processor: SpanProcessor) -> Served:
    server = GrpcServer(
        "otlp-grpc-test", "127.0.0.1", 0, [lambda s: otlp_grpc.register(s, processor)], otlp_grpc.SERVICE_NAMES
    )
    return Served(server)


@pytest.fixture
def served(memory_processor) -> Iterator[tuple[Served, SpanProcessor, MemoryStore]]:
    processor, store = memory_processor
    running = _serve(processor)
    yield running, processor, store
    running.close()


def _metric(processor: SpanProcessor, name: str, **labels: str) -> float:
    return processor.metrics.registry.get_sample_value(name, labels) or 0.0


def _raw_export(port: int, payload: bytes) -> bytes:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        return channel.unary_unary(EXPORT)(payload, timeout=10)


def _assert_serving(port: int) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        resp = stub.Check(health_pb2.HealthCheckRequest(service=otlp_grpc.SERVICE), timeout=5)
        assert resp.status == health_pb2.HealthCheckResponse.SERVING


def _make_provider(exporter: Any, batch: bool = False) -> TracerProvider:
    provider = TracerProvider(resource=OtelResource.create({"service.name": "sdk-svc", "deployment.env": "test"}))
    provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
    return provider


def _emit(provider: TracerProvider) -> tuple[int, int, int]:
    """A server span with a child; returns (trace ID, parent span ID, child span ID)."""
    tracer = provider.get_tracer("test.scope", "1.2.3")
    linked = SpanContext(trace_id=0xABC, span_id=0xDEF, is_remote=True, trace_flags=TraceFlags(1))
    with tracer.start_as_current_span(
        "GET /orders",
        kind=otel_trace.SpanKind.SERVER,
        attributes={"http.method": "GET", "http.status_code": 200, "ratio": 0.25, "cached": False, "tags": ["a", "b"]},
    ) as parent:
        parent.add_event("cache.miss", {"key": "orders:1", "size": 3})
        with tracer.start_as_current_span("SELECT", kind=otel_trace.SpanKind.CLIENT, links=[OtelLink(linked, {"reason": "batch"})]) as child:
            child.set_status(OtelStatus(OtelStatusCode.ERROR, "timeout"))
    pctx, cctx = parent.get_span_context(), child.get_span_context()
    return pctx.trace_id, pctx.span_id, cctx.span_id


def _check_sdk_spans(spans: list[Span], trace_id: int, parent_id: int, child_id: int) -> None:
    by_id = {s.span_id: s for s in spans}
    assert set(by_id) == {parent_id, child_id}
    parent, child = by_id[parent_id], by_id[child_id]
    for s in (parent, child):
        assert s.trace_id == trace_id
        assert s.resource.service_name == "sdk-svc"
        attrs = dict(s.resource.attributes)
        assert attrs["deployment.env"] == "test" and attrs["telemetry.sdk.language"] == "python"
        assert "service.name" not in attrs
        assert (s.scope.name, s.scope.version) == ("test.scope", "1.2.3")
        assert s.start_time_ns > 1_600_000_000_000_000_000 and s.duration_ns > 0
        assert s.flags & 0x100  # the SDK sets "has is_remote" on span flags
    assert parent.name == "GET /orders" and parent.kind is SpanKind.SERVER and parent.parent_span_id == 0
    assert parent.attributes == [
        KeyValue("http.method", "GET"),
        KeyValue("http.status_code", 200),
        KeyValue("ratio", 0.25),
        KeyValue("cached", False),
        KeyValue("tags", ["a", "b"]),
    ]
    assert parent.status == Status()
    [event] = parent.events
    assert event.name == "cache.miss" and event.attributes == [KeyValue("key", "orders:1"), KeyValue("size", 3)]
    assert parent.start_time_ns <= event.time_ns <= parent.end_time_ns
    assert child.name == "SELECT" and child.kind is SpanKind.CLIENT and child.parent_span_id == parent_id
    assert child.status == Status(StatusCode.ERROR, "timeout")
    [link] = child.links
    assert (link.trace_id, link.span_id, link.ref_type) == (0xABC, 0xDEF, RefType.FOLLOWS_FROM)
    assert link.attributes == [KeyValue("reason", "batch")]
    assert parent.start_time_ns <= child.start_time_ns and child.end_time_ns <= parent.end_time_ns


@pytest.mark.parametrize("compression", [None, grpc.Compression.Gzip])
def test_sdk_exporter_spans_reach_storage(served, compression):
    running, processor, store = served
    exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{running.port}", insecure=True, compression=compression)
    provider = _make_provider(exporter)
    trace_id, parent_id, child_id = _emit(provider)
    provider.shutdown()
    spans = wait_for(lambda: len(store.get_trace(trace_id)) == 2 and store.get_trace(trace_id))
    _check_sdk_spans(spans, trace_id, parent_id, child_id)
    assert _metric(processor, "spyglass_spans_accepted_total", receiver="otlp_grpc", format="otlp_proto") == 2


def test_sdk_batch_processor_many_spans(served):
    running, processor, store = served
    provider = _make_provider(OTLPSpanExporter(endpoint=f"127.0.0.1:{running.port}", insecure=True), batch=True)
    tracer = provider.get_tracer("bulk")
    with tracer.start_as_current_span("root") as root:
        for i in range(300):
            with tracer.start_as_current_span(f"child-{i}", attributes={"i": i}):
                pass
    assert provider.force_flush(10_000)
    provider.shutdown()
    trace_id = root.get_span_context().trace_id
    spans = wait_for(lambda: len(store.get_trace(trace_id)) == 301 and store.get_trace(trace_id))
    assert sorted(dict(s.attributes)["i"] for s in spans if s.name != "root") == list(range(300))


def test_partial_success_for_invalid_spans(served):
    running, processor, store = served
    good = Span(0x1234, 1, "good", 1_700_000_000_000_000_000, 10, Resource("svc"))
    req = trace_service_pb2.ExportTraceServiceRequest.FromString(otlp_proto.encode_export_request([good]))
    bad = req.resource_spans[0].scope_spans[0].spans.add()
    bad.CopyFrom(req.resource_spans[0].scope_spans[0].spans[0])
    bad.trace_id = bytes(16)
    bad2 = req.resource_spans[0].scope_spans[0].spans.add()
    bad2.CopyFrom(req.resource_spans[0].scope_spans[0].spans[0])
    bad2.span_id = b"\x01\x02"
    resp = trace_service_pb2.ExportTraceServiceResponse.FromString(_raw_export(running.port, req.SerializeToString()))
    assert resp.partial_success.rejected_spans == 2
    assert "trace ID is all zeros" in resp.partial_success.error_message
    assert wait_for(lambda: store.get_trace(0x1234))[0].name == "good"
    assert _metric(processor, "spyglass_spans_rejected_total", receiver="otlp_grpc", format="otlp_proto", reason="invalid_span") == 2
    # a clean request gets an empty response (no partial_success)
    assert _raw_export(running.port, otlp_proto.encode_export_request([good])) == b""


@pytest.mark.parametrize("payload", [b"\xff\xff\xff\xff", b"garbage garbage", b"\x0a\x80\x01\x0a"])
def test_bad_payload_is_invalid_argument_and_server_keeps_serving(served, payload):
    running, processor, store = served
    with pytest.raises(grpc.RpcError) as info:
        _raw_export(running.port, payload)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert _metric(processor, "spyglass_requests_rejected_total", receiver="otlp_grpc", format="otlp_proto", reason="decode_error") == 1
    _assert_serving(running.port)
    good = Span(0x77, 1, "after", 1_700_000_000_000_000_000, 10, Resource("svc"))
    _raw_export(running.port, otlp_proto.encode_export_request([good]))
    wait_for(lambda: store.get_trace(0x77))


def test_truncated_request_is_invalid_argument(served):
    running, _, _ = served
    data = otlp_proto.encode_export_request([Span(0x5, 1, "x" * 50, 1, 1, Resource("svc"))])
    with pytest.raises(grpc.RpcError) as info:
        _raw_export(running.port, data[:-10])
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_full_queue_refuses_before_decoding():
    """While the queue has no room, a request is refused without being decoded: even bytes
    that do not decode get the retryable UNAVAILABLE (not INVALID_ARGUMENT), nothing is
    counted per span, and once the writer drains the queue the same bytes are decoded
    (and found invalid) again."""
    store = MemoryStore()
    processor = SpanProcessor(store, IngestMetrics(), ProcessorConfig(queue_size=2, batch_size=10))  # not started
    running = _serve(processor)
    garbage = b"\x0a\xff\xff\xff"  # a length beyond the payload: does not decode
    try:
        data = otlp_proto.encode_export_request([Span(0x9, n, "a", 1, 1, Resource("svc")) for n in (1, 2)])
        with pytest.raises(grpc.RpcError) as info:
            _raw_export(running.port, garbage)  # room: decoded and refused as invalid
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        _raw_export(running.port, data)  # fills the queue (2 of 2)
        assert not processor.has_room()
        for payload in (garbage, data):
            with pytest.raises(grpc.RpcError) as info:
                _raw_export(running.port, payload)
            assert info.value.code() is grpc.StatusCode.UNAVAILABLE
            assert "queue full" in (info.value.details() or "")
        labels = {"receiver": "otlp_grpc", "format": "otlp_proto"}
        assert _metric(processor, "spyglass_requests_rejected_total", **labels, reason="queue_full") == 2
        assert _metric(processor, "spyglass_requests_rejected_total", **labels, reason="decode_error") == 1
        assert _metric(processor, "spyglass_spans_received_total", **labels) == 2
        assert _metric(processor, "spyglass_spans_dropped_total", reason="queue_full") == 0
        processor.start()
        wait_for(lambda: store.get_trace(0x9) and processor.has_room())
        with pytest.raises(grpc.RpcError) as info:
            _raw_export(running.port, garbage)  # room again: decoded again
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    finally:
        running.close()
        processor.close()


def test_queue_full_is_unavailable():
    store = MemoryStore()
    processor = SpanProcessor(store, IngestMetrics(), ProcessorConfig(queue_size=1))  # not started: nothing drains
    running = _serve(processor)
    try:
        data = otlp_proto.encode_export_request([Span(0x9, 1, "a", 1, 1, Resource("svc"))])
        _raw_export(running.port, data)  # fills the queue
        with pytest.raises(grpc.RpcError) as info:
            _raw_export(running.port, data)
        assert info.value.code() is grpc.StatusCode.UNAVAILABLE
        # the queue is full (1 of 1): refused before decoding, so counted per request
        assert _metric(processor, "spyglass_requests_rejected_total", receiver="otlp_grpc", format="otlp_proto",
                       reason="queue_full") == 1
        assert _metric(processor, "spyglass_spans_received_total", receiver="otlp_grpc", format="otlp_proto") == 1
        # the SDK exporter sees a retryable failure and gives up within its timeout
        exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{running.port}", insecure=True, timeout=1)
        span = TracerProvider().get_tracer("t").start_span("y")
        span.end()
        assert exporter.export([span]) is SpanExportResult.FAILURE
        exporter.shutdown()
        _assert_serving(running.port)
        processor.start()  # draining frees the queue: requests succeed again
        wait_for(lambda: store.get_trace(0x9))
        _raw_export(running.port, otlp_proto.encode_export_request([Span(0xA, 1, "b", 1, 1, Resource("svc"))]))
        wait_for(lambda: store.get_trace(0xA))
    finally:
        running.close()
        processor.close()
