"""The sqlite backend's own encoding of spans: one msgpack blob per *chunk*.

A chunk is the spans of one trace that arrived in one ``write_spans`` batch. Storing them
together means one row, one compressed blob and one trace-index entry per chunk instead of
per span, and spans of one trace compress well against each other.

This is a storage format, not a wire format: it mirrors ``spyglass.model`` field by field
(positional arrays, so no field names are stored) and changes only with ``FORMAT_VERSION``
in ``schema.py``. Layout (msgpack arrays)::

    chunk    = [resources, scopes, spans]
    resource = [service_name, attributes, dropped_attributes_count, schema_url]
    scope    = [name, version, attributes, dropped_attributes_count, schema_url]
    span     = [span_id, parent_span_id, name, start_time_ns, duration_ns, kind,
                status_code, status_message, attributes, events, links, flags, trace_state,
                resource_index, scope_index, warnings, dropped_attributes_count,
                dropped_events_count, dropped_links_count]
    event    = [time_ns, name, attributes, dropped_attributes_count]
    link     = [trace_id_high, trace_id_low, span_id, ref_type, trace_state, attributes,
                flags, dropped_attributes_count]
    attribute = [key, value]      (msgpack's own types carry the attribute type)

The trace ID is not in the blob: it is in the chunk's row. Decoding is done by msgspec in C
into typed records; only the model objects themselves are built in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from spyglass.model import (
    EMPTY_SCOPE,
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

_U64 = (1 << 64) - 1


class StoredKeyValue(KeyValue):
    """``KeyValue`` with its value typed ``Any`` so msgspec can build it in C.

    msgspec cannot decode into ``KeyValue`` itself (its value type is a union msgspec does
    not support); this subclass is a ``KeyValue`` in every respect (``isinstance``,
    equality, unpacking) and costs nothing per attribute.
    """

    __slots__ = ()
    __annotations__ = {"key": str, "value": Any}


StoredKeyValue.__name__ = StoredKeyValue.__qualname__ = "KeyValue"


class _ResourceRec(msgspec.Struct, array_like=True, gc=False):
    service_name: str
    attributes: list[StoredKeyValue]
    dropped: int
    schema_url: str


class _ScopeRec(msgspec.Struct, array_like=True, gc=False):
    name: str
    version: str
    attributes: list[StoredKeyValue]
    dropped: int
    schema_url: str


class _EventRec(msgspec.Struct, array_like=True, gc=False):
    time_ns: int
    name: str
    attributes: list[StoredKeyValue]
    dropped: int


class _LinkRec(msgspec.Struct, array_like=True, gc=False):
    trace_high: int
    trace_low: int
    span_id: int
    ref_type: int
    trace_state: str
    attributes: list[StoredKeyValue]
    flags: int
    dropped: int


class _SpanRec(msgspec.Struct, array_like=True, gc=False):
    span_id: int
    parent_span_id: int
    name: str
    start: int
    duration: int
    kind: int
    status_code: int
    status_message: str
    attributes: list[StoredKeyValue]
    events: list[_EventRec]
    links: list[_LinkRec]
    flags: int
    trace_state: str
    resource: int
    scope: int
    warnings: list[str]
    dropped_attributes: int
    dropped_events: int
    dropped_links: int


class _ChunkRec(msgspec.Struct, array_like=True, gc=False):
    resources: list[_ResourceRec]
    scopes: list[_ScopeRec]
    spans: list[_SpanRec]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(_ChunkRec)
_KINDS = {k.value: k for k in SpanKind}
_CODES = {c.value: c for c in StatusCode}
_REFS = {r.value: r for r in RefType}
_DEFAULT_STATUS = Status()
_EMPTY: tuple[()] = ()


class ChunkDecodeError(ValueError):
    """A chunk blob that is not in this module's format (corruption or a foreign file)."""


def _link(link: Link) -> tuple[Any, ...]:
    tid = link.trace_id
    return (tid >> 64, tid & _U64, link.span_id, int(link.ref_type), link.trace_state, link.attributes,
            link.flags, link.dropped_attributes_count)


def encode_chunk(spans: Sequence[Span]) -> bytes:
    """Encode the spans of one trace (any number, duplicates kept) into one blob.

    Resources and scopes shared by several spans (the usual case: one per client batch)
    are written once and referenced by index.
    """
    resources: dict[int, int] = {}
    resource_recs: list[tuple[Any, ...]] = []
    scopes: dict[int, int] = {}
    scope_recs: list[tuple[Any, ...]] = []
    rows = []
    for s in spans:
        r = s.resource
        ri = resources.get(id(r))
        if ri is None:
            ri = resources[id(r)] = len(resource_recs)
            resource_recs.append((r.service_name, r.attributes, r.dropped_attributes_count, r.schema_url))
        sc = s.scope
        si = scopes.get(id(sc))
        if si is None:
            si = scopes[id(sc)] = len(scope_recs)
            scope_recs.append((sc.name, sc.version, sc.attributes, sc.dropped_attributes_count, sc.schema_url))
        status = s.status
        events = s.events
        links = s.links
        rows.append((
            s.span_id, s.parent_span_id, s.name, s.start_time_ns, s.duration_ns, int(s.kind),
            int(status.code), status.message, s.attributes,
            [(e.time_ns, e.name, e.attributes, e.dropped_attributes_count) for e in events] if events else _EMPTY,
            [_link(li) for li in links] if links else _EMPTY,
            s.flags, s.trace_state, ri, si, s.warnings,
            s.dropped_attributes_count, s.dropped_events_count, s.dropped_links_count,
        ))
    return _encoder.encode((resource_recs, scope_recs, rows))


def decode_chunk(data: bytes, trace_id: int) -> list[Span]:
    """Decode a chunk blob into fresh model objects (nothing is shared with any cache).

    Each span gets its own ``Resource`` (as the memory backend's clones do), so a caller
    that changes one span's resource does not change its neighbours'.
    """
    try:
        chunk = _decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ChunkDecodeError(f"not a span chunk: {exc}") from None
    resources = chunk.resources
    scopes = [
        EMPTY_SCOPE if not (sc.name or sc.version or sc.attributes or sc.dropped or sc.schema_url)
        else Scope(sc.name, sc.version, sc.attributes, sc.dropped, sc.schema_url)
        for sc in chunk.scopes
    ]
    kinds = _KINDS
    out = []
    try:
        for r in chunk.spans:
            res = resources[r.resource]
            code = r.status_code
            out.append(Span(
                trace_id,
                r.span_id,
                r.name,
                r.start,
                r.duration,
                Resource(res.service_name, list(res.attributes), res.dropped, res.schema_url),
                r.parent_span_id,
                kinds.get(r.kind, SpanKind.UNSPECIFIED),
                _DEFAULT_STATUS if code == 0 and not r.status_message
                else Status(_CODES.get(code, StatusCode.UNSET), r.status_message),
                r.attributes,
                [Event(e.time_ns, e.name, e.attributes, e.dropped) for e in r.events] if r.events else [],
                [
                    Link((li.trace_high << 64) | li.trace_low, li.span_id, _REFS.get(li.ref_type, RefType.FOLLOWS_FROM),
                         li.trace_state, li.attributes, li.flags, li.dropped)
                    for li in r.links
                ] if r.links else [],
                r.flags,
                r.trace_state,
                scopes[r.scope],
                r.warnings,
                r.dropped_attributes,
                r.dropped_events,
                r.dropped_links,
            ))
    except IndexError:
        raise ChunkDecodeError("span refers to a missing resource or scope") from None
    return out
