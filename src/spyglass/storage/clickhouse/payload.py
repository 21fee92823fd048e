"""The ``payload`` of a row of ``spans``: one span, minus what the row's columns hold already.

Schema version 1 stored the sqlite backend's chunk of the one span (``sqlite.rows``), which
repeats the row's ``span_id`` and ``start_ns`` and keeps event times as absolute
nanoseconds: random-looking 8-byte numbers ZSTD cannot shrink. Version 2 leaves those out
and keeps event times relative to the span's start (small numbers), which took the
benchmark's payload from 46 to 29 bytes per span on the current engine. Payloads of
version 1 rows are still read (``decode``): a database created by an older release keeps
answering.

Layout: ``MARK`` then a msgpack array (msgspec, positional)::

    span     = [name, duration_ns, parent_span_id, kind, status_code, status_message,
                attributes, events, links, flags, trace_state, resource, scope, warnings,
                dropped_attributes_count, dropped_events_count, dropped_links_count]
    resource = [service_name, attributes, dropped_attributes_count, schema_url]
    scope    = [name, version, attributes, dropped_attributes_count, schema_url]
    event    = [time_ns - span start, name, attributes, dropped_attributes_count]
    link     = [trace_id_high, trace_id_low, span_id, ref_type, trace_state, attributes,
                flags, dropped_attributes_count]

A version 1 payload starts with a msgpack array of 3 (``0x93``), never with ``MARK``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from spyglass.model import EMPTY_SCOPE, Event, Link, RefType, Resource, Scope, Span, SpanKind, Status, StatusCode
from spyglass.storage.sqlite.rows import ChunkDecodeError, StoredKeyValue, decode_chunk

MARK = b"\x02"
_U64 = (1 << 64) - 1


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
    offset_ns: int
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
    name: str
    duration: int
    parent_span_id: int
    kind: int
    status_code: int
    status_message: str
    attributes: list[StoredKeyValue]
    events: list[_EventRec]
    links: list[_LinkRec]
    flags: int
    trace_state: str
    resource: _ResourceRec
    scope: _ScopeRec
    warnings: list[str]
    dropped_attributes: int
    dropped_events: int
    dropped_links: int


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(_SpanRec)
_KINDS = {k.value: k for k in SpanKind}
_CODES = {c.value: c for c in StatusCode}
_REFS = {r.value: r for r in RefType}
_DEFAULT_STATUS = Status()
_EMPTY: tuple[()] = ()


class PayloadEncoder:
    """Encodes the spans of one batch; resources and scopes, shared by most spans of a
    batch, are encoded once each (``msgspec.Raw``) and spliced into every span's payload."""

    def __init__(self) -> None:
        self._raw: dict[int, tuple[object, msgspec.Raw]] = {}

    def _shared(self, obj: Any, record: tuple[Any, ...]) -> msgspec.Raw:
        known = self._raw.get(id(obj))
        if known is None or known[0] is not obj:
            known = self._raw[id(obj)] = (obj, msgspec.Raw(_encoder.encode(record)))
        return known[1]

    def encode(self, s: Span) -> bytes:
        r = s.resource
        resource = self._shared(r, (r.service_name, r.attributes, r.dropped_attributes_count, r.schema_url))
        sc = s.scope
        scope = self._shared(sc, (sc.name, sc.version, sc.attributes, sc.dropped_attributes_count, sc.schema_url))
        status = s.status
        start = s.start_time_ns
        events = s.events
        links = s.links
        return MARK + _encoder.encode((
            s.name, s.duration_ns, s.parent_span_id, int(s.kind), int(status.code), status.message, s.attributes,
            [(e.time_ns - start, e.name, e.attributes, e.dropped_attributes_count) for e in events] if events else _EMPTY,
            [(li.trace_id >> 64, li.trace_id & _U64, li.span_id, int(li.ref_type), li.trace_state, li.attributes,
              li.flags, li.dropped_attributes_count) for li in links] if links else _EMPTY,
            s.flags, s.trace_state, resource, scope, s.warnings,
            s.dropped_attributes_count, s.dropped_events_count, s.dropped_links_count,
        ))


def encode(span: Span) -> bytes:
    """One span's payload (``PayloadEncoder`` for a batch)."""
    return PayloadEncoder().encode(span)


def decode(trace_id: int, rows: Iterable[tuple[int, int, bytes]]) -> list[Span]:
    """Fresh model spans from ``(span_id, start_ns, payload)`` rows of one trace; each span
    gets its own ``Resource`` and ``Scope`` (as the other backends' reads do), so a caller
    changing one span cannot change another. Raises ``ChunkDecodeError`` for bytes that are
    not a payload."""
    out: list[Span] = []
    kinds, codes = _KINDS, _CODES
    for span_id, start, payload in rows:
        if payload[:1] != MARK:
            out.extend(decode_chunk(payload, trace_id))  # a version 1 row
            continue
        try:
            r = _decoder.decode(memoryview(payload)[1:])
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ChunkDecodeError(f"not a span payload: {exc}") from None
        res, sc, code = r.resource, r.scope, r.status_code
        out.append(Span(
            trace_id, span_id, r.name, start, r.duration,
            Resource(res.service_name, list(res.attributes), res.dropped, res.schema_url),
            r.parent_span_id,
            kinds.get(r.kind, SpanKind.UNSPECIFIED),
            _DEFAULT_STATUS if code == 0 and not r.status_message
            else Status(codes.get(code, StatusCode.UNSET), r.status_message),
            r.attributes,
            [Event(start + e.offset_ns, e.name, e.attributes, e.dropped) for e in r.events] if r.events else [],
            [Link((li.trace_high << 64) | li.trace_low, li.span_id, _REFS.get(li.ref_type, RefType.FOLLOWS_FROM),
                  li.trace_state, li.attributes, li.flags, li.dropped) for li in r.links] if r.links else [],
            r.flags,
            r.trace_state,
            EMPTY_SCOPE if not (sc.name or sc.version or sc.attributes or sc.dropped or sc.schema_url)
            else Scope(sc.name, sc.version, list(sc.attributes), sc.dropped, sc.schema_url),
            r.warnings,
            r.dropped_attributes,
            r.dropped_events,
            r.dropped_links,
        ))
    return out
