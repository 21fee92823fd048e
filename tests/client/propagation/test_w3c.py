"""W3C traceparent/tracestate and baggage: formats, the spec's parsing rules, and interop
with OpenTelemetry's TraceContext and W3C Baggage propagators in both directions."""

from __future__ import annotations

import pytest
from opentelemetry import baggage, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from spyglass.client import SpanContext
from spyglass.client.propagation import BaggagePropagator, TraceContextPropagator, header_view

T = 0x4BF92F3577B34DA6A3CE929D0E0E4736
S = 0x00F067AA0BA902B7
TP = f"00-{T:032x}-{S:016x}-01"


def test_inject():
    carrier: dict = {}
    TraceContextPropagator().inject(SpanContext(0xAB, S, 5, 3, None, None, "vendor=x"), carrier)
    assert carrier == {"traceparent": f"00-{0xAB:032x}-{S:016x}-01", "tracestate": "vendor=x"}
    carrier = {}
    BaggagePropagator().inject(SpanContext(1, 1, 0, 1, {"user": "a b,c", "n": "1"}), carrier)
    assert carrier == {"baggage": "user=a%20b%2Cc,n=1"}


@pytest.mark.parametrize(
    "value, expected",
    [
        (TP, (T, S, 1)),
        (f"  {TP.upper()}  ", (T, S, 1)),
        (f"00-{T:032x}-{S:016x}-00", (T, S, 0)),
        (f"00-{T:032x}-{S:016x}-03", (T, S, 1)),  # unknown flag bits ignored
        (f"01-{T:032x}-{S:016x}-01-future", (T, S, 1)),  # higher version may add fields
        (f"00-{T:032x}-{S:016x}-01-extra", None),  # version 00 must have exactly 4
        (f"ff-{T:032x}-{S:016x}-01", None),
        (f"00-{'0' * 32}-{S:016x}-01", None),
        (f"00-{T:032x}-{'0' * 16}-01", None),
        (f"00-{T:032x}"[:-1] + f"-{S:016x}-01", None),
        ("00-xyz", None),
        ("", None),
    ],
)
def test_traceparent_parsing(value, expected):
    ctx = TraceContextPropagator().extract(header_view({"traceparent": value}))
    got = None if ctx is None else (ctx.trace_id, ctx.span_id, ctx.flags)
    assert got == expected


def test_tracestate_kept_and_bad_one_dropped():
    p = TraceContextPropagator()
    assert p.extract(header_view([("traceparent", TP), ("tracestate", "a=1"), ("tracestate", "b=2")])).trace_state == "a=1,b=2"
    assert p.extract(header_view({"traceparent": TP, "tracestate": "no-equals"})).trace_state == ""


def test_baggage_parsing():
    ctx = BaggagePropagator().extract(header_view({"baggage": "k1=v%201;prop=x, k2 = v2 ,bad,=novalue"}))
    assert dict(ctx.baggage) == {"k1": "v 1", "k2": "v2"}
    assert BaggagePropagator().extract(header_view({"baggage": ",,"})) is None


def test_otel_tracecontext_both_ways():
    otel = TraceContextTextMapPropagator()
    carrier: dict = {}
    TraceContextPropagator().inject(SpanContext(T, S, 0, 1, None, None, "congo=t61rcWkgMzE"), carrier)
    span = trace.get_current_span(otel.extract(carrier))
    sc = span.get_span_context()
    assert (sc.trace_id, sc.span_id, sc.trace_flags.sampled) == (T, S, True)
    assert sc.trace_state.to_header() == "congo=t61rcWkgMzE"
    out: dict = {}
    otel.inject(out, trace.set_span_in_context(span))
    ctx = TraceContextPropagator().extract(header_view(out))
    assert (ctx.trace_id, ctx.span_id, ctx.flags, ctx.trace_state) == (T, S, 1, "congo=t61rcWkgMzE")


def test_otel_baggage_both_ways():
    otel = W3CBaggagePropagator()
    carrier: dict = {}
    BaggagePropagator().inject(SpanContext(1, 1, 0, 1, {"user": "al ice", "tier": "gold"}), carrier)
    assert baggage.get_all(otel.extract(carrier)) == {"user": "al ice", "tier": "gold"}
    out: dict = {}
    otel.inject(out, baggage.set_baggage("k", "v=w", baggage.set_baggage("a", "b")))
    assert dict(BaggagePropagator().extract(header_view(out)).baggage) == {"a": "b", "k": "v=w"}
