"""The Zipkin HTTP receiver on a real HttpServer, fed by real Zipkin clients: the
OpenTelemetry Zipkin JSON exporter (v1 and v2), py_zipkin (V1_JSON, V2_JSON, V2_PROTO3
through its own HTTP transport) and thriftpy2 (v1 Thrift); spans are read back from the
MemoryStore behind a real SpanProcessor."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import thriftpy2
from opentelemetry.exporter.zipkin.encoder import Protocol
from opentelemetry.exporter.zipkin.json import ZipkinExporter
from opentelemetry.sdk.resources import Resource as OtelResource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind as OtelKind
from opentelemetry.trace import Status as OtelStatus
from opentelemetry.trace import StatusCode as OtelStatusCode
from py_zipkin import Encoding, Kind
from py_zipkin.transport import SimpleHTTPTransport
from py_zipkin.zipkin import zipkin_span
from thriftpy2.protocol.binary import write_val
from thriftpy2.thrift import TType

import spyglass.codecs.thrift as thrift_dir
from spyglass.codecs.zipkin_json_v2 import encode_zipkin_json_v2
from spyglass.collector.metrics import IngestMetrics
from spyglass.collector.processor import ProcessorConfig, SpanProcessor
from spyglass.collector.receivers.zipkin_http import build_app
from spyglass.model import KeyValue, Resource, Span, SpanKind, Status, StatusCode
from spyglass.server import HttpServer
from spyglass.storage.memory import MemoryStore

RECEIVER = "zipkin_http"
V2_JSON, V2_PROTO, V1_JSON, V1_THRIFT = "zipkin_v2_json", "zipkin_v2_proto", "zipkin_v1_json", "zipkin_v1_thrift"
IDL = Path(thrift_dir.__file__).parent
zc = thriftpy2.load(str(IDL / "zipkincore.thrift"), module_name="zipkincore_zhttp_thrift")


class Collector:
    """A Zipkin receiver served by an event loop in a background thread, so that the
    synchronous client libraries can be called straight from the tests."""

    def __init__(self, queue_size: int = 10_000, max_body_bytes: int = 64 * 1024 * 1024, start: bool = True) -> None:
        self.store = MemoryStore()
        self.metrics = IngestMetrics()
        self.processor = SpanProcessor(self.store, self.metrics, ProcessorConfig(queue_size=queue_size))
        if start:
            self.processor.start()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = HttpServer("zipkin", "127.0.0.1", 0, build_app(self.processor, max_body_bytes))
        self._call(self.server.start())
        self.port = self.server.port

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def trace(self, trace_id: int, count: int, timeout: float = 10.0) -> list[Span]:
        deadline = time.monotonic() + timeout
        while True:
            spans = self.store.get_trace(trace_id)
            if len(spans) >= count:
                return sorted(spans, key=lambda s: (s.start_time_ns, s.span_id, s.kind))
            if time.monotonic() > deadline:
                pytest.fail(f"{count} spans of trace {trace_id:x} not stored within {timeout}s (have {len(spans)})")
            time.sleep(0.01)

    def counter(self, metric: Any, *labels: str) -> float:
        return metric.labels(*labels)._value.get()

    def close(self) -> None:
        try:
            self._call(self.server.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()
            self.processor.close(5)


@pytest.fixture
def collector() -> Iterator[Collector]:
    c = Collector()
    yield c
    c.close()


# -- OpenTelemetry's Zipkin exporter ------------------------------------------------------


def _otel_trace(collector: Collector, version: Protocol, path: str) -> tuple[int, int, int]:
    exporter = ZipkinExporter(
        version=version,
        endpoint=collector.url(path),
        local_node_ipv4="10.1.2.3",
        local_node_port=8080,
        max_tag_value_length=256,  # the v1 encoder fails on the default None
    )
    provider = TracerProvider(resource=OtelResource.create({"service.name": "checkout", "deployment.environment": "test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("shop.instrumentation", "1.4")
    with tracer.start_as_current_span("GET /cart", kind=OtelKind.SERVER) as root:
        root.set_attribute("http.method", "GET")
        root.set_attribute("http.status_code", 500)
        root.set_attribute("retry", True)
        root.add_event("cache.miss", {"key": "cart:1"})
        with tracer.start_as_current_span("SELECT cart", kind=OtelKind.CLIENT) as child:
            child.set_attribute("db.system", "postgresql")
            child.set_status(OtelStatus(OtelStatusCode.ERROR, "deadlock"))
        ctx = root.get_span_context()
        child_id = child.get_span_context().span_id
    provider.shutdown()
    return ctx.trace_id, ctx.span_id, child_id


def _check_otel_common(root: Span, child: Span, trace_id: int, root_id: int, child_id: int) -> None:
    for s in (root, child):
        assert s.trace_id == trace_id
        assert s.resource.service_name == "checkout"
        attrs = dict(s.resource.attributes)
        assert attrs["net.host.ip"] == "10.1.2.3" and attrs["net.host.port"] == 8080
        assert attrs["telemetry.sdk.language"] == "python"  # OTel resource keys are back in the resource
        assert attrs["deployment.environment"] == "test"
        assert s.scope.name == "shop.instrumentation" and s.scope.version == "1.4"
        assert s.flags == 3  # the Python exporter marks sampled spans "debug"
        assert s.end_time_ns > s.start_time_ns > 1_600_000_000_000_000_000
        assert s.start_time_ns % 1000 == 0
        assert not any(k.startswith(("otel.", "telemetry.", "service.")) for k, _ in s.attributes)
    assert root.span_id == root_id and root.parent_span_id == 0
    assert child.span_id == child_id and child.parent_span_id == root_id
    assert root.name == "GET /cart" and child.name == "SELECT cart"
    assert root.start_time_ns <= child.start_time_ns and child.end_time_ns <= root.end_time_ns
    assert dict(root.attributes) == {"http.method": "GET", "http.status_code": "500", "retry": "true"}
    assert root.status == Status()
    assert root.events[0].name == '{"cache.miss": {"key": "cart:1"}}'  # the exporter's own text
    assert dict(child.attributes) == {"db.system": "postgresql"}
    assert child.status == Status(StatusCode.ERROR, "deadlock")


def test_otel_exporter_v2_json(collector: Collector) -> None:
    trace_id, root_id, child_id = _otel_trace(collector, Protocol.V2, "/api/v2/spans")
    spans = collector.trace(trace_id, 2)
    root, child = (next(s for s in spans if s.span_id == i) for i in (root_id, child_id))
    _check_otel_common(root, child, trace_id, root_id, child_id)
    assert root.kind is SpanKind.SERVER and child.kind is SpanKind.CLIENT
    assert collector.counter(collector.metrics.spans_accepted, RECEIVER, V2_JSON) == 2


def test_otel_exporter_v1_json(collector: Collector) -> None:
    trace_id, root_id, child_id = _otel_trace(collector, Protocol.V1, "/api/v1/spans")
    spans = collector.trace(trace_id, 2)
    root, child = (next(s for s in spans if s.span_id == i) for i in (root_id, child_id))
    _check_otel_common(root, child, trace_id, root_id, child_id)
    # v1 JSON from this exporter carries no core annotations, so no kind.
    assert root.kind is SpanKind.UNSPECIFIED and child.kind is SpanKind.UNSPECIFIED
    assert collector.counter(collector.metrics.spans_accepted, RECEIVER, V1_JSON) == 2


# -- py_zipkin -------------------------------------------------------------------------------


def _py_zipkin_trace(collector: Collector, encoding: Encoding) -> int:
    transport = SimpleHTTPTransport("127.0.0.1", collector.port)  # asserts a 202 itself
    with zipkin_span(
        service_name="api",
        span_name="handle",
        transport_handler=transport,
        sample_rate=100.0,
        encoding=encoding,
        kind=Kind.SERVER,
        host="10.0.0.5",
        port=8000,
        use_128bit_trace_id=True,
        binary_annotations={"http.path": "/items"},
    ) as server:
        server.add_annotation("parsed")
        with zipkin_span(service_name="api", span_name="call-db", kind=Kind.CLIENT, encoding=encoding) as client:
            client.add_sa_binary_annotation(port=5432, service_name="postgres", host="10.0.0.9")
            client.update_binary_annotations({"db.statement": "SELECT 1"})
        return int(server.zipkin_attrs.trace_id, 16)


@pytest.mark.parametrize(
    ("encoding", "fmt"),
    [(Encoding.V2_JSON, V2_JSON), (Encoding.V2_PROTO3, V2_PROTO), (Encoding.V1_JSON, V1_JSON)],
)
def test_py_zipkin(collector: Collector, encoding: Encoding, fmt: str) -> None:
    trace_id = _py_zipkin_trace(collector, encoding)
    assert trace_id >> 64  # 128-bit
    server, client = sorted(collector.trace(trace_id, 2), key=lambda s: s.kind)
    assert server.kind is SpanKind.SERVER and client.kind is SpanKind.CLIENT
    assert server.name == "handle" and client.name == "call-db"
    assert client.parent_span_id == server.span_id and server.parent_span_id == 0
    for s in (server, client):
        assert s.resource == Resource("api", [KeyValue("net.host.ip", "10.0.0.5"), KeyValue("net.host.port", 8000)])
        assert s.duration_ns > 0 and s.start_time_ns % 1000 == 0
    assert KeyValue("http.path", "/items") in server.attributes
    assert [e.name for e in server.events] == ["parsed"]
    assert KeyValue("db.statement", "SELECT 1") in client.attributes
    peer = [kv for kv in client.attributes if kv.key.startswith(("peer.", "net.peer"))]
    assert sorted(peer) == sorted(
        [KeyValue("peer.service", "postgres"), KeyValue("net.peer.ip", "10.0.0.9"), KeyValue("net.peer.port", 5432)]
    )
    assert collector.counter(collector.metrics.spans_accepted, RECEIVER, fmt) == 2


# -- v1 Thrift (thriftpy2) ---------------------------------------------------------------------


def _thrift_body() -> bytes:
    front = zc.Endpoint(ipv4=0x0A000001, port=80, service_name="web")
    back = zc.Endpoint(ipv4=0x0A000002, port=-1, service_name="users")
    span = zc.Span(
        trace_id=0x1111,
        trace_id_high=0x2222,
        name="lookup",
        id=0x3333,
        parent_id=0x4444,
        timestamp=1_700_000_000_000_000,
        duration=900,
        annotations=[
            zc.Annotation(1_700_000_000_000_000, "cs", front),
            zc.Annotation(1_700_000_000_000_100, "sr", back),
            zc.Annotation(1_700_000_000_000_800, "ss", back),
            zc.Annotation(1_700_000_000_000_900, "cr", front),
        ],
        binary_annotations=[
            zc.BinaryAnnotation("http.status", (200).to_bytes(2, "big"), zc.AnnotationType.I16, front),
            zc.BinaryAnnotation("sa", b"\x01", zc.AnnotationType.BOOL, back),
        ],
    )
    buf = io.BytesIO()
    write_val(buf, TType.LIST, [span], (TType.STRUCT, zc.Span))
    return buf.getvalue()


def test_v1_thrift(collector: Collector) -> None:
    r = requests.post(collector.url("/api/v1/spans"), data=_thrift_body(), headers={"Content-Type": "application/x-thrift"})
    assert r.status_code == 202, r.text
    client, server = collector.trace((0x2222 << 64) | 0x1111, 2)
    assert (client.kind, client.resource.service_name, client.duration_ns) == (SpanKind.CLIENT, "web", 900_000)
    assert (server.kind, server.resource.service_name, server.duration_ns) == (SpanKind.SERVER, "users", 700_000)
    assert client.parent_span_id == server.parent_span_id == 0x4444
    assert KeyValue("http.status", 200) in client.attributes
    assert KeyValue("peer.service", "users") in client.attributes
    assert KeyValue("zipkin.shared", True) in server.attributes
    assert dict(server.resource.attributes) == {"net.host.ip": "10.0.0.2", "net.host.port": 65535}
    assert collector.counter(collector.metrics.spans_accepted, RECEIVER, V1_THRIFT) == 2


# -- HTTP details -------------------------------------------------------------------------------

V2_BODY = json.dumps(
    [{"traceId": "00000000000000aa", "id": "00000000000000bb", "name": "x", "localEndpoint": {"serviceName": "s"}}]
).encode()


def test_gzip_body(collector: Collector) -> None:
    r = requests.post(
        collector.url("/api/v2/spans"),
        data=gzip.compress(V2_BODY),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert r.status_code == 202, r.text
    (span,) = collector.trace(0xAA, 1)
    assert span.name == "x" and span.resource.service_name == "s"


@pytest.mark.parametrize("path", ["/api/v2/spans", "/api/v1/spans"])
def test_missing_content_type_is_json(collector: Collector, path: str) -> None:
    body = V2_BODY if path.endswith("v2/spans") else json.dumps([{"traceId": "aa", "id": "bb", "name": "x"}]).encode()
    r = requests.post(collector.url(path), data=body, headers={"Content-Type": ""})
    assert r.status_code == 202, r.text
    assert collector.trace(0xAA, 1)[0].name == "x"


def test_content_type_parameters_are_ignored(collector: Collector) -> None:
    r = requests.post(collector.url("/api/v2/spans"), data=V2_BODY, headers={"Content-Type": "Application/JSON; charset=utf-8"})
    assert r.status_code == 202


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/v2/spans", "application/x-thrift"),
        ("/api/v2/spans", "text/plain"),
        ("/api/v1/spans", "application/x-protobuf"),
        ("/api/v1/spans", "application/xml"),
    ],
)
def test_unsupported_content_type(collector: Collector, path: str, content_type: str) -> None:
    r = requests.post(collector.url(path), data=b"[]", headers={"Content-Type": content_type})
    assert r.status_code == 400
    assert r.text.startswith(f"Unsupported Content-Type: {content_type}")
    assert collector.counter(collector.metrics.requests_rejected, RECEIVER, "unknown", "unsupported_content_type") == 1


@pytest.mark.parametrize(
    ("path", "content_type", "body", "fmt", "message"),
    [
        ("/api/v2/spans", "application/json", b'[{"traceId":"zz","id":"1"}]', V2_JSON, "traceId must be"),
        ("/api/v2/spans", "application/json", b"\x00garbage", V2_JSON, "invalid Zipkin v2 JSON"),
        ("/api/v2/spans", "application/x-protobuf", b"\xff\xff\xff", V2_PROTO, "invalid Zipkin proto3"),
        ("/api/v1/spans", "application/json", b'[{"traceId":"1"}]', V1_JSON, "invalid Zipkin v1 JSON"),
        ("/api/v1/spans", "application/x-thrift", b"\x0c\x00\x00\x00\x05", V1_THRIFT, "truncated"),
    ],
)
def test_bad_payload(collector: Collector, path: str, content_type: str, body: bytes, fmt: str, message: str) -> None:
    r = requests.post(collector.url(path), data=body, headers={"Content-Type": content_type})
    assert r.status_code == 400
    assert r.text.startswith("Unable to process request body:") and message in r.text
    assert collector.counter(collector.metrics.requests_rejected, RECEIVER, fmt, "decode_error") == 1
    # the server is still fine
    assert requests.post(collector.url("/api/v2/spans"), data=V2_BODY).status_code == 202


def test_bad_gzip_and_unknown_encoding(collector: Collector) -> None:
    r = requests.post(
        collector.url("/api/v2/spans"),
        data=b"this is not gzip",
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert r.status_code == 400
    assert collector.counter(collector.metrics.requests_rejected, RECEIVER, V2_JSON, "bad_encoding") == 1
    r = requests.post(collector.url("/api/v2/spans"), data=V2_BODY, headers={"Content-Encoding": "compress"})
    assert r.status_code == 400 and "Unsupported Content-Encoding: compress" in r.text
    assert requests.post(collector.url("/api/v2/spans"), data=V2_BODY).status_code == 202


def test_other_methods_are_not_allowed(collector: Collector) -> None:
    assert requests.get(collector.url("/api/v2/spans")).status_code == 405
    assert requests.post(collector.url("/api/v3/spans"), data=V2_BODY).status_code == 404


def test_too_large_and_gzip_bomb() -> None:
    c = Collector(max_body_bytes=50_000)
    try:
        big = encode_zipkin_json_v2([])[:-1] + b" " * 60_000 + b"]"
        r = requests.post(c.url("/api/v2/spans"), data=big, headers={"Content-Type": "application/json"})
        assert r.status_code == 413
        # 10 MB of zeros inflates far past the limit from a ~10 KB body: refused, not held.
        bomb = gzip.compress(b"[" + b" " * 10_000_000 + b"]")
        assert len(bomb) < 50_000
        r = requests.post(
            c.url("/api/v2/spans"), data=bomb, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}
        )
        assert r.status_code == 413
        assert c.counter(c.metrics.requests_rejected, RECEIVER, V2_JSON, "too_large") == 2
        # chunked upload without Content-Length
        r = requests.post(c.url("/api/v2/spans"), data=iter([big[:30_000], big[30_000:]]), headers={"Content-Type": "application/json"})
        assert r.status_code == 413
        small = gzip.compress(V2_BODY)
        r = requests.post(c.url("/api/v2/spans"), data=small, headers={"Content-Encoding": "gzip"})
        assert r.status_code == 202
    finally:
        c.close()


def test_queue_full_is_503_with_retry_after() -> None:
    c = Collector(queue_size=1, start=False)  # nothing drains the queue
    try:
        first = requests.post(c.url("/api/v2/spans"), data=V2_BODY)
        assert first.status_code == 202
        second = requests.post(c.url("/api/v2/spans"), data=V2_BODY)
        assert second.status_code == 503
        assert second.headers["Retry-After"] == "1"
        # the queue is full (1 of 1): refused before the body was read, counted per request
        assert c.counter(c.metrics.requests_rejected, RECEIVER, V2_JSON, "queue_full") == 1
        assert c.counter(c.metrics.spans_received, RECEIVER, V2_JSON) == 1
        assert c.counter(c.metrics.spans_accepted, RECEIVER, V2_JSON) == 1
    finally:
        c.close()


def test_bytes_and_spans_are_counted(collector: Collector) -> None:
    r = requests.post(collector.url("/api/v2/spans"), data=V2_BODY, headers={"Content-Type": "application/json"})
    assert r.status_code == 202 and r.text == ""
    assert collector.counter(collector.metrics.bytes_received, RECEIVER, V2_JSON) == len(V2_BODY)
    assert collector.counter(collector.metrics.spans_received, RECEIVER, V2_JSON) == 1

