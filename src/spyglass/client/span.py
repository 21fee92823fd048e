"""The OpenTracing span.

Speed matters here more than anywhere else in the client: every instrumented call pays for
``start_span`` + ``finish`` on the application's thread. So the span keeps only plain
slots, appends tags and logs as tuples without inspecting them (values are made wire-safe
later, on the reporter's thread), does nothing for unsampled spans beyond keeping IDs for
propagation, and builds its ``SpanContext`` only when someone asks for it (children read
the IDs straight from the parent span).
"""

from __future__ import annotations

from collections.abc import Mapping
from time import time_ns
from typing import TYPE_CHECKING, Any

import opentracing

from spyglass.client.constants import DEBUG_FLAG, SAMPLED_FLAG, SAMPLING_PRIORITY_TAG_KEY
from spyglass.client.context import SpanContext
from spyglass.model import format_span_id, format_trace_id

if TYPE_CHECKING:
    from spyglass.client.tracer import Tracer

Tag = tuple[str, Any]
LogRecord = tuple[int, list[Tag]]  # (time in ns, fields)


class Span(opentracing.Span):
    """A span. Read-only after ``finish``; the reporter owns it from then on.

    ``references`` holds opentracing ``Reference`` objects other than the parent (the
    parent is ``parent_id``); ``logs`` is None until the first log, to keep spans small.
    """

    __slots__ = (
        "_tracer",
        "_context",
        "operation_name",
        "trace_id",
        "span_id",
        "parent_id",
        "flags",
        "sampled",
        "baggage",
        "trace_state",
        "start_time_ns",
        "end_time_ns",
        "tags",
        "logs",
        "references",
    )

    def __init__(
        self,
        tracer: Tracer,
        operation_name: str,
        trace_id: int,
        span_id: int,
        parent_id: int,
        flags: int,
        baggage: Mapping[str, str],
        start_time_ns: int,
        trace_state: str = "",
        references: list[opentracing.Reference] | None = None,
    ) -> None:
        self._tracer = tracer
        self._context: SpanContext | None = None
        self.operation_name = operation_name
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_id = parent_id
        self.flags = flags
        self.sampled = flags & SAMPLED_FLAG
        self.baggage = baggage
        self.trace_state = trace_state
        self.start_time_ns = start_time_ns
        self.end_time_ns = 0
        self.tags: list[Tag] = []
        self.logs: list[LogRecord] | None = None
        self.references = references

    # -- opentracing.Span ------------------------------------------------------------
    @property
    def context(self) -> SpanContext:
        ctx = self._context
        if ctx is None:
            ctx = self._context = SpanContext(
                self.trace_id, self.span_id, self.parent_id, self.flags, self.baggage, None, self.trace_state
            )
        return ctx

    def set_operation_name(self, operation_name: str) -> Span:
        self.operation_name = operation_name
        return self

    def set_tag(self, key: str, value: Any) -> Span:
        if key == SAMPLING_PRIORITY_TAG_KEY and not self._set_sampling_priority(value):
            return self
        if self.sampled:
            self.tags.append((key, value))
        return self

    def log_kv(self, key_values: Mapping[str, Any], timestamp: float | None = None) -> Span:
        if self.sampled:
            record = (time_ns() if timestamp is None else int(timestamp * 1e9), list(key_values.items()))
            logs = self.logs
            if logs is None:
                self.logs = [record]
            else:
                logs.append(record)
        return self

    def finish(self, finish_time: float | None = None) -> None:
        if not self.sampled or self.end_time_ns:
            return
        self.end_time_ns = time_ns() if finish_time is None else int(finish_time * 1e9)
        self._tracer._reporter.report_span(self)

    def set_baggage_item(self, key: str, value: str) -> Span:
        """Baggage travels to every later child and downstream service. The dict is
        replaced, never changed in place, because parents and children share it."""
        baggage = dict(self.baggage)
        old = baggage.get(key)
        baggage[key] = value
        self.baggage = baggage
        self._context = None
        if self.sampled:
            fields: dict[str, Any] = {"event": "baggage", "key": key, "value": value}
            if old is not None:
                fields["override"] = "true"
            self.log_kv(fields)
        return self

    def get_baggage_item(self, key: str) -> str | None:
        return self.baggage.get(key)

    # -- jaeger_client.Span compatibility -------------------------------------------
    @property
    def start_time(self) -> float:
        """Start in seconds since the epoch (jaeger-client's float form)."""
        return self.start_time_ns / 1e9

    @property
    def end_time(self) -> float | None:
        return self.end_time_ns / 1e9 if self.end_time_ns else None

    def is_sampled(self) -> bool:
        return bool(self.sampled)

    def is_debug(self) -> bool:
        return bool(self.flags & DEBUG_FLAG)

    def is_rpc(self) -> bool:
        return any(k == "span.kind" and v in ("client", "server") for k, v in self.tags)

    # -- internals -------------------------------------------------------------------
    def _set_sampling_priority(self, value: Any) -> bool:
        """OpenTracing's ``sampling.priority``: > 0 forces sampling (and Jaeger's debug
        flag), 0 turns it off. Returns whether the tag itself should be kept."""
        try:
            priority = int(value)
        except (TypeError, ValueError):
            return False
        if priority > 0:
            self.flags |= SAMPLED_FLAG | DEBUG_FLAG
        else:
            self.flags &= ~(SAMPLED_FLAG | DEBUG_FLAG)
        self.sampled = self.flags & SAMPLED_FLAG
        self._context = None
        return True

    def __repr__(self) -> str:
        return (
            f"<Span {self.operation_name!r} {format_trace_id(self.trace_id)}:"
            f"{format_span_id(self.span_id)}:{format_span_id(self.parent_id)}:{self.flags:x}>"
        )
