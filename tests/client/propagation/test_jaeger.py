"""Jaeger headers: round trip, tolerant parsing, and interop with the real jaeger-client
and OpenTelemetry's Jaeger propagator in both directions."""

from __future__ import annotations

import asyncio

import jaeger_client
import pytest
from jaeger_client.reporter import InMemoryReporter as JaegerInMemoryReporter
from jaeger_client.sampler import ConstSampler as JaegerConstSampler
from opentelemetry import baggage, trace
from opentelemetry.propagators.jaeger import JaegerPropagator as OtelJaegerPropagator
from opentracing import Format

from spyglass.client import ConstSampler, InMemoryReporter, SpanContext, Tracer
from spyglass.client.propagation import JaegerPropagator, header_view

T128 = 0x0AF7651916CD43DD8448EB211C80319C
S = 0xB7AD6B7169203331


def ours(**kwargs) -> Tracer:
    return Tracer("ours", InMemoryReporter(), ConstSampler(True), **kwargs)


@pytest.fixture
def jaeger_tracer():
    # jaeger-client's Tracer asks tornado for the thread's event loop; asyncio tests that
    # ran before may have left the main thread without one.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    t = jaeger_client.Tracer("theirs", JaegerInMemoryReporter(), JaegerConstSampler(True))
    yield t
    t.close()
    asyncio.set_event_loop(None)
    loop.close()


def test_inject_format():
    p = JaegerPropagator()
    carrier: dict = {}
    p.inject(SpanContext(0xABC, 0x12, 0x34, 1, {"user id": "a/b c"}), carrier)
    assert carrier == {"uber-trace-id": "0000000000000abc:12:34:1", "uberctx-user id": "a%2Fb%20c"}
    carrier = {}
    JaegerPropagator(url_encoding=False).inject(SpanContext(T128, S, 0, 3, {"k": "a b"}), carrier)
    assert carrier == {"uber-trace-id": f"{T128:032x}:{S:x}:0:3", "uberctx-k": "a b"}


@pytest.mark.parametrize(
    "value, expected",
    [
        ("abc:12:0:1", (0xABC, 0x12, 0, 1)),
        ("0000000000000abc:0000000000000012:0000000000000001:01", (0xABC, 0x12, 1, 1)),
        ("ABC%3A12%3A0%3A1", (0xABC, 0x12, 0, 1)),  # URL-encoded
        (f" {T128:032x}:{S:x}:0:3 ", (T128, S, 0, 3)),
        ("abc:12:0", None),  # too few parts
        ("abc:12:0:1:5", None),
        ("xyz:12:0:1", None),  # not hex
        ("0:12:0:1", None),  # zero trace ID
        ("abc:0:0:1", None),  # zero span ID
        ("1" * 33 + ":12:0:1", None),  # trace ID too long
        ("abc:12:0:zz", None),
        ("", None),
    ],
)
def test_tolerant_parsing(value, expected):
    ctx = JaegerPropagator().extract(header_view({"Uber-Trace-Id": value}))
    got = None if ctx is None else (ctx.trace_id, ctx.span_id, ctx.parent_id, ctx.flags)
    assert got == expected


def test_bad_header_starts_new_trace_and_keeps_baggage():
    t = ours()
    ctx = t.extract(Format.HTTP_HEADERS, {"uber-trace-id": "nonsense", "uberctx-k": "v"})
    span = t.start_span("op", child_of=ctx)
    assert span.parent_id == 0 and span.get_baggage_item("k") == "v"


def test_adhoc_baggage_and_debug_header():
    ctx = JaegerPropagator().extract(header_view({"jaeger-baggage": "a=1, b = 2,junk", "jaeger-debug-id": "x"}))
    assert ctx.trace_id == 0 and ctx.debug_id == "x" and dict(ctx.baggage) == {"a": "1", "b": "2"}


def test_custom_header_names():
    t = ours(trace_id_header="X-Trace", baggage_header_prefix="X-Bag-")
    span = t.start_span("op").set_baggage_item("k", "v")
    carrier: dict = {}
    t.inject(span.context, Format.HTTP_HEADERS, carrier)
    assert set(carrier) == {"x-trace", "x-bag-k"}
    assert t.extract(Format.HTTP_HEADERS, {"X-Trace": carrier["x-trace"], "X-Bag-k": "v"}).span_id == span.span_id


@pytest.mark.parametrize("fmt", [Format.HTTP_HEADERS, Format.TEXT_MAP])
def test_jaeger_client_extracts_ours(jaeger_tracer, fmt):
    t = ours(generate_128bit_trace_id=True)
    span = t.start_span("op").set_baggage_item("user", "al ice")
    carrier: dict = {}
    t.inject(span.context, fmt, carrier)
    ctx = jaeger_tracer.extract(fmt, carrier)
    assert (ctx.trace_id, ctx.span_id, ctx.flags) == (span.trace_id, span.span_id, 1)
    assert ctx.baggage == {"user": "al ice"}


@pytest.mark.parametrize("fmt", [Format.HTTP_HEADERS, Format.TEXT_MAP])
def test_ours_extracts_jaeger_client(jaeger_tracer, fmt):
    span = jaeger_tracer.start_span("op")
    span.set_baggage_item("user", "bob smith")
    carrier: dict = {}
    jaeger_tracer.inject(span.context, fmt, carrier)
    ctx = ours().extract(fmt, carrier)
    assert (ctx.trace_id, ctx.span_id, ctx.flags) == (span.trace_id, span.span_id, span.context.flags)
    assert dict(ctx.baggage) == {"user": "bob smith"}


def test_jaeger_client_debug_and_baggage_headers_reach_ours(jaeger_tracer):
    # What a curl user sends to a jaeger-client service works the same with ours.
    headers = {"jaeger-debug-id": "abc", "jaeger-baggage": "k=v"}
    theirs = jaeger_tracer.start_span("op", child_of=jaeger_tracer.extract(Format.HTTP_HEADERS, headers))
    mine = ours().start_span("op", child_of=ours().extract(Format.HTTP_HEADERS, headers))
    assert theirs.context.flags == mine.flags == 3
    assert theirs.get_baggage_item("k") == mine.get_baggage_item("k") == "v"


def test_otel_jaeger_propagator_both_ways():
    otel = OtelJaegerPropagator()
    t = ours(generate_128bit_trace_id=True)
    span = t.start_span("op").set_baggage_item("k", "v 1")
    carrier: dict = {}
    t.inject(span.context, Format.HTTP_HEADERS, carrier)
    octx = otel.extract(carrier)
    sc = trace.get_current_span(octx).get_span_context()
    assert (sc.trace_id, sc.span_id, sc.trace_flags.sampled) == (span.trace_id, span.span_id, True)
    assert baggage.get_baggage("k", octx) == "v 1"

    parent = trace.NonRecordingSpan(trace.SpanContext(T128, S, False, trace.TraceFlags(1)))
    octx = baggage.set_baggage("team", "a&b", trace.set_span_in_context(parent))
    carrier = {}
    otel.inject(carrier, octx)
    ctx = t.extract(Format.HTTP_HEADERS, carrier)
    assert (ctx.trace_id, ctx.span_id, ctx.flags & 1) == (T128, S, 1)
    assert dict(ctx.baggage) == {"team": "a&b"}
