"""Zipkin's B3 headers, multi-header and single-header.

Multi: ``X-B3-TraceId`` (16 or 32 hex), ``X-B3-SpanId``, ``X-B3-ParentSpanId``,
``X-B3-Sampled`` (``1``/``0``; ``true``/``false`` accepted) and ``X-B3-Flags: 1`` (debug,
which implies sampled, so ``X-B3-Sampled`` is not sent with it).
Single: ``b3: {trace}-{span}[-{1|0|d}[-{parent}]]``; a bare ``b3: 0`` only denies sampling
and carries no trace, so nothing is extracted from it.

Names are written in jaeger-client's case (``X-B3-TraceId``), so code migrated from
jaeger-client that reads the carrier dict by exact key keeps working; HTTP itself does not
care. ``lower_case=True`` writes ``x-b3-traceid`` instead, for code that hands a plain
dict to a reader matching lower-case keys only (OpenTelemetry's B3 propagator with its
default getter). Extraction ignores case and reads both forms whichever one is
configured for injection (single first, as the B3 spec says).
"""

from __future__ import annotations

from typing import Any

from spyglass.client.constants import DEBUG_FLAG, SAMPLED_FLAG
from spyglass.client.context import SpanContext
from spyglass.client.propagation.base import Headers, Propagator, Setter, dict_setter, log
from spyglass.model import format_span_id, format_trace_id, parse_span_id

# The names as written (jaeger-client's B3Codec spelling) ...
HEADER_TRACE_ID = "X-B3-TraceId"
HEADER_SPAN_ID = "X-B3-SpanId"
HEADER_PARENT_SPAN_ID = "X-B3-ParentSpanId"
HEADER_SAMPLED = "X-B3-Sampled"
HEADER_FLAGS = "X-B3-Flags"
# ... and as read: ``header_view`` lower-cases every carrier's keys.
TRACE_ID = HEADER_TRACE_ID.lower()
SPAN_ID = HEADER_SPAN_ID.lower()
PARENT_SPAN_ID = HEADER_PARENT_SPAN_ID.lower()
SAMPLED = HEADER_SAMPLED.lower()
FLAGS = HEADER_FLAGS.lower()
SINGLE = "b3"
_MULTI = (HEADER_TRACE_ID, HEADER_SPAN_ID, HEADER_PARENT_SPAN_ID, HEADER_SAMPLED, HEADER_FLAGS)

_HEX = frozenset("0123456789abcdefABCDEF")


def _trace_id(text: str) -> int:
    text = text.strip()
    if len(text) not in (16, 32) or not all(c in _HEX for c in text):
        raise ValueError(f"B3 trace ID must be 16 or 32 hex characters: {text!r}")
    return int(text, 16)


def _span_id(text: str) -> int:
    text = text.strip()
    if len(text) != 16:
        raise ValueError(f"B3 span ID must be 16 hex characters: {text!r}")
    return parse_span_id(text)


def _sampled_flags(text: str | None) -> int:
    if text is None:
        return 0
    text = text.strip().lower()
    if text in ("1", "true"):
        return SAMPLED_FLAG
    if text == "d":
        return SAMPLED_FLAG | DEBUG_FLAG
    if text in ("0", "false", ""):
        return 0
    raise ValueError(f"bad B3 sampling state {text!r}")


class B3Propagator(Propagator):
    def __init__(self, single_header: bool = False, lower_case: bool = False) -> None:
        self.single_header = single_header
        self.names = tuple(n.lower() for n in _MULTI) if lower_case else _MULTI
        self.fields = (SINGLE,) if single_header else self.names

    def inject(self, context: SpanContext, carrier: Any, setter: Setter = dict_setter) -> None:
        if not context.trace_id:
            return
        trace = format_trace_id(context.trace_id)
        span = format_span_id(context.span_id)
        debug = context.flags & DEBUG_FLAG
        sampled = context.flags & SAMPLED_FLAG
        if self.single_header:
            value = f"{trace}-{span}-{'d' if debug else '1' if sampled else '0'}"
            if context.parent_id:
                value += f"-{format_span_id(context.parent_id)}"
            setter(carrier, SINGLE, value)
            return
        trace_key, span_key, parent_key, sampled_key, flags_key = self.names
        setter(carrier, trace_key, trace)
        setter(carrier, span_key, span)
        if context.parent_id:
            setter(carrier, parent_key, format_span_id(context.parent_id))
        if debug:
            setter(carrier, flags_key, "1")
        else:
            setter(carrier, sampled_key, "1" if sampled else "0")

    def extract(self, headers: Headers) -> SpanContext | None:
        single = headers.get(SINGLE)
        if single is not None:
            ctx = self._extract_single(single)
            if ctx is not None:
                return ctx
        if TRACE_ID not in headers:
            return None
        try:
            trace_id = _trace_id(headers[TRACE_ID])
            span_id = _span_id(headers.get(SPAN_ID, ""))
            parent = headers.get(PARENT_SPAN_ID)
            parent_id = _span_id(parent) if parent else 0
            flags = _sampled_flags(headers.get(SAMPLED))
            if headers.get(FLAGS, "").strip() == "1":
                flags |= SAMPLED_FLAG | DEBUG_FLAG
        except ValueError as exc:
            log.debug("ignoring malformed B3 headers: %s", exc)
            return None
        if not trace_id or not span_id:
            return None
        return SpanContext(trace_id, span_id, parent_id, flags)

    @staticmethod
    def _extract_single(value: str) -> SpanContext | None:
        parts = value.strip().split("-")
        if len(parts) < 2 or len(parts) > 4:
            return None  # "0", "1", "d" alone carry no trace
        try:
            trace_id = _trace_id(parts[0])
            span_id = _span_id(parts[1])
            flags = _sampled_flags(parts[2]) if len(parts) > 2 else 0
            parent_id = _span_id(parts[3]) if len(parts) > 3 else 0
        except ValueError as exc:
            log.debug("ignoring malformed b3 header %r: %s", value, exc)
            return None
        if not trace_id or not span_id:
            return None
        return SpanContext(trace_id, span_id, parent_id, flags)
