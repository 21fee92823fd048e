"""Unstorable spans are refused at ingest, counted with a reason, never counted as written
(issue 17, items 6 and 10), through every kind of receiver of a running all-in-one."""

from __future__ import annotations

import socket
import time
from typing import Any

import grpc
import pytest
import requests
from conftest import RunningAllInOne
from support import wait_for

from spyglass.codecs import jaeger_proto, jaeger_thrift, otlp_proto, zipkin_json_v2
from spyglass.codecs.proto.jaeger.api_v2 import collector_pb2, collector_pb2_grpc
from spyglass.collector.validation import REASON_TIME, REASON_TRACE_ID, problem, validate
from spyglass.model import Event, Resource, Span
from spyglass.model.timerange import MAX_TIME_NS
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

T0 = 1_700_000_000_000_000_000
US_2_62 = 1 << 62  # µs: a Jaeger start time ~146,000 years from the epoch


def span(trace_id: int = 0x1234, span_id: int = 1, start: int = T0, duration: int = 1_000, **kw: Any) -> Span:
    return Span(trace_id, span_id, "op", start, duration, Resource("svc"), **kw)


def value(metric: Any, *labels: str) -> float:
    return metric.labels(*labels)._value.get()


@pytest.fixture(scope="module")
def aio() -> Any:
    running = RunningAllInOne()
    yield running
    running.close()


# -- the rule ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (span(trace_id=0), REASON_TRACE_ID),
        (span(trace_id=1 << 128), REASON_TRACE_ID),
        (span(start=US_2_62 * 1000), REASON_TIME),
        (span(start=-US_2_62 * 1000), REASON_TIME),
        (span(start=(1 << 64) - 1), REASON_TIME),
        (span(start=-1), REASON_TIME),
        (span(start=MAX_TIME_NS, duration=1), REASON_TIME),  # the end does not fit
        (span(duration=-5), REASON_TIME),
        (span(events=[Event(1 << 63)]), REASON_TIME),
    ],
)
def test_unstorable_spans_have_a_reason(bad: Span, reason: str) -> None:
    assert problem(bad) == reason
    checked = validate([span(), bad, span(span_id=2)])
    assert [s.span_id for s in checked.good] == [1, 2]
    assert checked.rejected == {reason: 1}
    assert "1 span rejected" in checked.message()


def test_storable_edges_pass_unchanged() -> None:
    spans = [span(start=0, duration=0), span(start=MAX_TIME_NS, duration=0), span(trace_id=(1 << 128) - 1)]
    checked = validate(spans)
    assert checked.good is spans and checked.rejected == {}


# -- through the receivers -----------------------------------------------------------------


def test_jaeger_thrift_http_far_times_are_400_and_never_written(aio: RunningAllInOne) -> None:
    m = aio.app.metrics
    written = m.spans_written._value.get()
    good = span(trace_id=0x6001, span_id=3)
    body = jaeger_thrift.encode_batch(
        [span(trace_id=0x6001, span_id=1, start=US_2_62 * 1000), span(trace_id=0x6001, span_id=2, start=-US_2_62 * 1000), good]
    )
    r = requests.post(aio.url("collector_http", "/api/traces"), data=body,
                      headers={"Content-Type": "application/x-thrift"}, timeout=10)
    assert r.status_code == 400
    assert "2 of 3 spans refused" in r.text and "1970-01-01..2262-04-11" in r.text
    assert value(m.spans_rejected, "jaeger_http", "jaeger_thrift_binary", REASON_TIME) == 2
    assert value(m.spans_dropped, REASON_TIME) >= 2
    wait_for(lambda: m.spans_written._value.get() == written + 1)  # only the good span
    time.sleep(0.3)
    assert m.spans_written._value.get() == written + 1
    assert [s.span_id for s in aio.app.storage.trace_reader().get_trace(0x6001)] == [3]


def test_otlp_http_far_start_is_a_partial_success(aio: RunningAllInOne) -> None:
    m = aio.app.metrics
    body = otlp_proto.encode_export_request([span(trace_id=0x6002, span_id=1, start=(1 << 64) - 1, duration=0),
                                              span(trace_id=0x6002, span_id=2)])
    r = requests.post(aio.url("otlp_http", "/v1/traces"), data=body,
                      headers={"Content-Type": "application/x-protobuf"}, timeout=10)
    assert r.status_code == 200
    response = trace_service_pb2.ExportTraceServiceResponse.FromString(r.content)
    assert response.partial_success.rejected_spans == 1
    assert "2262-04-11" in response.partial_success.error_message
    assert value(m.spans_rejected, "otlp_http", "otlp_proto", REASON_TIME) == 1
    wait_for(lambda: aio.app.storage.trace_reader().get_trace(0x6002))
    assert [s.span_id for s in aio.app.storage.trace_reader().get_trace(0x6002)] == [2]


def test_zero_trace_ids_are_refused_on_every_jaeger_and_zipkin_path(aio: RunningAllInOne) -> None:
    m = aio.app.metrics
    zero = [span(trace_id=0, span_id=7)]
    r = requests.post(aio.url("collector_http", "/api/traces"), data=jaeger_thrift.encode_batch(zero),
                      headers={"Content-Type": "application/x-thrift"}, timeout=10)
    assert r.status_code == 400 and "trace ID is zero" in r.text
    assert value(m.spans_rejected, "jaeger_http", "jaeger_thrift_binary", REASON_TRACE_ID) == 1

    with grpc.insecure_channel(f"127.0.0.1:{aio.ports['collector_grpc']}") as channel:
        stub = collector_pb2_grpc.CollectorServiceStub(channel)
        request = collector_pb2.PostSpansRequest(batch=jaeger_proto.batch_from_spans(zero))
        with pytest.raises(grpc.RpcError) as info:
            stub.PostSpans(request, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "trace ID is zero" in info.value.details()
    assert value(m.spans_rejected, "jaeger_grpc", "jaeger_proto", REASON_TRACE_ID) == 1

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(jaeger_thrift.encode_agent_message(zero, "compact"),
                    ("127.0.0.1", aio.ports["agent_jaeger_compact"]))
    wait_for(lambda: value(m.spans_rejected, "agent_jaeger_compact", "jaeger_thrift_compact", REASON_TRACE_ID) == 1)

    # Zipkin's own decoders already refuse a zero ID as a bad payload: still a 400.
    r = requests.post(aio.url("zipkin_http", "/api/v2/spans"), data=zipkin_json_v2.encode_zipkin_json_v2(zero),
                      headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 400

    assert not aio.app.storage.trace_reader().get_trace(0)


def test_a_zero_trace_id_is_not_served(aio: RunningAllInOne) -> None:
    # Written straight to storage, as data from before the check could be.
    aio.app.storage.span_writer().write_spans([span(trace_id=0, span_id=9)])
    for path in ("/api/traces/0", "/api/traces/00000000000000000000000000000000", "/api/v3/traces/0"):
        r = requests.get(aio.url("query_http", path), timeout=10)
        assert r.status_code == 404, (path, r.status_code, r.text)
    r = requests.get(aio.url("query_http", "/api/traces?traceID=0"), timeout=10)
    assert r.status_code == 200 and r.json()["data"] == []
