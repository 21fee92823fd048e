"""Jaeger's native headers.

* ``uber-trace-id: {trace-id}:{span-id}:{parent-span-id}:{flags}``, hex; the trace ID is
  written with 16 or 32 digits, the others without padding (as Jaeger's Go client). On
  the way in any length up to 16/32 digits is accepted, a URL-encoded value too
  (``%3A`` for ``:``), and the flags in hex (equal to decimal for the values in use).
* ``uberctx-{key}: {value}``, one header per baggage item, URL-encoded for HTTP.
* ``jaeger-baggage: k1=v1, k2=v2``: baggage set by hand, e.g. with curl.
* ``jaeger-debug-id: {id}``: no trace yet; forces sampling of the trace it starts.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from spyglass.client.constants import (
    BAGGAGE_HEADER_KEY,
    BAGGAGE_HEADER_PREFIX,
    DEBUG_ID_HEADER_KEY,
    TRACE_ID_HEADER,
)
from spyglass.client.context import SpanContext
from spyglass.client.propagation.base import Headers, Propagator, Setter, dict_setter, log
from spyglass.model import format_trace_id, parse_span_id, parse_trace_id


def parse_uber_trace_id(value: str) -> tuple[int, int, int, int] | None:
    """(trace, span, parent, flags) from an ``uber-trace-id`` value, or None when malformed."""
    value = value.strip()
    if "%" in value:
        value = urllib.parse.unquote(value)
    parts = value.split(":")
    if len(parts) != 4:
        return None
    try:
        trace_id = parse_trace_id(parts[0])
        span_id = parse_span_id(parts[1])
        parent_id = parse_span_id(parts[2]) if parts[2] else 0
        flags = int(parts[3], 16)
    except ValueError:
        return None
    if not trace_id or not span_id or not 0 <= flags <= 0xFF:
        return None
    return trace_id, span_id, parent_id, flags


def format_uber_trace_id(ctx: SpanContext) -> str:
    return f"{format_trace_id(ctx.trace_id)}:{ctx.span_id:x}:{ctx.parent_id:x}:{ctx.flags:x}"


def parse_baggage_header(value: str) -> dict[str, str]:
    """``k1=v1, k2=v2`` (the ``jaeger-baggage`` header); malformed items are skipped."""
    baggage = {}
    for item in value.split(","):
        key, sep, val = item.partition("=")
        if sep and key.strip():
            baggage[key.strip()] = val.strip()
    return baggage


class JaegerPropagator(Propagator):
    def __init__(
        self,
        url_encoding: bool = True,
        trace_id_header: str = TRACE_ID_HEADER,
        baggage_header_prefix: str = BAGGAGE_HEADER_PREFIX,
        debug_id_header: str = DEBUG_ID_HEADER_KEY,
    ) -> None:
        self.url_encoding = url_encoding
        self.trace_id_header = trace_id_header.lower()
        self.baggage_prefix = baggage_header_prefix.lower()
        self.debug_id_header = debug_id_header.lower()
        self.fields = (self.trace_id_header,)

    def inject(self, context: SpanContext, carrier: Any, setter: Setter = dict_setter) -> None:
        if context.trace_id:
            setter(carrier, self.trace_id_header, format_uber_trace_id(context))
        prefix = self.baggage_prefix
        for key, value in context.baggage.items():
            if self.url_encoding:
                value = urllib.parse.quote(str(value), safe="")
            setter(carrier, prefix + key, value)

    def extract(self, headers: Headers) -> SpanContext | None:
        ids = None
        raw = headers.get(self.trace_id_header)
        if raw is not None:
            ids = parse_uber_trace_id(raw)
            if ids is None:
                log.debug("ignoring malformed %s header %r", self.trace_id_header, raw)
        baggage: dict[str, str] = {}
        prefix, n = self.baggage_prefix, len(self.baggage_prefix)
        for key, value in headers.items():
            if key.startswith(prefix) and len(key) > n:
                baggage[key[n:]] = urllib.parse.unquote(value) if self.url_encoding else value
        adhoc = headers.get(BAGGAGE_HEADER_KEY)
        if adhoc:
            for key, value in parse_baggage_header(adhoc).items():
                baggage.setdefault(key, value)
        if ids is not None:
            return SpanContext(ids[0], ids[1], ids[2], ids[3], baggage or None)
        debug_id = headers.get(self.debug_id_header)
        if debug_id:
            return SpanContext(0, 0, 0, 0, baggage or None, debug_id=debug_id)
        if baggage:
            return SpanContext(0, 0, 0, 0, baggage)
        return None
