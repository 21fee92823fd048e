"""OTLP protobuf (``ExportTraceServiceRequest`` / ``TracesData``) <-> ``spyglass.model``.

Decoding parses with ``proto/fastpath/otlp_trace.proto``, a wire-compatible view of the
OTLP messages whose attribute lists are raw bytes: each attribute is then one lookup in a
cache of decoded attributes, which makes decoding about twice as fast as walking the
``opentelemetry-proto`` classes (upb charges for every nested-message access). Encoding
builds the real ``opentelemetry-proto`` messages with ``add()`` and assignment. Every OTLP
field has a place in the model, so a span survives OTLP -> model -> OTLP unchanged (rules
shared with OTLP/JSON are in ``otlp_common``).

Invalid spans (zero or wrong-length IDs) are rejected one by one, as OTLP's partial
success allows: ``decode_export_request_partial`` returns them as a count and a message
for the receiver to send back; ``decode_export_request`` is the strict form for callers
that have nobody to tell and raises ``DecodeError`` instead.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from google.protobuf.message import DecodeError as ProtoDecodeError
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from spyglass.codecs.protowire import WireCache, read_varint
from spyglass.codecs.errors import DecodeError
from spyglass.codecs.proto.fastpath import otlp_trace_pb2 as fast_pb2
from spyglass.codecs.otlp_common import (
    REF_TYPE_CHILD_OF,
    REF_TYPE_KEY,
    InvalidSpan,
    group_spans,
    link_ref_type,
    make_scope,
    partial_message,
    resource_from_attributes,
)
from spyglass.model import EMPTY_SCOPE, Event, KeyValue, Link, RefType, Span, SpanKind, Status, StatusCode

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_KINDS = tuple(SpanKind)
_CODES = tuple(StatusCode)
_UNSET = Status()
_SCALARS = frozenset({"string_value", "bool_value", "int_value", "double_value", "bytes_value"})

# -- protobuf -> model ------------------------------------------------------------------

# Decoded attributes by their wire bytes. Attributes repeat a lot between spans (keys always,
# values often), and a cache hit is one dict lookup instead of several upb accesses. Only
# immutable values are cached, so the shared KeyValue tuples can never change under a span.
_KV_CACHE = WireCache()
_CACHEABLE = (str, bool, int, float, bytes, type(None))
_unpack_double = struct.Struct("<d").unpack_from


def _any(v: Any) -> Any:
    """An ``AnyValue`` as a plain value: kvlist -> dict, array -> list, empty -> None."""
    k = v.WhichOneof("value")
    if k is None:
        return None
    if k in _SCALARS:
        return getattr(v, k)
    if k == "array_value":
        return [_any(x) for x in v.array_value.values]
    return {kv.key: _any(kv.value) for kv in v.kvlist_value.values}


def _attrs(kvs: Any) -> list[KeyValue]:
    """Attributes of a real OTLP message (resources and scopes, once per group)."""
    return [KeyValue(kv.key, _any(kv.value)) for kv in kvs]


def _kv_quick(raw: bytes) -> KeyValue | None:
    """Read a KeyValue whose value is one scalar, written in field order (what every SDK
    sends); None for anything else, which the real parser then handles (and judges)."""
    n = len(raw)
    if raw[0] != 0x0A:
        return None
    kl, p = read_varint(raw, 1)
    end = p + kl
    if end > n:
        return None
    key = raw[p:end].decode()
    if end == n:
        return KeyValue(key, None)
    if raw[end] != 0x12:
        return None
    vl, p = read_varint(raw, end + 1)
    if p + vl != n:
        return None
    if vl == 0:
        return KeyValue(key, None)
    tag = raw[p]
    if tag == 0x0A:  # string_value
        sl, q = read_varint(raw, p + 1)
        return KeyValue(key, raw[q:].decode()) if q + sl == n else None
    if tag == 0x18:  # int_value
        v, q = read_varint(raw, p + 1)
        if q != n:
            return None
        return KeyValue(key, v - (1 << 64) if v >= 1 << 63 else v)
    if tag == 0x10:  # bool_value
        v, q = read_varint(raw, p + 1)
        return KeyValue(key, v != 0) if q == n else None
    if tag == 0x21:  # double_value
        return KeyValue(key, _unpack_double(raw, p + 1)[0]) if p + 9 == n else None
    if tag == 0x3A:  # bytes_value
        bl, q = read_varint(raw, p + 1)
        return KeyValue(key, raw[q:]) if q + bl == n else None
    return None


def _kv_miss(raw: bytes) -> KeyValue:
    """Decode one attribute's wire bytes and remember it (immutable values only)."""
    n = len(raw)
    kv = None
    try:
        # The most common shape, inline: a string value, every length below 128.
        end = raw[1] + 2
        if (
            raw[0] == 0x0A
            and end < 130
            and raw[end] == 0x12
            and raw[end + 2] == 0x0A
            and raw[end + 1] == n - end - 2 < 0x80
            and raw[end + 3] == n - end - 4
        ):
            kv = KeyValue(raw[2:end].decode(), raw[end + 4 :].decode())
        else:
            kv = _kv_quick(raw)
    except (IndexError, ValueError):  # includes UnicodeDecodeError: the real parser reports it
        kv = None
    if kv is None:
        try:
            m = common_pb2.KeyValue.FromString(raw)
        except (ProtoDecodeError, RuntimeError, ValueError) as exc:
            raise DecodeError(f"cannot parse attribute: {exc}") from None
        kv = KeyValue(m.key, _any(m.value))
        if not isinstance(kv.value, _CACHEABLE):
            return kv
    _KV_CACHE.remember(raw, kv)
    return kv


