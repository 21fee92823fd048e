"""The span context: what crosses process boundaries (IDs, flags, baggage).

Attribute names follow ``jaeger_client.SpanContext`` (``trace_id``, ``span_id``,
``parent_id``, ``flags``, ``baggage``, ``debug_id``) so code that reads them keeps working.
A context is treated as immutable once built: adding baggage returns a new one, which is
what lets a parent and its children share one baggage dict without copying it per span.

Two partial forms come out of extraction (``trace_id == 0``): a *debug-only* context, when
a request carried just ``jaeger-debug-id`` (the next span starts a new, forced-sampled
trace tagged with that ID), and a *baggage-only* context (``jaeger-baggage`` alone), whose
baggage the next span inherits.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import opentracing

from spyglass.client.constants import DEBUG_FLAG, SAMPLED_FLAG
from spyglass.model import format_span_id, format_trace_id

EMPTY_BAGGAGE: Mapping[str, str] = MappingProxyType({})


class SpanContext(opentracing.SpanContext):
    __slots__ = ("trace_id", "span_id", "parent_id", "flags", "baggage", "debug_id", "trace_state")

    def __init__(
        self,
        trace_id: int,
        span_id: int,
        parent_id: int = 0,
        flags: int = 0,
        baggage: Mapping[str, str] | None = None,
        debug_id: str | None = None,
        trace_state: str = "",
    ) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_id = parent_id or 0
        self.flags = flags
        self.baggage = baggage if baggage is not None else EMPTY_BAGGAGE
        self.debug_id = debug_id
        self.trace_state = trace_state  # W3C tracestate, passed on unchanged

    @property
    def is_sampled(self) -> bool:
        return bool(self.flags & SAMPLED_FLAG)

    @property
    def is_debug(self) -> bool:
        return bool(self.flags & DEBUG_FLAG)

    @property
    def is_valid(self) -> bool:
        """A full trace context (not a debug-only or baggage-only one)."""
        return bool(self.trace_id and self.span_id)

    @property
    def is_debug_id_container_only(self) -> bool:
        """jaeger-client's name: only a ``jaeger-debug-id`` came in, no trace."""
        return not self.trace_id and self.debug_id is not None

    def with_baggage_item(self, key: str, value: str | None) -> SpanContext:
        """A copy with ``key`` set (or removed when ``value`` is None)."""
        baggage = dict(self.baggage)
        if value is None:
            baggage.pop(key, None)
        else:
            baggage[key] = value
        return SpanContext(
            self.trace_id, self.span_id, self.parent_id, self.flags, baggage, self.debug_id, self.trace_state
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SpanContext):
            return NotImplemented
        return (
            self.trace_id == other.trace_id
            and self.span_id == other.span_id
            and self.parent_id == other.parent_id
            and self.flags == other.flags
            and dict(self.baggage) == dict(other.baggage)
            and self.debug_id == other.debug_id
            and self.trace_state == other.trace_state
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"SpanContext({format_trace_id(self.trace_id)}:{format_span_id(self.span_id)}:"
            f"{format_span_id(self.parent_id)}:{self.flags:x}"
            + (f", baggage={dict(self.baggage)!r}" if self.baggage else "")
            + (f", debug_id={self.debug_id!r}" if self.debug_id else "")
            + ")"
        )
