"""W3C Trace Context (``traceparent`` / ``tracestate``) and W3C Baggage (``baggage``).

``traceparent: {version}-{trace-id 32 hex}-{parent-id 16 hex}-{flags 2 hex}``. Parsing
follows the spec's rules for forward compatibility: version ``ff`` is invalid, version
``00`` has exactly four fields, a higher version may append fields (ignored); all-zero IDs
are invalid. Upper-case hex and surrounding spaces are tolerated on the way in.
W3C has no debug flag, so a Jaeger debug trace travels as plain "sampled".

``tracestate`` is opaque to a Jaeger tracer: it is kept on the context as received (at
most 32 members, 512 characters) and passed on to the next hop.

``baggage: k1=v1,k2=v2;property`` with percent-encoded values; properties are dropped;
at most 180 entries and 8,192 bytes are read or written (the spec asks implementations
to handle at least 64 entries and 8,192 bytes).
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from spyglass.client.constants import SAMPLED_FLAG
from spyglass.client.context import SpanContext
from spyglass.client.propagation.base import Headers, Propagator, Setter, dict_setter, log

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
BAGGAGE = "baggage"

_HEX = frozenset("0123456789abcdef")
_MAX_TRACESTATE_MEMBERS = 32
_MAX_TRACESTATE_LENGTH = 512
MAX_BAGGAGE_ENTRIES = 180
MAX_BAGGAGE_BYTES = 8192


def _hex(text: str, length: int) -> int | None:
    if len(text) != length or not all(c in _HEX for c in text):
        return None
    return int(text, 16)


def parse_traceparent(value: str) -> tuple[int, int, int] | None:
    """(trace_id, span_id, trace_flags) or None."""
    parts = value.strip().lower().split("-")
    if len(parts) < 4:
        return None
    version = _hex(parts[0], 2)
    if version is None or version == 0xFF or (version == 0 and len(parts) != 4):
        return None
    trace_id = _hex(parts[1], 32)
    span_id = _hex(parts[2], 16)
    flags = _hex(parts[3], 2)
    if not trace_id or not span_id or flags is None:
        return None
    return trace_id, span_id, flags


def clean_tracestate(value: str) -> str:
    """Drop empty members and keep the spec's limits; an invalid list is dropped whole."""
    members = [m.strip() for m in value.split(",") if m.strip()]
    if len(members) > _MAX_TRACESTATE_MEMBERS or any("=" not in m for m in members):
        return ""
    text = ",".join(members)
    return text if len(text) <= _MAX_TRACESTATE_LENGTH else ""


class TraceContextPropagator(Propagator):
    fields = (TRACEPARENT, TRACESTATE)

    def inject(self, context: SpanContext, carrier: Any, setter: Setter = dict_setter) -> None:
        if not context.trace_id:
            return
        flags = 1 if context.flags & SAMPLED_FLAG else 0
        setter(carrier, TRACEPARENT, f"00-{context.trace_id:032x}-{context.span_id:016x}-{flags:02x}")
        if context.trace_state:
            setter(carrier, TRACESTATE, context.trace_state)

    def extract(self, headers: Headers) -> SpanContext | None:
        raw = headers.get(TRACEPARENT)
        if raw is None:
            return None
        ids = parse_traceparent(raw)
        if ids is None:
            log.debug("ignoring malformed traceparent %r", raw)
            return None
        trace_id, span_id, flags = ids
        state = clean_tracestate(headers.get(TRACESTATE, ""))
        return SpanContext(trace_id, span_id, 0, flags & SAMPLED_FLAG, None, None, state)


class BaggagePropagator(Propagator):
    fields = (BAGGAGE,)

    def inject(self, context: SpanContext, carrier: Any, setter: Setter = dict_setter) -> None:
        items = []
        size = 0
        for key, value in list(context.baggage.items())[:MAX_BAGGAGE_ENTRIES]:
            item = f"{urllib.parse.quote(str(key), safe='')}={urllib.parse.quote(str(value), safe='')}"
            size += len(item) + 1
            if size > MAX_BAGGAGE_BYTES:
                break
            items.append(item)
        if items:
            setter(carrier, BAGGAGE, ",".join(items))

    def extract(self, headers: Headers) -> SpanContext | None:
        raw = headers.get(BAGGAGE)
        if not raw:
            return None
        baggage: dict[str, str] = {}
        for item in raw[:MAX_BAGGAGE_BYTES].split(",")[:MAX_BAGGAGE_ENTRIES]:
            pair = item.split(";", 1)[0]
            key, sep, value = pair.partition("=")
            key = urllib.parse.unquote(key.strip())
            if sep and key:
                baggage[key] = urllib.parse.unquote(value.strip())
        return SpanContext(0, 0, 0, 0, baggage) if baggage else None
