"""B3 multi- and single-header: formats, tolerant parsing, and interop with the real
jaeger-client's B3 codec and OpenTelemetry's B3 propagators in both directions."""

from __future__ import annotations

import pytest
from jaeger_client.codecs import B3Codec
from jaeger_client.span_context import SpanContext as JaegerSpanContext
from opentelemetry import trace
from opentelemetry.propagators.b3 import B3MultiFormat, B3SingleFormat

from spyglass.client import SpanContext
from spyglass.client.propagation import B3Propagator, header_view

T128 = 0x463AC35C9F6413AD48485A3953BB6124
S = 0x0020000000000001
P = 0x00F067AA0BA902B7


def inject(p: B3Propagator, ctx: SpanContext) -> dict:
    carrier: dict = {}
    p.inject(ctx, carrier)
    return carrier


def test_multi_and_single_formats():
    ctx = SpanContext(T128, S, P, 1)
    assert inject(B3Propagator(), ctx) == {
        "X-B3-TraceId": f"{T128:032x}", "X-B3-SpanId": f"{S:016x}", "X-B3-ParentSpanId": f"{P:016x}", "X-B3-Sampled": "1",
    }
    assert inject(B3Propagator(), SpanContext(0xAB, S, 0, 3)) == {
        "X-B3-TraceId": "00000000000000ab", "X-B3-SpanId": f"{S:016x}", "X-B3-Flags": "1",
    }
    assert inject(B3Propagator(lower_case=True), ctx) == {
        "x-b3-traceid": f"{T128:032x}", "x-b3-spanid": f"{S:016x}", "x-b3-parentspanid": f"{P:016x}", "x-b3-sampled": "1",
    }
    assert inject(B3Propagator(single_header=True), ctx) == {"b3": f"{T128:032x}-{S:016x}-1-{P:016x}"}
    assert inject(B3Propagator(single_header=True), SpanContext(0xAB, S, 0, 0)) == {"b3": f"00000000000000ab-{S:016x}-0"}


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"X-B3-TraceId": f"{T128:032x}", "X-B3-SpanId": f"{S:016x}", "X-B3-Sampled": "1"}, (T128, S, 0, 1)),
        ({"x-b3-traceid": "00000000000000ab", "x-b3-spanid": f"{S:016x}", "x-b3-sampled": "true"}, (0xAB, S, 0, 1)),
        ({"x-b3-traceid": "00000000000000ab", "x-b3-spanid": f"{S:016x}", "x-b3-flags": "1"}, (0xAB, S, 0, 3)),
        ({"X-B3-TRACEID": "00000000000000ab", "x-B3-spanID": f"{S:016x}", "X-B3-FLAGS": "1"}, (0xAB, S, 0, 3)),
        ({"x-b3-traceid": "00000000000000ab", "x-b3-spanid": f"{S:016x}"}, (0xAB, S, 0, 0)),
        ({"b3": f"{T128:032x}-{S:016x}-d-{P:016x}"}, (T128, S, P, 3)),
        ({"b3": f"{T128:032x}-{S:016x}"}, (T128, S, 0, 0)),
        ({"b3": "0"}, None),  # deny only, no trace
        ({"b3": "garbage"}, None),
        ({"b3": f"{T128:032x}-{S:016x}-x"}, None),
        ({"x-b3-traceid": "abc", "x-b3-spanid": f"{S:016x}"}, None),  # wrong length
        ({"x-b3-traceid": "0" * 16, "x-b3-spanid": f"{S:016x}"}, None),
        ({"x-b3-traceid": "00000000000000ab", "x-b3-spanid": "nothex0000000000"}, None),
        ({"x-b3-traceid": "00000000000000ab"}, None),
        ({"b3": "bad", "x-b3-traceid": "00000000000000ab", "x-b3-spanid": f"{S:016x}", "x-b3-sampled": "1"}, (0xAB, S, 0, 1)),
    ],
)
def test_tolerant_parsing(headers, expected):
    ctx = B3Propagator().extract(header_view(headers))
    got = None if ctx is None else (ctx.trace_id, ctx.span_id, ctx.parent_id, ctx.flags)
    assert got == expected


def test_jaeger_client_b3_codec_both_ways():
    codec = B3Codec(generate_128bit_trace_id=True)
    ctx = SpanContext(T128, S, P, 1)
    theirs = codec.extract(inject(B3Propagator(), ctx))
    assert (theirs.trace_id, theirs.span_id, theirs.parent_id, theirs.flags) == (T128, S, P, 1)
    carrier: dict = {}
    codec.inject(JaegerSpanContext(T128, S, P, 3), carrier)
    got = B3Propagator().extract(header_view(carrier))
    assert (got.trace_id, got.span_id, got.parent_id, got.flags) == (T128, S, P, 3)


@pytest.mark.parametrize("flags", [1, 3])
def test_carrier_keys_are_jaeger_clients(flags):
    """Code that reads the carrier by exact key (``carrier["X-B3-TraceId"]``) gets the same
    keys and values from us as from jaeger-client's own B3 codec."""
    ours = inject(B3Propagator(), SpanContext(T128, S, P, flags))
    theirs: dict = {}
    B3Codec(generate_128bit_trace_id=True).inject(JaegerSpanContext(T128, S, P, flags), theirs)
    assert ours == theirs
    assert ours["X-B3-TraceId"] == f"{T128:032x}" and ours["X-B3-SpanId"] == f"{S:016x}"
    assert ours["X-B3-ParentSpanId"] == f"{P:016x}"


@pytest.mark.parametrize("single", [False, True])
def test_otel_b3_both_ways(single):
    otel = B3SingleFormat() if single else B3MultiFormat()
    ours = B3Propagator(single_header=single, lower_case=True)  # OTel's default getter is case-sensitive
    sc = trace.get_current_span(otel.extract(inject(ours, SpanContext(T128, S, P, 1)))).get_span_context()
    assert (sc.trace_id, sc.span_id, sc.trace_flags.sampled) == (T128, S, True)
    carrier: dict = {}
    otel.inject(carrier, trace.set_span_in_context(trace.NonRecordingSpan(trace.SpanContext(T128, S, False, trace.TraceFlags(1)))))
    got = ours.extract(header_view(carrier))
    assert (got.trace_id, got.span_id, got.flags) == (T128, S, 1)
