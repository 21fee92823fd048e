"""OTLP/JSON (``{"resourceSpans": [...]}``) <-> ``spyglass.model``.

The OTLP spec's JSON mapping of the protobuf messages: lowerCamelCase names, trace and
span IDs as hex strings, 64-bit integers as decimal strings, enums as integers, bytes as
base64. Decoding is lenient where proto-JSON parsers are (int64 as numbers, enum names,
``null`` for absent, ``NaN``/``Infinity`` strings, snake_case field names, base64 IDs as
written by generic protobuf-JSON tools); encoding produces exactly what Jaeger's api_v3
HTTP gateway emits (pdata's marshaler): hex IDs, numeric ``kind`` and ``status.code``,
times as decimal strings, default values left out, but ``resource``, ``scope`` and
``status`` objects always present.

Parsing uses msgspec typed Structs (the fastest measured way to read this JSON); the
mapping rules shared with OTLP protobuf are in ``otlp_common``.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Sequence
from typing import Any, Union

import msgspec
import orjson

from spyglass.codecs.errors import DecodeError
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

_IntLike = Union[int, str, None]

# -- the JSON shapes (decode only) ------------------------------------------------------


class _ArrayValue(msgspec.Struct, gc=False):
    values: Union[list[_AnyValue], None] = None


class _KvList(msgspec.Struct, gc=False):
    values: Union[list[_KeyValue], None] = None


class _AnyValue(msgspec.Struct, gc=False):
    stringValue: Union[str, None] = None
    boolValue: Union[bool, None] = None
    intValue: _IntLike = None
    doubleValue: Union[float, str, None] = None
    bytesValue: Union[str, None] = None
    arrayValue: Union[_ArrayValue, None] = None
    kvlistValue: Union[_KvList, None] = None


class _KeyValue(msgspec.Struct, gc=False):
    key: Union[str, None] = None
    value: Union[_AnyValue, None] = None


class _Resource(msgspec.Struct, gc=False):
    attributes: Union[list[_KeyValue], None] = None
    droppedAttributesCount: _IntLike = None


class _Scope(msgspec.Struct, gc=False):
    name: Union[str, None] = None
    version: Union[str, None] = None
    attributes: Union[list[_KeyValue], None] = None
    droppedAttributesCount: _IntLike = None


class _Event(msgspec.Struct, gc=False):
    timeUnixNano: _IntLike = None
    name: Union[str, None] = None
    attributes: Union[list[_KeyValue], None] = None
    droppedAttributesCount: _IntLike = None


class _Link(msgspec.Struct, gc=False):
    traceId: Union[str, None] = None
    spanId: Union[str, None] = None
    traceState: Union[str, None] = None
    attributes: Union[list[_KeyValue], None] = None
    droppedAttributesCount: _IntLike = None
    flags: _IntLike = None


class _Status(msgspec.Struct, gc=False):
    message: Union[str, None] = None
    code: _IntLike = None


class _Span(msgspec.Struct, gc=False):
    traceId: Union[str, None] = None
    spanId: Union[str, None] = None
    traceState: Union[str, None] = None
    parentSpanId: Union[str, None] = None
    flags: _IntLike = None
    name: Union[str, None] = None
    kind: _IntLike = None
    startTimeUnixNano: _IntLike = None
    endTimeUnixNano: _IntLike = None
    attributes: Union[list[_KeyValue], None] = None
    droppedAttributesCount: _IntLike = None
    events: Union[list[_Event], None] = None
    droppedEventsCount: _IntLike = None
    links: Union[list[_Link], None] = None
    droppedLinksCount: _IntLike = None
    status: Union[_Status, None] = None


class _ScopeSpans(msgspec.Struct, gc=False):
    scope: Union[_Scope, None] = None
    spans: Union[list[_Span], None] = None
    schemaUrl: Union[str, None] = None


class _ResourceSpans(msgspec.Struct, gc=False):
    resource: Union[_Resource, None] = None
    scopeSpans: Union[list[_ScopeSpans], None] = None
    schemaUrl: Union[str, None] = None


class _TracesData(msgspec.Struct, gc=False):
    resourceSpans: Union[list[_ResourceSpans], None] = None


_DECODER = msgspec.json.Decoder(_TracesData)

# -- JSON -> model ----------------------------------------------------------------------

_KIND_NAMES = {f"SPAN_KIND_{k.name}": k for k in SpanKind}
_CODE_NAMES = {f"STATUS_CODE_{c.name}": c for c in StatusCode}
_KINDS = tuple(SpanKind)
_CODES = tuple(StatusCode)
_UNSET = Status()
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


_INT64 = (-(1 << 63), (1 << 63) - 1)
_UINT32 = (0, (1 << 32) - 1)
_ANY64 = (-(1 << 63), (1 << 64) - 1)  # timestamps: fixed64, negative ones left to validation


def _int(value: _IntLike, what: str, bounds: tuple[int, int] = _ANY64) -> int:
    """An integer field (a JSON number or a decimal string), refused outside the field's
    protobuf type as protobuf's JSON parser refuses it: an int64 attribute of 2^70 could be
    acknowledged but never stored."""
    if value is None:
        return 0
    if type(value) is int:
        n = value
    else:
        try:
            n = int(value)
        except ValueError:
            raise DecodeError(f"{what} is not an integer: {value!r}") from None
    if not bounds[0] <= n <= bounds[1]:
        raise DecodeError(f"{what} is out of range: {value!r}")
    return n


def _b64(text: str, what: str) -> bytes:
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise DecodeError(f"{what} is not base64") from None


# Arrays and kvlists nest at most this deep (the protobuf path stops near 33 levels, at
# upb's message depth limit of 100); deeper input is refused, not recursed into.
MAX_VALUE_DEPTH = 32


def _value(v: _AnyValue | None, depth: int = 0) -> Any:
    if v is None:
        return None
    s = v.stringValue
    if s is not None:
        return s
    if v.intValue is not None:
        return _int(v.intValue, "intValue", _INT64)
    if v.boolValue is not None:
        return v.boolValue
    d = v.doubleValue
    if d is not None:
        if type(d) is str:
            if d in _SPECIAL_FLOATS:
                return _SPECIAL_FLOATS[d]
            try:
                return float(d)
            except ValueError:
                raise DecodeError(f"doubleValue is not a number: {d!r}") from None
        return float(d)
    if v.bytesValue is not None:
        return _b64(v.bytesValue, "bytesValue")
    if v.arrayValue is not None or v.kvlistValue is not None:
        if depth >= MAX_VALUE_DEPTH:
            raise DecodeError(f"attribute value nested deeper than {MAX_VALUE_DEPTH} levels")
        if v.arrayValue is not None:
            return [_value(x, depth + 1) for x in v.arrayValue.values or ()]
        return {kv.key or "": _value(kv.value, depth + 1) for kv in v.kvlistValue.values or ()}
    return None


def _attrs(kvs: list[_KeyValue] | None) -> list[KeyValue]:
    if not kvs:
        return []
    out = []
    for kv in kvs:
        v = kv.value
        if v is not None and v.stringValue is not None:
            out.append(KeyValue(kv.key or "", v.stringValue))
        else:
            out.append(KeyValue(kv.key or "", _value(v)))
    return out


def _hex_id(text: str | None, size: int, what: str, allow_zero: bool) -> int:
    """A hex ID of exactly ``size`` bytes (or, leniently, its base64 form)."""
    if not text:
        if allow_zero:
            return 0
        raise InvalidSpan(f"{what} is missing")
    if len(text) == 2 * size:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise InvalidSpan(f"{what} is not hex: {text!r}") from None
    else:
        try:
            raw = _b64(text, what)
        except DecodeError:
            raw = b""
    if len(raw) != size:
        raise InvalidSpan(f"{what} must be {2 * size} hex characters: {text!r}")
    value = int.from_bytes(raw, "big")
    if not value and not allow_zero:
        raise InvalidSpan(f"{what} is all zeros")
    return value


def _enum(value: _IntLike, names: dict[str, Any], values: tuple[Any, ...], what: str) -> Any:
    if value is None:
        return values[0]
    if type(value) is int:
        return values[value] if 0 <= value < len(values) else values[0]
    named = names.get(value)  # type: ignore[arg-type]
    if named is not None:
        return named
    n = _int(value, what)
    return values[n] if 0 <= n < len(values) else values[0]


def _span(s: _Span, resource: Any, scope: Any) -> Span:
    start = _int(s.startTimeUnixNano, "startTimeUnixNano")
    duration = _int(s.endTimeUnixNano, "endTimeUnixNano") - start
    st = s.status
    status = _UNSET
    if st is not None and (st.code or st.message):
        status = Status(_enum(st.code, _CODE_NAMES, _CODES, "status.code"), st.message or "")
    links = []
    for lk in s.links or ():
        ref_type, attrs = link_ref_type(_attrs(lk.attributes))
        links.append(
            Link(
                _hex_id(lk.traceId, 16, "link traceId", True),
                _hex_id(lk.spanId, 8, "link spanId", True),
                ref_type,
                lk.traceState or "",
                attrs,
                _int(lk.flags, "flags", _UINT32),
                _int(lk.droppedAttributesCount, "droppedAttributesCount", _UINT32),
            )
        )
    return Span(
        _hex_id(s.traceId, 16, "traceId", False),
        _hex_id(s.spanId, 8, "spanId", False),
        s.name or "",
        start,
        duration if duration > 0 else 0,
        resource,
        _hex_id(s.parentSpanId, 8, "parentSpanId", True),
        _enum(s.kind, _KIND_NAMES, _KINDS, "kind"),
        status,
        _attrs(s.attributes),
        [
            Event(
                _int(e.timeUnixNano, "timeUnixNano"),
                e.name or "",
                _attrs(e.attributes),
                _int(e.droppedAttributesCount, "droppedAttributesCount", _UINT32),
            )
            for e in s.events or ()
        ],
        links,
        _int(s.flags, "flags", _UINT32),
        s.traceState or "",
        scope,
        [],
        _int(s.droppedAttributesCount, "droppedAttributesCount", _UINT32),
        _int(s.droppedEventsCount, "droppedEventsCount", _UINT32),
        _int(s.droppedLinksCount, "droppedLinksCount", _UINT32),
    )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _camelize(obj: Any) -> Any:
    """snake_case field names (the proto names, also valid proto-JSON) to lowerCamelCase.
    Only object keys change: attribute keys are values of ``"key"``, not object keys."""
    if isinstance(obj, dict):
        return {_camel(k) if isinstance(k, str) else k: _camelize(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_camelize(v) for v in obj]
    return obj


def _parse(data: bytes | str | dict[str, Any]) -> _TracesData:
    try:
        if isinstance(data, dict):
            if "resourceSpans" not in data and "resource_spans" in data:
                data = _camelize(data)
            return msgspec.convert(data, _TracesData)
        if isinstance(data, str):
            data = data.encode()
        td = _DECODER.decode(data)
        if not td.resourceSpans and b'"resource_spans"' in data:
            return msgspec.convert(_camelize(orjson.loads(data)), _TracesData)
        return td
    except (msgspec.DecodeError, msgspec.ValidationError, orjson.JSONDecodeError) as exc:
        raise DecodeError(f"invalid OTLP JSON: {exc}") from None
    except (TypeError, UnicodeError) as exc:
        raise DecodeError(f"invalid OTLP JSON payload: {exc}") from None
    except RecursionError:  # msgspec and _camelize recurse once per nesting level
        raise DecodeError("invalid OTLP JSON: nested too deeply") from None


def decode_export_request_partial(data: bytes | str | dict[str, Any]) -> tuple[list[Span], int, str]:
    """Decode an OTLP/JSON ``ExportTraceServiceRequest`` (or ``TracesData``): (valid
    spans, rejected span count, error message or ``""``). Spans with zero or malformed IDs
    are rejected one by one; a payload that is not OTLP JSON raises ``DecodeError``."""
    td = _parse(data)
    spans: list[Span] = []
    rejected = 0
    first_error = ""
    for rs in td.resourceSpans or ():
        r = rs.resource
        if r is None:
            resource = resource_from_attributes([], 0, rs.schemaUrl or "")
        else:
            resource = resource_from_attributes(
                _attrs(r.attributes), _int(r.droppedAttributesCount, "droppedAttributesCount", _UINT32), rs.schemaUrl or ""
            )
        for ss in rs.scopeSpans or ():
            sc = ss.scope
            if sc is None:
                scope = make_scope("", "", [], 0, ss.schemaUrl or "")
            else:
                scope = make_scope(
                    sc.name or "",
                    sc.version or "",
                    _attrs(sc.attributes),
                    _int(sc.droppedAttributesCount, "droppedAttributesCount", _UINT32),
                    ss.schemaUrl or "",
                )
            for s in ss.spans or ():
                try:
                    spans.append(_span(s, resource, scope))
                except InvalidSpan as exc:
                    rejected += 1
                    if not first_error:
                        first_error = str(exc)
    return spans, rejected, partial_message(rejected, first_error)


def decode_export_request(data: bytes | str | dict[str, Any]) -> list[Span]:
    """Strict form: any invalid span makes the whole payload a ``DecodeError``."""
    spans, rejected, error = decode_export_request_partial(data)
    if rejected:
        raise DecodeError(error)
    return spans


# -- model -> JSON ----------------------------------------------------------------------


def _json_value(value: Any) -> dict[str, Any]:
    t = type(value)
    if t is str:
        return {"stringValue": value}
    if t is bool:
        return {"boolValue": value}
    if t is int:
        return {"intValue": str(value)}
    if t is float:
        if math.isfinite(value):
            return {"doubleValue": value}
        return {"doubleValue": "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")}
    if t is bytes:
        return {"bytesValue": base64.b64encode(value).decode("ascii")}
    if value is None:
        return {}
    if isinstance(value, (list, tuple)):
        return {"arrayValue": {"values": [_json_value(v) for v in value]} if value else {}}
    if isinstance(value, dict):
        return {
            "kvlistValue": {"values": [{"key": str(k), "value": _json_value(v)} for k, v in value.items()]}
            if value
            else {}
        }
    if isinstance(value, bool):
        return {"boolValue": bool(value)}
    if isinstance(value, int):
        return {"intValue": str(int(value))}
    if isinstance(value, float):
        return _json_value(float(value))
    if isinstance(value, str):
        return {"stringValue": str(value)}
    if isinstance(value, (bytearray, memoryview)):
        return _json_value(bytes(value))
    return {"stringValue": str(value)}


def _json_attrs(attributes: Sequence[KeyValue]) -> list[dict[str, Any]]:
    return [
        {"key": key, "value": {"stringValue": value} if type(value) is str else _json_value(value)}
        for key, value in attributes
    ]


def _json_span(span: Span) -> dict[str, Any]:
    out: dict[str, Any] = {
        "traceId": format(span.trace_id, "032x"),
        "spanId": format(span.span_id, "016x"),
    }
    if span.trace_state:
        out["traceState"] = span.trace_state
    if span.parent_span_id:
        out["parentSpanId"] = format(span.parent_span_id, "016x")
    if span.flags:
        out["flags"] = span.flags & 0xFFFFFFFF
    out["name"] = span.name
    if span.kind:
        out["kind"] = int(span.kind)
    out["startTimeUnixNano"] = str(span.start_time_ns)
    out["endTimeUnixNano"] = str(span.start_time_ns + span.duration_ns)
    if span.attributes:
        out["attributes"] = _json_attrs(span.attributes)
    if span.dropped_attributes_count:
        out["droppedAttributesCount"] = span.dropped_attributes_count
    if span.events:
        events = []
        for e in span.events:
            ev: dict[str, Any] = {"timeUnixNano": str(e.time_ns)}
            if e.name:
                ev["name"] = e.name
            if e.attributes:
                ev["attributes"] = _json_attrs(e.attributes)
            if e.dropped_attributes_count:
                ev["droppedAttributesCount"] = e.dropped_attributes_count
            events.append(ev)
        out["events"] = events
    if span.dropped_events_count:
        out["droppedEventsCount"] = span.dropped_events_count
    if span.links:
        links = []
        for link in span.links:
            lk: dict[str, Any] = {"traceId": format(link.trace_id, "032x"), "spanId": format(link.span_id, "016x")}
            if link.trace_state:
                lk["traceState"] = link.trace_state
            attrs = _json_attrs(link.attributes)
            if link.ref_type is RefType.CHILD_OF:
                attrs.insert(0, {"key": REF_TYPE_KEY, "value": {"stringValue": REF_TYPE_CHILD_OF}})
            if attrs:
                lk["attributes"] = attrs
            if link.dropped_attributes_count:
                lk["droppedAttributesCount"] = link.dropped_attributes_count
            if link.flags:
                lk["flags"] = link.flags & 0xFFFFFFFF
            links.append(lk)
        out["links"] = links
    if span.dropped_links_count:
        out["droppedLinksCount"] = span.dropped_links_count
    status: dict[str, Any] = {}
    if span.status.message:
        status["message"] = span.status.message
    if span.status.code:
        status["code"] = int(span.status.code)
    out["status"] = status
    return out


def encode_traces_data(spans: Sequence[Span]) -> dict[str, Any]:
    """``{"resourceSpans": [...]}`` as a dict, spans grouped by resource then scope."""
    resource_spans = []
    for resource, scopes in group_spans(spans):
        res: dict[str, Any] = {
            "attributes": [{"key": "service.name", "value": {"stringValue": resource.service_name}}]
            + _json_attrs(resource.attributes)
        }
        if resource.dropped_attributes_count:
            res["droppedAttributesCount"] = resource.dropped_attributes_count
        scope_spans = []
        for scope, group in scopes:
            sc: dict[str, Any] = {}
            entry: dict[str, Any] = {"scope": sc, "spans": [_json_span(s) for s in group]}
            if scope is not EMPTY_SCOPE:
                if scope.name:
                    sc["name"] = scope.name
                if scope.version:
                    sc["version"] = scope.version
                if scope.attributes:
                    sc["attributes"] = _json_attrs(scope.attributes)
                if scope.dropped_attributes_count:
                    sc["droppedAttributesCount"] = scope.dropped_attributes_count
                if scope.schema_url:
                    entry["schemaUrl"] = scope.schema_url
            scope_spans.append(entry)
        rs: dict[str, Any] = {"resource": res, "scopeSpans": scope_spans}
        if resource.schema_url:
            rs["schemaUrl"] = resource.schema_url
        resource_spans.append(rs)
    return {"resourceSpans": resource_spans}


def encode_json(spans: Sequence[Span]) -> bytes:
    """The OTLP/JSON bytes of ``encode_traces_data``."""
    return orjson.dumps(encode_traces_data(spans))


def export_response(rejected: int = 0, error_message: str = "") -> bytes:
    """An OTLP/JSON ``ExportTraceServiceResponse``: ``{}``, or with ``partialSuccess``."""
    if not (rejected or error_message):
        return b"{}"
    ps: dict[str, Any] = {}
    if rejected:
        ps["rejectedSpans"] = str(rejected)
    if error_message:
        ps["errorMessage"] = error_message
    return orjson.dumps({"partialSuccess": ps})


__all__ = [
    "decode_export_request",
    "decode_export_request_partial",
    "encode_json",
    "encode_traces_data",
    "export_response",
]
