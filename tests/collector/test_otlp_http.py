"""OTLP/HTTP receiver: the real OpenTelemetry SDK HTTP exporter (protobuf, gzip), OTLP
JSON, partial success, bad payloads, zip bombs and a full queue, over real sockets."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import threading
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from google.rpc import status_pb2
from opentelemetry import trace as otel_trace
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk.resources import Resource as OtelResource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.trace import Status as OtelStatus, StatusCode as OtelStatusCode
from support import JAEGER_FIXTURES, wait_for

from spyglass.codecs import otlp_json, otlp_proto
from spyglass.collector.metrics import IngestMetrics
from spyglass.collector.processor import ProcessorConfig, SpanProcessor
from spyglass.collector.receivers import otlp_http
from spyglass.model import KeyValue, Resource, Span, SpanKind, Status, StatusCode
from spyglass.server import HttpServer
from spyglass.storage.memory import MemoryStore

PB = {"Content-Type": "application/x-protobuf"}
JS = {"Content-Type": "application/json"}
FIXTURE = str(JAEGER_FIXTURES / "traces" / "scope_attributes_trace.json")


class Served:
    """A listener running on an event loop in a background thread, so that blocking
    HTTP clients (the SDK exporter, requests) can be used from the test itself."""

    def __init__(self, listener: Any) -> None:
        self.listener = listener
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(listener.start(), self.loop).result(30)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.port}/v1/traces"

    def close(self) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.listener.stop(), self.loop).result(30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


def _serve(processor: SpanProcessor, max_body_bytes: int = 1024 * 1024) -> Served:
    return Served(HttpServer("otlp-http-test", "127.0.0.1", 0, otlp_http.build_app(processor, max_body_bytes)))


@pytest.fixture
def served(memory_processor) -> Iterator[tuple[Served, SpanProcessor, MemoryStore]]:
    processor, store = memory_processor
    running = _serve(processor)
    yield running, processor, store
    running.close()


def _metric(processor: SpanProcessor, name: str, **labels: str) -> float:
    return processor.metrics.registry.get_sample_value(name, labels) or 0.0


def _good(trace_id: int = 0x42, name: str = "ok") -> Span:
    return Span(trace_id, 1, name, 1_700_000_000_000_000_000, 1000, Resource("svc", [KeyValue("k", "v")]))


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip, Compression.Deflate])
def test_sdk_http_exporter_spans_reach_storage(served, compression):
    running, processor, store = served
    provider = TracerProvider(resource=OtelResource.create({"service.name": "http-svc", "team": "core"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=running.url, compression=compression)))
    tracer = provider.get_tracer("http.scope", "0.9")
    with tracer.start_as_current_span("checkout", kind=otel_trace.SpanKind.SERVER, attributes={"items": 3, "vip": True}) as parent:
        parent.add_event("validated", {"ok": True})
        with tracer.start_as_current_span("pay", kind=otel_trace.SpanKind.PRODUCER) as child:
            child.set_status(OtelStatus(OtelStatusCode.ERROR, "declined"))
    provider.shutdown()
    trace_id = parent.get_span_context().trace_id
    spans = wait_for(lambda: len(store.get_trace(trace_id)) == 2 and store.get_trace(trace_id))
    by_name = {s.name: s for s in spans}
    p, c = by_name["checkout"], by_name["pay"]
    assert p.span_id == parent.get_span_context().span_id and c.span_id == child.get_span_context().span_id
    assert c.parent_span_id == p.span_id and p.parent_span_id == 0
    assert p.kind is SpanKind.SERVER and c.kind is SpanKind.PRODUCER
    assert p.attributes == [KeyValue("items", 3), KeyValue("vip", True)]
    assert [(e.name, e.attributes) for e in p.events] == [("validated", [KeyValue("ok", True)])]
    assert c.status == Status(StatusCode.ERROR, "declined")
    for s in spans:
        assert s.service_name == "http-svc" and dict(s.resource.attributes)["team"] == "core"
        assert (s.scope.name, s.scope.version) == ("http.scope", "0.9")
    assert p.start_time_ns <= c.start_time_ns < c.end_time_ns <= p.end_time_ns
    assert _metric(processor, "spyglass_spans_accepted_total", receiver="otlp_http", format="otlp_proto") == 2


def test_sdk_batch_exporter(served):
    running, _, store = served
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=running.url)))
    tracer = provider.get_tracer("bulk")
    with tracer.start_as_current_span("root") as root:
        for i in range(200):
            tracer.start_span(f"c{i}").end()
    assert provider.force_flush(10_000)
    provider.shutdown()
    trace_id = root.get_span_context().trace_id
    spans = wait_for(lambda: len(store.get_trace(trace_id)) == 201 and store.get_trace(trace_id))
    assert {s.service_name for s in spans} == {OtelResource.create().attributes["service.name"]}  # the SDK's default


def test_json_fixture_and_json_response(served):
    running, processor, store = served
    with open(FIXTURE, "rb") as f:
        body = f.read()
    resp = requests.post(running.url, data=body, headers=JS, timeout=10)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/json")
    assert resp.json() == {}
    [span] = wait_for(lambda: store.get_trace(0x225))
    assert span == otlp_json.decode_export_request(body)[0]
    assert _metric(processor, "spyglass_spans_accepted_total", receiver="otlp_http", format="otlp_json") == 1
    # gzip-compressed JSON with a charset parameter
    other = otlp_json.encode_json([_good(0x43)])
    resp = requests.post(
        running.url,
        data=gzip.compress(other),
        headers={"Content-Type": "application/json; charset=utf-8", "Content-Encoding": "gzip"},
        timeout=10,
    )
    assert resp.status_code == 200
    wait_for(lambda: store.get_trace(0x43))


def test_x_gzip_and_raw_deflate(served):
    running, _, store = served
    resp = requests.post(
        running.url, data=gzip.compress(otlp_proto.encode_export_request([_good(0x51)])), headers={**PB, "Content-Encoding": "x-gzip"}, timeout=10
    )
    assert resp.status_code == 200
    raw = zlib.compressobj(wbits=-15)
    body = raw.compress(otlp_proto.encode_export_request([_good(0x52)])) + raw.flush()
    resp = requests.post(running.url, data=body, headers={**PB, "Content-Encoding": "deflate"}, timeout=10)
    assert resp.status_code == 200
    wait_for(lambda: store.get_trace(0x51) and store.get_trace(0x52))


def _invalid_id_request() -> bytes:
    req = trace_service_pb2.ExportTraceServiceRequest.FromString(otlp_proto.encode_export_request([_good(0x61)]))
    spans = req.resource_spans[0].scope_spans[0].spans
    bad = spans.add()
    bad.CopyFrom(spans[0])
    bad.span_id = bytes(8)
    return req.SerializeToString()


def test_partial_success_protobuf_and_json(served):
    running, processor, store = served
    resp = requests.post(running.url, data=_invalid_id_request(), headers=PB, timeout=10)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/x-protobuf"
    parsed = trace_service_pb2.ExportTraceServiceResponse.FromString(resp.content)
    assert parsed.partial_success.rejected_spans == 1 and "span ID is all zeros" in parsed.partial_success.error_message
    doc = otlp_json.encode_traces_data([_good(0x62)])
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"].append({"traceId": "zz", "spanId": "0000000000000001"})
    resp = requests.post(running.url, data=json.dumps(doc), headers=JS, timeout=10)
    assert resp.status_code == 200
    assert resp.json()["partialSuccess"]["rejectedSpans"] == "1"
    wait_for(lambda: store.get_trace(0x61) and store.get_trace(0x62))
    assert _metric(processor, "spyglass_spans_rejected_total", receiver="otlp_http", format="otlp_proto", reason="invalid_span") == 1
    assert _metric(processor, "spyglass_spans_dropped_total", reason="invalid_span") == 2


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        (PB, b"\xff\xff\xff\xff garbage"),
        (PB, otlp_proto.encode_export_request([_good(0x70, "x" * 60)])[:-7]),  # truncated
        (JS, b"{not json"),
        (JS, b'{"resourceSpans": 7}'),
        ({**PB, "Content-Encoding": "gzip"}, b"this is not gzip"),
        ({**PB, "Content-Encoding": "x-gzip"}, gzip.compress(b"12345", mtime=0)[:-4]),  # truncated gzip
    ],
)
def test_bad_payloads_get_400_with_status_body(served, headers, body):
    running, processor, store = served
    resp = requests.post(running.url, data=body, headers=headers, timeout=10)
    assert resp.status_code == 400
    if headers["Content-Type"] == "application/json":
        assert resp.json()["code"] == 3 and resp.json()["message"]
    else:
        status = status_pb2.Status.FromString(resp.content)
        assert status.code == 3 and status.message
    fmt = "otlp_json" if headers["Content-Type"] == "application/json" else "otlp_proto"
    assert _metric(processor, "spyglass_requests_rejected_total", receiver="otlp_http", format=fmt, reason="decode_error") == 1
    # the server keeps serving
    ok = requests.post(running.url, data=otlp_proto.encode_export_request([_good(0x71)]), headers=PB, timeout=10)
    assert ok.status_code == 200
    wait_for(lambda: store.get_trace(0x71))


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "deflate"])
def test_zip_bomb_is_413(served, encoding):
    running, processor, _ = served
    bomb = b"\0" * (8 * 1024 * 1024)  # 8 MiB inflated, limit is 1 MiB
    body = zlib.compress(bomb, 9) if encoding == "deflate" else gzip.compress(bomb, 9)
    assert len(body) < 64 * 1024
    resp = requests.post(running.url, data=body, headers={**PB, "Content-Encoding": encoding}, timeout=10)
    assert resp.status_code == 413
    assert _metric(processor, "spyglass_requests_rejected_total", receiver="otlp_http", format="otlp_proto", reason="too_large") == 1
    assert requests.post(running.url, data=b"", headers=PB, timeout=10).status_code == 200


def test_too_large_plain_body_is_413(served):
    """Refused from its Content-Length, before the body is read. A raw socket, so that the
    test can end its side and wait for the server to close: aiohttp keeps reading (and
    discarding) an unread body for up to 10 s, which would delay the server's stop."""
    running, processor, _ = served
    body = b"\0" * (2 * 1024 * 1024)
    with socket.create_connection(("127.0.0.1", running.listener.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-protobuf\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        )
        try:
            sock.sendall(body)
        except OSError:
            pass  # the server may stop reading once it has answered
        head = sock.recv(4096)
        sock.shutdown(socket.SHUT_WR)  # end of our body: the server stops lingering and closes
        while sock.recv(65536):
            pass
    assert head.startswith(b"HTTP/1.1 413 ")
    assert _metric(processor, "spyglass_requests_rejected_total", receiver="otlp_http", format="otlp_proto", reason="too_large") == 1


@pytest.mark.parametrize(
    ("headers", "statuses"),
    [
        ({"Content-Type": "text/plain"}, {415}),
        ({}, {415}),
        ({"Content-Type": "application/x-thrift"}, {415}),
        # aiohttp itself refuses br (400) unless the Brotli library is installed
        ({**PB, "Content-Encoding": "br"}, {400, 415}),
        ({**PB, "Content-Encoding": "lz4"}, {415}),
    ],
)
def test_unsupported_media(served, headers, statuses):
    running, _, _ = served
    resp = requests.post(running.url, data=b"x", headers=headers, timeout=10)
    assert resp.status_code in statuses
    assert requests.post(running.url, data=b"", headers=PB, timeout=10).status_code == 200


def test_other_methods_are_405(served):
    running, _, _ = served
    assert requests.get(running.url, timeout=10).status_code == 405
    assert requests.put(running.url, data=b"", headers=PB, timeout=10).status_code == 405


def test_queue_full_is_503_with_retry_after():
    store = MemoryStore()
    processor = SpanProcessor(store, IngestMetrics(), ProcessorConfig(queue_size=1))  # not started: nothing drains
    running = _serve(processor)
    try:
        body = otlp_proto.encode_export_request([_good(0x81)])
        assert requests.post(running.url, data=body, headers=PB, timeout=10).status_code == 200
        resp = requests.post(running.url, data=body, headers=PB, timeout=10)
        assert resp.status_code == 503 and resp.headers["Retry-After"] == "1"
        assert status_pb2.Status.FromString(resp.content).code == 14  # UNAVAILABLE
        resp = requests.post(running.url, data=otlp_json.encode_json([_good(0x82)]), headers=JS, timeout=10)
        assert resp.status_code == 503 and resp.json()["code"] == 14
        # the queue is full (1 of 1): refused before the bodies were read, counted per request
        assert _metric(processor, "spyglass_requests_rejected_total", receiver="otlp_http", format="otlp_proto", reason="queue_full") == 1
        assert _metric(processor, "spyglass_requests_rejected_total", receiver="otlp_http", format="otlp_json", reason="queue_full") == 1
        resp = requests.post(running.url, data=b"{not json", headers=JS, timeout=10)
        assert resp.status_code == 503 and resp.headers["Retry-After"] == "1"  # not decoded: not a 400
        processor.start()
        wait_for(lambda: store.get_trace(0x81))
        assert requests.post(running.url, data=body, headers=PB, timeout=10).status_code == 200
    finally:
        running.close()
        processor.close()
