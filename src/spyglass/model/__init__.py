"""The canonical span model: plain data that knows no wire format.

Every codec translates its format to and from these types at the edge, so storage, query
and the UI only ever see this model. It follows OTLP's data model (a superset of Jaeger's
and Zipkin's), with a few fields that keep Jaeger specifics lossless: reference types on
links, Jaeger flags and span warnings. ``docs/model.md`` maps each wire format onto it.
"""

from spyglass.model.attributes import AttrValue, KeyValue, attr_as_string, find_attr
from spyglass.model.dependency import DependencyLink
from spyglass.model.ids import (
    format_span_id,
    format_trace_id,
    parse_span_id,
    parse_trace_id,
    trace_id_from_halves,
    trace_id_halves,
)
from spyglass.model.span import (
    EMPTY_SCOPE,
    Event,
    Link,
    RefType,
    Resource,
    Scope,
    Span,
    SpanKind,
    Status,
    StatusCode,
)
from spyglass.model.trace import Trace, group_by_trace

__all__ = [
    "EMPTY_SCOPE",
    "AttrValue",
    "DependencyLink",
    "Event",
    "KeyValue",
    "Link",
    "RefType",
    "Resource",
    "Scope",
    "Span",
    "SpanKind",
    "Status",
    "StatusCode",
    "Trace",
    "attr_as_string",
    "find_attr",
    "format_span_id",
    "format_trace_id",
    "group_by_trace",
    "parse_span_id",
    "parse_trace_id",
    "trace_id_from_halves",
    "trace_id_halves",
]