def _raw_attrs(raws: Any) -> list[KeyValue]:
    get = _KV_CACHE.entries.get
    return [get(raw) or _kv_miss(raw) for raw in raws]


def _trace_id(raw: bytes, what: str = "trace ID") -> int:
    if len(raw) != 16:
        raise InvalidSpan(f"{what} must be 16 bytes, got {len(raw)}")
    value = int.from_bytes(raw, "big")
    if not value and what == "trace ID":
        raise InvalidSpan("trace ID is all zeros")
    return value


def _span_id(raw: bytes, what: str = "span ID") -> int:
    if len(raw) != 8:
        raise InvalidSpan(f"{what} must be 8 bytes, got {len(raw)}")
    value = int.from_bytes(raw, "big")
    if not value and what == "span ID":
        raise InvalidSpan("span ID is all zeros")
    return value


def _links(msgs: Any) -> list[Link]:
    links = []
    for lk in msgs:
        ref_type, attrs = link_ref_type(_raw_attrs(lk.attributes))
        links.append(
            Link(
                _trace_id(lk.trace_id, "link trace ID"),
                _span_id(lk.span_id, "link span ID"),
                ref_type,
                lk.trace_state,
                attrs,
                lk.flags,
                lk.dropped_attributes_count,
            )
        )
    return links


def _span(s: Any, resource: Any, scope: Any) -> Span:
    start = s.start_time_unix_nano
    duration = s.end_time_unix_nano - start
    parent = s.parent_span_id
    kind = s.kind
    status = s.status
    code = status.code
    message = status.message
    span = Span(
        _trace_id(s.trace_id),
        _span_id(s.span_id),
        s.name,
        start,
        duration if duration > 0 else 0,
        resource,
        _span_id(parent, "parent span ID") if parent else 0,
        _KINDS[kind] if 0 <= kind < 6 else SpanKind.UNSPECIFIED,
        Status(_CODES[code] if 0 <= code < 3 else StatusCode.UNSET, message) if code or message else _UNSET,
        _raw_attrs(s.attributes),
        [Event(e.time_unix_nano, e.name, _raw_attrs(e.attributes), e.dropped_attributes_count) for e in s.events],
        _links(s.links) if s.links else [],
        s.flags,
        s.trace_state,
        scope,
    )
    if s.dropped_attributes_count:
        span.dropped_attributes_count = s.dropped_attributes_count
    if s.dropped_events_count:
        span.dropped_events_count = s.dropped_events_count
    if s.dropped_links_count:
        span.dropped_links_count = s.dropped_links_count
    return span


def _resource(raw: bytes, schema_url: str) -> Any:
    r = resource_pb2.Resource.FromString(raw)
    return resource_from_attributes(_attrs(r.attributes), r.dropped_attributes_count, schema_url)


