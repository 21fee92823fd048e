"""The BINARY format (Jaeger Go client layout): round trip and malformed input."""

from __future__ import annotations

import struct

from spyglass.client import SpanContext
from spyglass.client.propagation import BinaryPropagator

T = (5 << 64) | 7


def test_round_trip_and_layout():
    p = BinaryPropagator()
    carrier = bytearray()
    p.inject(SpanContext(T, 9, 3, 1, {"k": "vé"}), carrier)
    assert carrier[:33] == struct.pack(">QQQQB", 5, 7, 9, 3, 1)
    ctx = p.extract(carrier)
    assert (ctx.trace_id, ctx.span_id, ctx.parent_id, ctx.flags, dict(ctx.baggage)) == (T, 9, 3, 1, {"k": "vé"})


def test_malformed_is_none():
    p = BinaryPropagator()
    carrier = bytearray()
    p.inject(SpanContext(T, 9, 3, 1, {"k": "v"}), carrier)
    for bad in (b"", bytes(carrier[:-1]), bytes(carrier[:37]) + b"\xff\xff\xff\xff", bytes(40)):
        assert p.extract(bad) is None
