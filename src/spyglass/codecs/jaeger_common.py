"""Jaeger's span model <-> ``spyglass.model``: the rules every Jaeger format shares.

Jaeger Thrift, Jaeger protobuf (api_v2) and the UI JSON all carry the same Jaeger span
(tags, logs, references, process). This module maps that shape onto the canonical model,
following the rules Jaeger v2 uses between Jaeger and OTLP (``jaeger-reference.md`` A.5):

=============================================  ==========================================
Jaeger                                         model
=============================================  ==========================================
tag ``span.kind``                              ``Span.kind`` (tag removed)
tag ``error`` = true (bool or "true")          ``Status(ERROR)`` (tag removed)
tag ``otel.status_code`` / ``_description``    ``Span.status`` (tags removed)
tag ``w3c.tracestate``                         ``Span.trace_state`` (tag removed)
tags ``otel.scope.*`` / ``otel.library.*``     ``Span.scope`` name and version
first CHILD_OF reference in the same trace,    ``Span.parent_span_id``
or Thrift's ``parentSpanId``
every other reference                          ``Link`` with its ``RefType``
log field ``event`` (a string)                 ``Event.name`` (field removed)
process                                        ``Resource``
=============================================  ==========================================

The way back adds ``span.kind``, ``error=true`` plus ``otel.status_code`` for errors, and
the other tags above, as Jaeger v2 does. Jaeger v2's extra guess of an error status from
``http.status_code`` is not applied: it would add tags the client never sent.

Format modules convert their own tag and log encodings to ``KeyValue`` lists and call
``build_span``; on the way out they call ``jaeger_tags``, ``jaeger_logs`` and
``jaeger_references``.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from spyglass.model import (
    EMPTY_SCOPE,
    AttrValue,
    Event,
    KeyValue,
    Link,
    RefType,
    Resource,
    Scope,
    Span,
    SpanKind,
    Status,
    StatusCode,
)
from spyglass.model.attributes import _jsonable

SPECIAL_TAGS = frozenset(
    {
        "span.kind",
        "error",
        "otel.status_code",
        "otel.status_description",
        "w3c.tracestate",
        "otel.scope.name",
        "otel.scope.version",
        "otel.library.name",
        "otel.library.version",
    }
)


class JaegerRef(NamedTuple):
    """A Jaeger span reference."""

    ref_type: RefType
    trace_id: int
    span_id: int


def build_span(
    *,
    trace_id: int,
    span_id: int,
    operation_name: str,
    start_time_ns: int,
    duration_ns: int,
    resource: Resource,
    tags: list[KeyValue],
    logs: list[Event],
    references: list[JaegerRef],
    parent_span_id: int = 0,
    flags: int = 0,
    warnings: list[str] | None = None,
) -> Span:
    """One Jaeger span as a model span. ``logs`` are events whose attributes are the log
    fields (their names are filled in here from the ``event`` field)."""
    span = Span(
        trace_id=trace_id,
        span_id=span_id,
        name=operation_name,
        start_time_ns=start_time_ns,
        duration_ns=duration_ns,
        resource=resource,
        flags=flags,
        warnings=warnings if warnings is not None else [],
    )
    if tags:
        apply_tags(span, tags)
    for log in logs:
        name_event(log)
    span.events = logs
    apply_references(span, references, parent_span_id)
    return span


def apply_tags(span: Span, tags: list[KeyValue]) -> None:
    """Moves the special tags into span fields. Hot: nearly every span has ``span.kind``,
    so the common case (no other special tag) costs one pass and no dict."""
    first = -1
    for i, kv in enumerate(tags):
        if kv.key in SPECIAL_TAGS:
            first = i
            break
    if first < 0:
        span.attributes = tags
        return
    attributes = tags[:first]
    found: dict[str, AttrValue] = {}
    error = False
    kind_seen = False
    for kv in tags[first:]:
        key = kv.key
        if key not in SPECIAL_TAGS:
            attributes.append(kv)
        elif key == "span.kind":
            kind = SpanKind.UNSPECIFIED if kind_seen else SpanKind.from_jaeger_name(str(kv.value))
            if kind is SpanKind.UNSPECIFIED:
                attributes.append(kv)
            else:
                span.kind = kind
                kind_seen = True
        elif key in found:
            attributes.append(kv)
        elif key == "error":
            if kv.value is True or kv.value == "true":
                error = True
                found[key] = kv.value
            else:
                attributes.append(kv)
        else:
            found[key] = kv.value
    span.attributes = attributes
    if found:
        _apply_found(span, found, error)


def _apply_found(span: Span, found: dict[str, AttrValue], error: bool) -> None:
    code = StatusCode.UNSET
    status_text = str(found.get("otel.status_code", "")).upper()
    if error or status_text == "ERROR":
        code = StatusCode.ERROR
    elif status_text == "OK":
        code = StatusCode.OK
    message = found.get("otel.status_description")
    if code is not StatusCode.UNSET or message is not None:
        span.status = Status(code, str(message) if message is not None else "")
    if "w3c.tracestate" in found:
        span.trace_state = str(found["w3c.tracestate"])
    name = found.get("otel.scope.name", found.get("otel.library.name"))
    version = found.get("otel.scope.version", found.get("otel.library.version"))
    if name is not None or version is not None:
        span.scope = Scope(name=str(name or ""), version=str(version or ""))


def name_event(event: Event) -> None:
    """A Jaeger log's ``event`` field is the event's name (as OpenTelemetry's exporters
    write it), not one of its attributes."""
    attrs = event.attributes
    for i, kv in enumerate(attrs):
        if kv.key == "event" and isinstance(kv.value, str):
            event.name = kv.value
            del attrs[i]
            return


def apply_references(span: Span, references: list[JaegerRef], parent_span_id: int) -> None:
    """The parent is Thrift's ``parentSpanId`` or else the first same-trace CHILD_OF
    reference; that one reference is not kept again as a link."""
    parent = parent_span_id
    parent_ref_seen = False
    links: list[Link] = []
    for ref in references:
        if (
            not parent_ref_seen
            and ref.ref_type is RefType.CHILD_OF
            and ref.trace_id == span.trace_id
            and (parent == 0 or ref.span_id == parent)
        ):
            parent = ref.span_id
            parent_ref_seen = True
            continue
        links.append(Link(ref.trace_id, ref.span_id, ref.ref_type))
    span.parent_span_id = parent
    span.links = links


# -- model -> Jaeger --------------------------------------------------------------------


def jaeger_value(value: AttrValue) -> AttrValue:
    """A value Jaeger can carry: arrays and maps become their JSON text, None becomes ""."""
    if isinstance(value, (list, dict)):
        return json.dumps(_jsonable(value), separators=(",", ":"))
    if value is None:
        return ""
    return value


def jaeger_tags(span: Span) -> list[KeyValue]:
    """The span's tags in Jaeger v2's order: scope tags, the attributes, then the tags that
    carry kind, status and trace state."""
    tags: list[KeyValue] = []
    scope = span.scope
    if scope is not EMPTY_SCOPE:
        if scope.name:
            tags.append(KeyValue("otel.scope.name", scope.name))
        if scope.version:
            tags.append(KeyValue("otel.scope.version", scope.version))
    tags.extend(KeyValue(kv.key, jaeger_value(kv.value)) for kv in span.attributes)
    if span.kind is not SpanKind.UNSPECIFIED:
        tags.append(KeyValue("span.kind", span.kind.jaeger_name))
    code = span.status.code
    if code is not StatusCode.UNSET:
        tags.append(KeyValue("otel.status_code", code.name))
    if code is StatusCode.ERROR:
        tags.append(KeyValue("error", True))
    if span.status.message:
        tags.append(KeyValue("otel.status_description", span.status.message))
    if span.trace_state:
        tags.append(KeyValue("w3c.tracestate", span.trace_state))
    return tags


def jaeger_log_fields(event: Event) -> list[KeyValue]:
    """An event's Jaeger log fields: ``event`` (its name) first, then its attributes; no
    ``event`` field is added when an attribute already has that key (as Jaeger v2)."""
    fields = [KeyValue(kv.key, jaeger_value(kv.value)) for kv in event.attributes]
    if event.name and not any(kv.key == "event" for kv in event.attributes):
        fields.insert(0, KeyValue("event", event.name))
    return fields


def jaeger_references(span: Span) -> list[JaegerRef]:
    """The parent as a CHILD_OF reference first, then every link with its type."""
    refs = []
    if span.parent_span_id:
        refs.append(JaegerRef(RefType.CHILD_OF, span.trace_id, span.parent_span_id))
    refs.extend(JaegerRef(l.ref_type, l.trace_id, l.span_id) for l in span.links)
    return refs


def jaeger_process_tags(resource: Resource) -> list[KeyValue]:
    """A resource's attributes as Jaeger process tags."""
    return [KeyValue(kv.key, jaeger_value(kv.value)) for kv in resource.attributes]
