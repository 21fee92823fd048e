"""Jaeger gRPC receiver (CollectorService/PostSpans): a real generated client stub into a
MemoryStore, bad payloads and a full queue, over real sockets."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from support import wait_for

from spyglass.codecs import jaeger_proto
from spyglass.codecs.proto.jaeger.api_v2 import collector_pb2, collector_pb2_grpc, model_pb2
from spyglass.collector.metrics import IngestMetrics
from spyglass.collector.processor import ProcessorConfig, SpanProcessor
from spyglass.collector.receivers import jaeger_grpc
from spyglass.model import Event, KeyValue, Link, RefType, Resource, Span, SpanKind, Status, StatusCode
from spyglass.server import GrpcServer
from spyglass.storage.memory import MemoryStore

POST_SPANS = "/jaeger.api_v2.CollectorService/PostSpans"
TID = 0x4BF92F3577B34DA6A3CE929D0E0E4736


class Served:
    """A listener running on an event loop in a background thread, so that blocking
    grpc clients can be used from the test itself."""

    def __init__(self, listener: Any) -> None:
        self.listener = listener
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(listener.start(), self.loop).result(30)

    @property
    def port(self) -> int:
        return self.listener.port

    def close(self) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.listener.stop(), self.loop).result(30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


def _serve(processor: SpanProcessor) -> Served:
    return Served(
        GrpcServer("jaeger-grpc-test", "127.0.0.1", 0, [lambda s: jaeger_grpc.register(s, processor)], jaeger_grpc.SERVICE_NAMES)
    )


@pytest.fixture
def served(memory_processor) -> Iterator[tuple[Served, SpanProcessor, MemoryStore]]:
    processor, store = memory_processor
    running = _serve(processor)
    yield running, processor, store
    running.close()


def _metric(processor: SpanProcessor, name: str, **labels: str) -> float:
    return processor.metrics.registry.get_sample_value(name, labels) or 0.0


def _raw_post(port: int, payload: bytes) -> bytes:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        return channel.unary_unary(POST_SPANS)(payload, timeout=10)


def _assert_serving(port: int) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        resp = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=jaeger_grpc.SERVICE), timeout=5)
        assert resp.status == health_pb2.HealthCheckResponse.SERVING


def _batch() -> model_pb2.Batch:
    """What the Jaeger agent forwards: one process for the batch, Jaeger-style tags."""
    batch = model_pb2.Batch()
    batch.process.service_name = "frontend"
    tag = batch.process.tags.add()
    tag.key, tag.v_str = "hostname", "web-1"
    for i, (op, parent) in enumerate([("HTTP GET /dispatch", 0), ("redis GET", 1)]):
        s = batch.spans.add()
        s.trace_id = TID.to_bytes(16, "big")
        s.span_id = (i + 1).to_bytes(8, "big")
        s.operation_name = op
        s.flags = 1
        s.start_time.seconds = 1_700_000_000 + i
        s.start_time.nanos = 5
        s.duration.nanos = 750_000
        if parent:
            ref = s.references.add()
            ref.trace_id, ref.span_id = s.trace_id, parent.to_bytes(8, "big")
        for key, vtype, field, value in [
            ("span.kind", 0, "v_str", "server" if i == 0 else "client"),
            ("http.status_code", 2, "v_int64", 200),
            ("sampler.param", 1, "v_bool", True),
        ]:
            kv = s.tags.add()
            kv.key, kv.v_type = key, vtype
            setattr(kv, field, value)
        log = s.logs.add()
        log.timestamp.seconds = 1_700_000_000 + i
        log.timestamp.nanos = 100
        f = log.fields.add()
        f.key, f.v_str = "event", "looked up"
    follows = batch.spans[1].references.add()
    follows.trace_id, follows.span_id, follows.ref_type = (5).to_bytes(16, "big"), (6).to_bytes(8, "big"), model_pb2.FOLLOWS_FROM
    err = batch.spans[1].tags.add()
    err.key, err.v_type, err.v_bool = "error", model_pb2.BOOL, True
    return batch


def test_stub_posts_spans_into_storage(served):
    running, processor, store = served
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stub = collector_pb2_grpc.CollectorServiceStub(channel)
        resp = stub.PostSpans(collector_pb2.PostSpansRequest(batch=_batch()), timeout=10)
    assert isinstance(resp, collector_pb2.PostSpansResponse)
    spans = wait_for(lambda: len(store.get_trace(TID)) == 2 and store.get_trace(TID))
    root, child = sorted(spans, key=lambda s: s.span_id)
    resource = Resource("frontend", [KeyValue("hostname", "web-1")])
    assert root == Span(
        trace_id=TID,
        span_id=1,
        name="HTTP GET /dispatch",
        start_time_ns=1_700_000_000_000_000_005,
        duration_ns=750_000,
        resource=resource,
        kind=SpanKind.SERVER,
        attributes=[KeyValue("http.status_code", 200), KeyValue("sampler.param", True)],
        events=[Event(1_700_000_000_000_000_100, "looked up", [])],
        flags=1,
    )
    assert child.parent_span_id == 1 and child.kind is SpanKind.CLIENT
    assert child.links == [Link(5, 6, RefType.FOLLOWS_FROM)]
    assert child.status == Status(StatusCode.ERROR)
    assert _metric(processor, "spyglass_spans_accepted_total", receiver="jaeger_grpc", format="jaeger_proto") == 2
    assert _metric(processor, "spyglass_bytes_received_total", receiver="jaeger_grpc", format="jaeger_proto") > 100


def test_spans_with_their_own_process_and_gzip(served):
    running, _, store = served
    spans = [
        Span(0x99, 1, "a", 1_700_000_000_000_000_000, 10, Resource("svc-a", [KeyValue("v", 1)])),
        Span(0x99, 2, "b", 1_700_000_000_000_000_000, 10, Resource("svc-b"), parent_span_id=1),
    ]
    batch = jaeger_proto.batch_from_spans(spans)
    assert not batch.HasField("process")
    with grpc.insecure_channel(f"127.0.0.1:{running.port}", compression=grpc.Compression.Gzip) as channel:
        collector_pb2_grpc.CollectorServiceStub(channel).PostSpans(collector_pb2.PostSpansRequest(batch=batch), timeout=10)
    stored = wait_for(lambda: len(store.get_trace(0x99)) == 2 and store.get_trace(0x99))
    assert sorted(stored, key=lambda s: s.span_id) == spans


def test_reflection_lists_the_service(served):
    running, _, _ = served
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        [resp] = list(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5))
    assert "jaeger.api_v2.CollectorService" in {s.name for s in resp.list_services_response.service}


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\xff\xff",
        b"definitely not protobuf",
        # a span whose trace ID has 5 bytes
        collector_pb2.PostSpansRequest(batch=model_pb2.Batch(spans=[model_pb2.Span(trace_id=b"\x01" * 5, span_id=b"\x01" * 8)])).SerializeToString(),
    ],
)
def test_bad_payload_is_invalid_argument_and_server_keeps_serving(served, payload):
    running, processor, store = served
    with pytest.raises(grpc.RpcError) as info:
        _raw_post(running.port, payload)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert _metric(processor, "spyglass_requests_rejected_total", receiver="jaeger_grpc", format="jaeger_proto", reason="decode_error") == 1
    _assert_serving(running.port)
    _raw_post(running.port, collector_pb2.PostSpansRequest(batch=_batch()).SerializeToString())
    wait_for(lambda: store.get_trace(TID))


def test_truncated_request_is_invalid_argument(served):
    running, _, _ = served
    data = collector_pb2.PostSpansRequest(batch=_batch()).SerializeToString()
    with pytest.raises(grpc.RpcError) as info:
        _raw_post(running.port, data[: len(data) // 2])
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_queue_full_is_resource_exhausted():
    store = MemoryStore()
    processor = SpanProcessor(store, IngestMetrics(), ProcessorConfig(queue_size=1))  # not started: nothing drains
    running = _serve(processor)
    try:
        data = collector_pb2.PostSpansRequest(batch=_batch()).SerializeToString()
        _raw_post(running.port, data)  # fills the queue
        with pytest.raises(grpc.RpcError) as info:
            _raw_post(running.port, data)
        assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        # the queue is full (2 spans of 1): refused before decoding, counted per request
        assert _metric(processor, "spyglass_requests_rejected_total", receiver="jaeger_grpc", format="jaeger_proto", reason="queue_full") == 1
        assert _metric(processor, "spyglass_spans_received_total", receiver="jaeger_grpc", format="jaeger_proto") == 2
        with pytest.raises(grpc.RpcError) as info:
            _raw_post(running.port, b"\xff\xff")  # not even decoded: the same retryable error
        assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        _assert_serving(running.port)
        processor.start()
        wait_for(lambda: store.get_trace(TID))
        _raw_post(running.port, data)  # accepted again once the queue drained
    finally:
        running.close()
        processor.close()


def test_unhealthy_storage_is_unavailable_until_it_recovers():
    from spyglass.storage.api import Health

    state = {"health": Health(False, "disk full")}
    store = MemoryStore()
    processor = SpanProcessor(store, IngestMetrics(), ProcessorConfig(health_interval=0.05), health=lambda: state["health"])
    processor.start()
    running = _serve(processor)
    try:
        wait_for(lambda: not processor.storage_healthy)
        data = collector_pb2.PostSpansRequest(batch=_batch()).SerializeToString()
        with pytest.raises(grpc.RpcError) as info:
            _raw_post(running.port, data)
        assert info.value.code() is grpc.StatusCode.UNAVAILABLE  # retryable, unlike a bad request
        assert "disk full" in info.value.details()
        assert not store.get_trace(TID)
        state["health"] = Health(True)
        wait_for(lambda: processor.storage_healthy)
        _raw_post(running.port, data)
        wait_for(lambda: store.get_trace(TID))
    finally:
        running.close()
        processor.close()
