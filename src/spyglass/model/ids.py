"""Trace and span IDs as unsigned integers, with Jaeger's text forms.

A trace ID is a 128-bit unsigned int (a 64-bit ID has a zero high half); a span ID is a
64-bit unsigned int; 0 means "absent" for both.
"""

from __future__ import annotations

_U64 = (1 << 64) - 1


def trace_id_from_halves(high: int, low: int) -> int:
    """Join two (possibly signed, as Thrift sends them) 64-bit halves into one trace ID."""
    return ((high & _U64) << 64) | (low & _U64)


def trace_id_halves(trace_id: int) -> tuple[int, int]:
    """Split a trace ID into unsigned (high, low) halves."""
    return trace_id >> 64, trace_id & _U64


def format_trace_id(trace_id: int) -> str:
    """Jaeger's hex form: 16 characters when the high half is zero, else 32."""
    if trace_id >> 64:
        return format(trace_id, "032x")
    return format(trace_id, "016x")


def format_span_id(span_id: int) -> str:
    """A span ID as 16 lower-case hex characters."""
    return format(span_id, "016x")


def parse_trace_id(text: str) -> int:
    """Parse 1-32 hex characters (Jaeger's ``TraceIDFromString``); raises ValueError."""
    if not text or len(text) > 32:
        raise ValueError(f"TraceID cannot be longer than 32 hex characters: {text!r}")
    return int(text, 16) if _is_hex(text) else _bad(text)


def parse_span_id(text: str) -> int:
    """Parse 1-16 hex characters; raises ValueError."""
    if not text or len(text) > 16:
        raise ValueError(f"SpanID cannot be longer than 16 hex characters: {text!r}")
    return int(text, 16) if _is_hex(text) else _bad(text)


_HEX = frozenset("0123456789abcdefABCDEF")


def _is_hex(text: str) -> bool:
    return all(c in _HEX for c in text)


def _bad(text: str) -> int:
    raise ValueError(f"not a hex ID: {text!r}")
