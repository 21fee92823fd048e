"""Jaeger's search semantics over one span (spec section G), shared by backends.

A backend may narrow candidates with its own indexes, but this module is the definition
of what matches: all tag pairs on the same span, each found in the span's attributes, its
resource (process) attributes, any event (log) field, its scope or link attributes, by
string form; plus the special keys ``error``, ``span.kind``, ``span.status`` and
``otel.status_code`` that Jaeger v2 derives from the span's status and kind.
"""

from __future__ import annotations

from spyglass.model import KeyValue, Span, StatusCode, attr_as_string
from spyglass.storage.api.query import TraceQuery


def _in_list(attributes: list[KeyValue], key: str, value: str) -> bool:
    for kv in attributes:
        if kv.key == key and attr_as_string(kv.value) == value:
            return True
    return False


def _special(span: Span, key: str, value: str) -> bool:
    code = span.status.code
    if key == "error":
        if value == "true":
            return code is StatusCode.ERROR
        if value == "false":
            return code is not StatusCode.ERROR
        return False
    if key == "span.kind":
        return span.kind.jaeger_name == value
    if key in ("span.status", "otel.status_code"):
        return code.name == value.upper() if code is not StatusCode.UNSET or key == "span.status" else False
    if key == "otel.status_description":
        return bool(span.status.message) and span.status.message == value
    if key == "w3c.tracestate":
        return bool(span.trace_state) and span.trace_state == value
    if key in ("otel.scope.name", "otel.library.name"):
        return bool(span.scope.name) and span.scope.name == value
    if key in ("otel.scope.version", "otel.library.version"):
        return bool(span.scope.version) and span.scope.version == value
    return False


def tag_matches(span: Span, key: str, value: str) -> bool:
    """Whether one query pair matches somewhere on ``span``."""
    if _in_list(span.attributes, key, value) or _in_list(span.resource.attributes, key, value):
        return True
    for event in span.events:
        if _in_list(event.attributes, key, value):
            return True
    if key == "event":
        for event in span.events:
            if event.name == value:
                return True
    if span.scope.attributes and _in_list(span.scope.attributes, key, value):
        return True
    for link in span.links:
        if _in_list(link.attributes, key, value):
            return True
    return _special(span, key, value)


def span_matches(span: Span, query: TraceQuery) -> bool:
    """Whether ``span`` satisfies every condition of ``query`` by itself."""
    if query.service_name and span.resource.service_name != query.service_name:
        return False
    if query.operation_name and span.name != query.operation_name:
        return False
    start = span.start_time_ns
    if query.start_time_min_ns and start < query.start_time_min_ns:
        return False
    if query.start_time_max_ns and start > query.start_time_max_ns:
        return False
    duration = span.duration_ns
    if query.duration_min_ns and duration < query.duration_min_ns:
        return False
    if query.duration_max_ns and duration > query.duration_max_ns:
        return False
    for key, value in query.attributes.items():
        if not tag_matches(span, key, value):
            return False
    return True
