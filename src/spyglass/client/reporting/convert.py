"""A finished client span as a ``spyglass.model.Span``, on the reporter's thread.

The span stores tag and log values exactly as the application passed them; here they
become values the wire formats can carry: strings are cut to ``max_tag_value_length``,
tracebacks are formatted (and cut to ``max_traceback_length``), exception classes become
their names, and anything else becomes ``str(value)``. The Jaeger-specific tags
(``span.kind``, ``error``) are mapped by ``jaeger_common.build_span``, the same rules the
collector applies to spans arriving from jaeger-client.
"""

from __future__ import annotations

import traceback
from types import TracebackType
from typing import Any

from opentracing import ReferenceType

from spyglass.client.constants import MAX_TAG_VALUE_LENGTH, MAX_TRACEBACK_LENGTH
from spyglass.client.span import Span
from spyglass.codecs.jaeger_common import JaegerRef, build_span
from spyglass.model import Event, KeyValue, RefType, Resource
from spyglass.model import Span as ModelSpan

_PLAIN = (bool, int, float, bytes)


def tag_value(value: Any, max_length: int = MAX_TAG_VALUE_LENGTH, max_traceback: int = MAX_TRACEBACK_LENGTH) -> Any:
    t = type(value)
    if t is str:
        return value if len(value) <= max_length else value[:max_length]
    if t in _PLAIN:
        return value
    if isinstance(value, TracebackType):
        return "".join(traceback.format_tb(value))[:max_traceback]
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, (bool, int, float, bytes)):  # subclasses such as IntEnum
        return value
    text = str(value)
    return text if len(text) <= max_length else text[:max_length]


def to_model(
    span: Span,
    process: Resource,
    max_tag_value_length: int = MAX_TAG_VALUE_LENGTH,
    max_traceback_length: int = MAX_TRACEBACK_LENGTH,
) -> ModelSpan:
    tags = [KeyValue(k, tag_value(v, max_tag_value_length, max_traceback_length)) for k, v in span.tags]
    logs = [
        Event(ts, "", [KeyValue(k, tag_value(v, max_tag_value_length, max_traceback_length)) for k, v in fields])
        for ts, fields in span.logs or ()
    ]
    refs = []
    for ref in span.references or ():
        ctx = ref.referenced_context
        if ctx is None or not getattr(ctx, "trace_id", 0):
            continue
        kind = RefType.FOLLOWS_FROM if ref.type == ReferenceType.FOLLOWS_FROM else RefType.CHILD_OF
        refs.append(JaegerRef(kind, ctx.trace_id, ctx.span_id))
    model = build_span(
        trace_id=span.trace_id,
        span_id=span.span_id,
        operation_name=span.operation_name,
        start_time_ns=span.start_time_ns,
        duration_ns=max(0, span.end_time_ns - span.start_time_ns),
        resource=process,
        tags=tags,
        logs=logs,
        references=refs,
        parent_span_id=span.parent_id,
        flags=span.flags,
    )
    if span.trace_state:
        model.trace_state = span.trace_state
    return model
