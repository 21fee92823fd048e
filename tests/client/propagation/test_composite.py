"""Several formats at once, configured by name on the tracer."""

from __future__ import annotations

import pytest
from opentracing import Format

from spyglass.client import ConstSampler, InMemoryReporter, Tracer
from spyglass.client.propagation import build_propagator, header_view

T = 0x4BF92F3577B34DA6A3CE929D0E0E4736


def test_inject_all_extract_first_and_merge_baggage():
    t = Tracer("svc", InMemoryReporter(), ConstSampler(True), propagation="w3c,b3,jaeger", generate_128bit_trace_id=True)
    span = t.start_span("op").set_baggage_item("k", "v")
    carrier: dict = {}
    t.inject(span.context, Format.HTTP_HEADERS, carrier)
    assert {"traceparent", "baggage", "X-B3-TraceId", "uber-trace-id", "uberctx-k"} <= set(carrier)
    ctx = t.extract(Format.HTTP_HEADERS, carrier)
    assert (ctx.trace_id, ctx.span_id, dict(ctx.baggage)) == (span.trace_id, span.span_id, {"k": "v"})


def test_bad_first_format_falls_through_to_next():
    p = build_propagator("tracecontext,jaeger")
    ctx = p.extract(header_view({"traceparent": "garbage", "uber-trace-id": f"{T:x}:2:0:1", "baggage": "a=1"}))
    assert (ctx.trace_id, ctx.span_id) == (T, 2)
    ctx = build_propagator("w3c,jaeger").extract(header_view({"uber-trace-id": f"{T:x}:2:0:1", "baggage": "a=1"}))
    assert dict(ctx.baggage) == {"a": "1"}


def test_unknown_name_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown propagation format"):
        build_propagator("jaeger,zipkin")