def _scope(raw: bytes, schema_url: str) -> Any:
    if not raw:
        return make_scope("", "", [], 0, schema_url)
    sc = common_pb2.InstrumentationScope.FromString(raw)
    return make_scope(sc.name, sc.version, _attrs(sc.attributes), sc.dropped_attributes_count, schema_url)


def _decode_partial(data: bytes) -> tuple[list[Span], int, str]:
    req = fast_pb2.TracesData()
    try:
        req.ParseFromString(data)
        spans: list[Span] = []
        rejected = 0
        first_error = ""
        append = spans.append
        for rs in req.resource_spans:
            resource = _resource(rs.resource, rs.schema_url)
            for ss in rs.scope_spans:
                scope = _scope(ss.scope, ss.schema_url)
                for s in ss.spans:
                    try:
                        append(_span(s, resource, scope))
                    except InvalidSpan as exc:
                        rejected += 1
                        if not first_error:
                            first_error = str(exc)
    except (ProtoDecodeError, RuntimeError, ValueError) as exc:
        if isinstance(exc, DecodeError):
            raise
        raise DecodeError(f"cannot parse ExportTraceServiceRequest: {exc}") from None
    return spans, rejected, partial_message(rejected, first_error)


def decode_export_request_partial(data: bytes) -> tuple[list[Span], int, str]:
    """Decode a serialized ``ExportTraceServiceRequest`` (or ``TracesData``, which has the
    same wire form): (valid spans, rejected span count, error message or ``""``).
    A payload that is not valid protobuf at all raises ``DecodeError``."""
    return _decode_partial(data)


def decode_export_request(data: bytes) -> list[Span]:
    """Strict form: any invalid span makes the whole payload a ``DecodeError``."""
    spans, rejected, error = _decode_partial(data)
    if rejected:
        raise DecodeError(error)
    return spans


def spans_from_request_partial(msg: Any) -> tuple[list[Span], int, str]:
    """Like ``decode_export_request_partial`` for a message object
    (``ExportTraceServiceRequest`` or ``TracesData``)."""
    return _decode_partial(msg.SerializeToString())


def spans_from_request(msg: Any) -> list[Span]:
    """Spans of a message object; any invalid span is a ``DecodeError``."""
    return decode_export_request(msg.SerializeToString())


# -- model -> protobuf ------------------------------------------------------------------


def _set_any(v: Any, value: Any) -> None:
    t = type(value)
    if t is str:
        v.string_value = value
    elif t is bool:
        v.bool_value = value
    elif t is int:
        if _INT64_MIN <= value <= _INT64_MAX:
            v.int_value = value
        else:
            v.string_value = str(value)
    elif t is float:
        v.double_value = value
    elif t is bytes:
        v.bytes_value = value
    elif value is None:
        pass
    elif isinstance(value, (list, tuple)):
        arr = v.array_value
        arr.SetInParent()
        for x in value:
            _set_any(arr.values.add(), x)
    elif isinstance(value, dict):
        kvl = v.kvlist_value
        kvl.SetInParent()
        for key, x in value.items():
            kv = kvl.values.add()
            kv.key = str(key)
            _set_any(kv.value, x)
    elif isinstance(value, bool):
        v.bool_value = bool(value)
    elif isinstance(value, int):
        _set_any(v, int(value))
    elif isinstance(value, float):
        v.double_value = float(value)
    elif isinstance(value, str):
        v.string_value = str(value)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        v.bytes_value = bytes(value)
    else:
        v.string_value = str(value)


def _fill_attrs(target: Any, attributes: Sequence[KeyValue]) -> None:
    for key, value in attributes:
        kv = target.add()
        kv.key = key
        if type(value) is str:
            kv.value.string_value = value
        else:
            _set_any(kv.value, value)


def _fill_span(s: Any, span: Span) -> None:
    s.trace_id = span.trace_id.to_bytes(16, "big")
    s.span_id = span.span_id.to_bytes(8, "big")
    if span.trace_state:
        s.trace_state = span.trace_state
    if span.parent_span_id:
        s.parent_span_id = span.parent_span_id.to_bytes(8, "big")
    if span.flags:
        s.flags = span.flags & 0xFFFFFFFF
    s.name = span.name
    if span.kind:
        s.kind = span.kind
    s.start_time_unix_nano = span.start_time_ns
    s.end_time_unix_nano = span.start_time_ns + span.duration_ns
    if span.attributes:
        _fill_attrs(s.attributes, span.attributes)
    if span.dropped_attributes_count:
        s.dropped_attributes_count = span.dropped_attributes_count
    for event in span.events:
        e = s.events.add()
        e.time_unix_nano = event.time_ns
        e.name = event.name
        if event.attributes:
            _fill_attrs(e.attributes, event.attributes)
        if event.dropped_attributes_count:
            e.dropped_attributes_count = event.dropped_attributes_count
    if span.dropped_events_count:
        s.dropped_events_count = span.dropped_events_count
    for link in span.links:
        lk = s.links.add()
        lk.trace_id = link.trace_id.to_bytes(16, "big")
        lk.span_id = link.span_id.to_bytes(8, "big")
        if link.trace_state:
            lk.trace_state = link.trace_state
        if link.ref_type is RefType.CHILD_OF:
            kv = lk.attributes.add()
            kv.key = REF_TYPE_KEY
            kv.value.string_value = REF_TYPE_CHILD_OF
        if link.attributes:
            _fill_attrs(lk.attributes, link.attributes)
        if link.dropped_attributes_count:
            lk.dropped_attributes_count = link.dropped_attributes_count
        if link.flags:
            lk.flags = link.flags & 0xFFFFFFFF
    if span.dropped_links_count:
        s.dropped_links_count = span.dropped_links_count
    status = span.status
    if status.code or status.message:
        st = s.status
        st.code = status.code
        st.message = status.message


def _fill_resource_spans(target: Any, spans: Sequence[Span]) -> None:
    for resource, scopes in group_spans(spans):
        rs = target.add()
        r = rs.resource
        kv = r.attributes.add()
        kv.key = "service.name"
        kv.value.string_value = resource.service_name
        if resource.attributes:
            _fill_attrs(r.attributes, resource.attributes)
        if resource.dropped_attributes_count:
            r.dropped_attributes_count = resource.dropped_attributes_count
        if resource.schema_url:
            rs.schema_url = resource.schema_url
        for scope, group in scopes:
            ss = rs.scope_spans.add()
            sc = ss.scope
            sc.SetInParent()
            if scope is not EMPTY_SCOPE:
                if scope.name:
                    sc.name = scope.name
                if scope.version:
                    sc.version = scope.version
                if scope.attributes:
                    _fill_attrs(sc.attributes, scope.attributes)
                if scope.dropped_attributes_count:
                    sc.dropped_attributes_count = scope.dropped_attributes_count
                if scope.schema_url:
                    ss.schema_url = scope.schema_url
            out = ss.spans
            for span in group:
                _fill_span(out.add(), span)


def encode_traces_data(spans: Sequence[Span]) -> Any:
    """A ``TracesData`` message: spans grouped by resource, then scope."""
    td = trace_pb2.TracesData()
    _fill_resource_spans(td.resource_spans, spans)
    return td


def encode_export_request(spans: Sequence[Span]) -> bytes:
    """A serialized ``ExportTraceServiceRequest`` (the same bytes as ``TracesData``)."""
    req = trace_service_pb2.ExportTraceServiceRequest()
    _fill_resource_spans(req.resource_spans, spans)
    return req.SerializeToString()


def export_response(rejected: int = 0, error_message: str = "") -> bytes:
    """A serialized ``ExportTraceServiceResponse``, with partial success when spans were
    rejected (an empty message otherwise, as the OTLP spec asks)."""
    resp = trace_service_pb2.ExportTraceServiceResponse()
    if rejected or error_message:
        ps = resp.partial_success
        ps.rejected_spans = rejected
        ps.error_message = error_message
    return resp.SerializeToString()


__all__ = [
    "decode_export_request",
    "decode_export_request_partial",
    "encode_export_request",
    "encode_traces_data",
    "export_response",
    "spans_from_request",
    "spans_from_request_partial",
]
