"""Jaeger protobuf (``jaeger.api_v2``) <-> ``spyglass.model``, binary and legacy JSON.

The binary form is what ``CollectorService/PostSpans`` receives and what the api_v2
``QueryService`` streams back; the JSON form is the protobuf-JSON of the same messages
that Jaeger's storage fixtures were written in (base64 IDs, RFC 3339 times, Go duration
strings). Both go through the Jaeger rules of ``jaeger_common``, so a span that arrives
here equals the same span sent as Thrift or OTLP.

IDs are big-endian bytes: a trace ID of 16 bytes (high half first) or 8 bytes (the low
half of a 64-bit ID); a span ID of 8 bytes. Any other length is a ``DecodeError``, since
storing a span under a made-up ID would be worse than refusing the request.

Binary decoding parses with ``proto/fastpath/jaeger_model.proto``, a wire-compatible view
whose tags and processes are raw bytes looked up in a cache of decoded values; encoding
builds the real ``jaeger.api_v2`` messages with ``add()`` and assignment.
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Sequence
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError as ProtoDecodeError

from spyglass.codecs.protowire import WireCache, read_varint
from spyglass.gocompat import godur, gotime
from spyglass.codecs.errors import DecodeError
from spyglass.codecs.jaeger_common import (
    SPECIAL_TAGS,
    JaegerRef,
    apply_references,
    apply_tags,
    name_event,
    build_span,
    jaeger_log_fields,
    jaeger_process_tags,
    jaeger_references,
    jaeger_tags,
)
from spyglass.codecs.proto.fastpath import jaeger_model_pb2 as fast_pb2
from spyglass.codecs.proto.jaeger.api_v2 import model_pb2
from spyglass.model import EMPTY_SCOPE, Event, KeyValue, RefType, Resource, Span, SpanKind, Status

_NS = 1_000_000_000
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_REF_TYPES = (RefType.CHILD_OF, RefType.FOLLOWS_FROM)

# ValueType numbers (api_v2 order, not Thrift's): STRING, BOOL, INT64, FLOAT64, BINARY.
_V_STRING, _V_BOOL, _V_INT64, _V_FLOAT64, _V_BINARY = range(5)


# -- IDs --------------------------------------------------------------------------------


def _trace_id(raw: bytes) -> int:
    n = len(raw)
    if n == 16 or n == 8:
        return int.from_bytes(raw, "big")
    raise DecodeError(f"trace ID must be 8 or 16 bytes, got {n}")


def _span_id(raw: bytes) -> int:
    if len(raw) == 8:
        return int.from_bytes(raw, "big")
    raise DecodeError(f"span ID must be 8 bytes, got {len(raw)}")


# -- protobuf -> model ------------------------------------------------------------------

# Decoded tags by their wire bytes (see proto/fastpath/jaeger_model.proto): tags repeat a
# lot between spans, and a hit is one dict lookup. The values are immutable, so sharing the
# KeyValue tuples between spans is safe.
_KV_CACHE = WireCache()
_unpack_double = struct.Struct("<d").unpack_from
_kv_new = tuple.__new__  # KeyValue(key, value) without its Python-level __new__


def _kv_value(kv: Any) -> KeyValue:
    """One api_v2 KeyValue message as a model attribute. An unknown ValueType (proto3
    enums are open) is read as its string value rather than refusing the whole batch."""
    t = kv.v_type
    if t == _V_STRING:
        return KeyValue(kv.key, kv.v_str)
    if t == _V_INT64:
        return KeyValue(kv.key, kv.v_int64)
    if t == _V_BOOL:
        return KeyValue(kv.key, kv.v_bool)
    if t == _V_FLOAT64:
        return KeyValue(kv.key, kv.v_float64)
    if t == _V_BINARY:
        return KeyValue(kv.key, kv.v_binary)
    return KeyValue(kv.key, kv.v_str)


_DEFAULTS: tuple[Any, ...] = ("", False, 0, 0.0, b"")


def _kv_quick(raw: bytes) -> KeyValue | None:
    """Read a tag written in field order (key, v_type, then the one value field that
    v_type names); None for anything else, which the real parser then handles."""
    n = len(raw)
    if raw[0] != 0x0A:
        return None
    kl, p = read_varint(raw, 1)
    end = p + kl
    if end > n:
        return None
    key = raw[p:end].decode()
    vtype = _V_STRING
    if end < n and raw[end] == 0x10:
        vtype, end = read_varint(raw, end + 1)
        if vtype > _V_BINARY:
            return None
    if end == n:
        return KeyValue(key, _DEFAULTS[vtype])
    tag = raw[end]
    if tag == 0x1A and vtype == _V_STRING:
        sl, q = read_varint(raw, end + 1)
        return KeyValue(key, raw[q:].decode()) if q + sl == n else None
    if tag == 0x28 and vtype == _V_INT64:
        v, q = read_varint(raw, end + 1)
        if q != n:
            return None
        return KeyValue(key, v - (1 << 64) if v >= 1 << 63 else v)
    if tag == 0x20 and vtype == _V_BOOL:
        v, q = read_varint(raw, end + 1)
        return KeyValue(key, v != 0) if q == n else None
    if tag == 0x31 and vtype == _V_FLOAT64:
        return KeyValue(key, _unpack_double(raw, end + 1)[0]) if end + 9 == n else None
    if tag == 0x3A and vtype == _V_BINARY:
        bl, q = read_varint(raw, end + 1)
        return KeyValue(key, raw[q:]) if q + bl == n else None
    return None


def _kv_miss(raw: bytes) -> KeyValue:
    """Decode one tag's wire bytes and remember it. The shapes clients write (key, then
    v_type, then the one value field v_type names, lengths below 128) are read inline;
    anything else goes to ``_kv_quick`` and then to the generated class."""
    kv = None
    try:
        end = raw[1] + 2
        if raw[0] == 0x0A and end < 130:
            n = len(raw)
            tag = raw[end] if end < n else -1
            if tag == 0x1A:  # STRING (v_type 0 is not written)
                if raw[end + 1] == n - end - 2 < 0x80:
                    kv = _kv_new(KeyValue, (raw[2:end].decode(), raw[end + 2:].decode()))
            elif tag == 0x10:
                vtype = raw[end + 1]
                field = raw[end + 2] if end + 2 < n else -1
                if vtype == _V_INT64 and field == 0x28:
                    v, q = read_varint(raw, end + 3)
                    if q == n:
                        kv = _kv_new(KeyValue, (raw[2:end].decode(), v - (1 << 64) if v >= 1 << 63 else v))
                elif vtype == _V_FLOAT64 and field == 0x31 and end + 11 == n:
                    kv = _kv_new(KeyValue, (raw[2:end].decode(), _unpack_double(raw, end + 3)[0]))
        if kv is None:
            kv = _kv_quick(raw)
    except (IndexError, ValueError):  # includes UnicodeDecodeError: the real parser reports it
        kv = None
    if kv is None:
        try:
            kv = _kv_value(model_pb2.KeyValue.FromString(raw))
        except (ProtoDecodeError, RuntimeError, ValueError) as exc:
            raise DecodeError(f"cannot parse tag: {exc}") from None
    if len(raw) <= _KV_CACHE.max_key_bytes:  # WireCache.remember, inline: a call per miss shows
        entries = _KV_CACHE.entries
        if len(entries) >= _KV_CACHE.max_entries:
            entries.clear()
        entries[raw] = kv
    return kv


def _resource_from_raw(raw: bytes) -> Resource:
    try:
        process = model_pb2.Process.FromString(raw)
    except (ProtoDecodeError, RuntimeError, ValueError) as exc:
        raise DecodeError(f"cannot parse process: {exc}") from None
    return Resource(process.service_name, [_kv_value(kv) for kv in process.tags])


def _bad_ids(trace_id: bytes, span_id: bytes) -> None:
    _trace_id(trace_id)
    _span_id(span_id)


def _refs(span: Span, refs: Any) -> None:
    """References other than the usual one CHILD_OF parent in the same trace (which
    ``_spans_from_fast_batch`` reads inline): ``jaeger_common``'s rules."""
    apply_references(span, [
        JaegerRef(_REF_TYPES[r.ref_type] if 0 <= r.ref_type <= 1 else RefType.CHILD_OF,
                  _trace_id(r.trace_id), _span_id(r.span_id))
        for r in refs
    ], 0)


def _spans_from_fast_batch(batch: Any) -> list[Span]:
    """The hot loop of ``decode_post_spans``, written out: ``build_span``'s rules with the
    common cases inline (no keyword calls, no reference objects for the one parent
    reference, positional model constructors), since per-call overhead, not protobuf
    parsing, was most of the decode's cost. ``spans_from_batch`` is the plain reading
    of the same rules that the tests compare it with."""
    processes: dict[bytes, Resource] = {}
    batch_raw = batch.process
    batch_resource = processes[batch_raw] = _resource_from_raw(batch_raw)
    get = _KV_CACHE.entries.get
    special = SPECIAL_TAGS
    unspecified, unset = SpanKind.UNSPECIFIED, Status()
    spans: list[Span] = []
    append = spans.append
    for msg in batch.spans:
        raw = msg.process
        if raw:
            resource = processes.get(raw)
            if resource is None:
                resource = processes[raw] = _resource_from_raw(raw)
        else:
            resource = batch_resource
        tid = msg.trace_id
        sid = msg.span_id
        n = len(tid)
        if len(sid) != 8 or (n != 16 and n != 8):
            _bad_ids(tid, sid)
        trace_id = int.from_bytes(tid, "big")
        st = msg.start_time
        d = msg.duration
        warnings = msg.warnings
        span = Span(trace_id, int.from_bytes(sid, "big"), msg.operation_name, st.seconds * _NS + st.nanos,
                    d.seconds * _NS + d.nanos, resource, 0, unspecified, unset, [], [], [], msg.flags,
                    "", EMPTY_SCOPE, list(warnings) if warnings else [])
        tags = [get(r) or _kv_miss(r) for r in msg.tags]
        for kv in tags:
            if kv[0] in special:
                apply_tags(span, tags)
                break
        else:
            span.attributes = tags
        logs = msg.logs
        if logs:
            events = span.events
            for lg in logs:
                ts = lg.timestamp
                event = Event(ts.seconds * _NS + ts.nanos, "", [get(r) or _kv_miss(r) for r in lg.fields])
                name_event(event)
                events.append(event)
        refs = msg.references
        if refs:
            r = refs[0]
            if len(refs) == 1 and r.ref_type == 0 and _trace_id(r.trace_id) == trace_id:
                span.parent_span_id = _span_id(r.span_id)
            else:
                _refs(span, refs)
        append(span)
    return spans


def decode_post_spans(data: bytes) -> list[Span]:
    """Decode a serialized ``PostSpansRequest``; raises ``DecodeError``.

    A span with its own ``process`` uses it, the others use the batch's; a span with
    neither gets a process with an empty service name, which the collector's sanitizers
    name (Jaeger accepts such spans too). Spans with equal processes share one
    ``Resource``."""
    req = fast_pb2.PostSpansRequest()
    try:
        req.ParseFromString(data)
    except (ProtoDecodeError, RuntimeError, ValueError) as exc:
        raise DecodeError(f"cannot parse PostSpansRequest: {exc}") from None
    return _spans_from_fast_batch(req.batch)


def spans_from_batch(batch: Any) -> list[Span]:
    """The spans of an api_v2 ``Batch`` message (same rules as ``decode_post_spans``),
    read field by field from the generated classes through ``build_span``: the plain form
    of what ``decode_post_spans`` does fast, which the tests check it against."""
    processes: dict[bytes, Resource] = {}

    def resource_of(process: Any) -> Resource:
        key = process.SerializeToString()
        known = processes.get(key)
        if known is None:
            known = processes[key] = Resource(process.service_name, [_kv_value(kv) for kv in process.tags])
        return known

    batch_resource = resource_of(batch.process)
    spans = []
    for msg in batch.spans:
        st, d = msg.start_time, msg.duration
        spans.append(build_span(
            trace_id=_trace_id(msg.trace_id),
            span_id=_span_id(msg.span_id),
            operation_name=msg.operation_name,
            start_time_ns=st.seconds * _NS + st.nanos,
            duration_ns=d.seconds * _NS + d.nanos,
            resource=resource_of(msg.process) if msg.process.ByteSize() else batch_resource,
            tags=[_kv_value(kv) for kv in msg.tags],
            logs=[Event(lg.timestamp.seconds * _NS + lg.timestamp.nanos, "", [_kv_value(kv) for kv in lg.fields])
                  for lg in msg.logs],
            references=[JaegerRef(_REF_TYPES[r.ref_type] if 0 <= r.ref_type <= 1 else RefType.CHILD_OF,
                                  _trace_id(r.trace_id), _span_id(r.span_id)) for r in msg.references],
            flags=msg.flags,
            warnings=list(msg.warnings),
        ))
    return spans


# -- model -> protobuf ------------------------------------------------------------------


def _fill_kvs(target: Any, kvs: Sequence[KeyValue]) -> None:
    """Values are already Jaeger-safe (``jaeger_value``): str, bool, int, float, bytes."""
    for key, value in kvs:
        kv = target.add()
        kv.key = key
        t = type(value)
        if t is str:
            kv.v_str = value
        elif t is bool:
            kv.v_type = _V_BOOL
            kv.v_bool = value
        elif t is int:
            if _INT64_MIN <= value <= _INT64_MAX:
                kv.v_type = _V_INT64
                kv.v_int64 = value
            else:  # beyond int64: keep the digits rather than fail
                kv.v_str = str(value)
        elif t is float:
            kv.v_type = _V_FLOAT64
            kv.v_float64 = value
        elif t is bytes:
            kv.v_type = _V_BINARY
            kv.v_binary = value
        elif isinstance(value, bool):
            kv.v_type = _V_BOOL
            kv.v_bool = bool(value)
        elif isinstance(value, int):
            kv.v_type = _V_INT64
            kv.v_int64 = int(value)
        elif isinstance(value, float):
            kv.v_type = _V_FLOAT64
            kv.v_float64 = float(value)
        else:
            kv.v_str = str(value)


def _set_time(target: Any, ns: int) -> None:
    seconds, nanos = divmod(ns, 1_000_000_000)
    target.seconds = seconds
    target.nanos = nanos


def _set_duration(target: Any, ns: int) -> None:
    # google.protobuf.Duration wants seconds and nanos with the same sign.
    seconds = int(ns / 1_000_000_000) if ns < 0 else ns // 1_000_000_000
    target.seconds = seconds
    target.nanos = ns - seconds * 1_000_000_000


def _trace_id_bytes(trace_id: int) -> bytes:
    return trace_id.to_bytes(16, "big")


def _fill_process(target: Any, resource: Resource) -> None:
    target.service_name = resource.service_name
    _fill_kvs(target.tags, jaeger_process_tags(resource))


def _fill_span(msg: Any, span: Span, with_process: bool) -> None:
    msg.trace_id = _trace_id_bytes(span.trace_id)
    msg.span_id = span.span_id.to_bytes(8, "big")
    msg.operation_name = span.name
    for ref in jaeger_references(span):
        r = msg.references.add()
        r.trace_id = _trace_id_bytes(ref.trace_id)
        r.span_id = ref.span_id.to_bytes(8, "big")
        if ref.ref_type:
            r.ref_type = int(ref.ref_type)
    if span.flags:
        msg.flags = span.flags & 0xFFFFFFFF
    _set_time(msg.start_time, span.start_time_ns)
    _set_duration(msg.duration, span.duration_ns)
    _fill_kvs(msg.tags, jaeger_tags(span))
    for event in span.events:
        lg = msg.logs.add()
        _set_time(lg.timestamp, event.time_ns)
        _fill_kvs(lg.fields, jaeger_log_fields(event))
    if with_process:
        _fill_process(msg.process, span.resource)
    if span.warnings:
        msg.warnings.extend(span.warnings)


def spans_to_proto(spans: Sequence[Span]) -> list[Any]:
    """Each span as an api_v2 ``Span`` with its process embedded, as the api_v2 query
    service returns them."""
    out = []
    for span in spans:
        msg = model_pb2.Span()
        _fill_span(msg, span, True)
        out.append(msg)
    return out


def batch_from_spans(spans: Sequence[Span]) -> Any:
    """An api_v2 ``Batch``: one batch-level process when every span has the same resource
    object (the usual case for spans decoded from one request), otherwise a process in
    every span and none on the batch."""
    batch = model_pb2.Batch()
    shared = spans[0].resource if spans else None
    if shared is not None and any(s.resource is not shared for s in spans):
        shared = None
    if shared is not None:
        _fill_process(batch.process, shared)
    for span in spans:
        _fill_span(batch.spans.add(), span, shared is None)
    return batch


# -- legacy api_v2 JSON -----------------------------------------------------------------

_VALUE_TYPES = {"STRING": 0, "BOOL": 1, "INT64": 2, "FLOAT64": 3, "BINARY": 4}
_REF_NAMES = {"CHILD_OF": RefType.CHILD_OF, "FOLLOWS_FROM": RefType.FOLLOWS_FROM}


def parse_go_duration(text: str) -> int:
    """Nanoseconds of a Go duration string (``"5000ns"``, ``"1h2m3.5s"``, ``"-1.5s"``);
    proto-JSON's ``"0.000005s"`` is the same syntax. Raises ``DecodeError``."""
    if not isinstance(text, str):
        raise DecodeError(f"invalid duration {text!r}")
    try:
        return godur.parse_duration(text)
    except ValueError as exc:
        raise DecodeError(str(exc)) from None


def parse_rfc3339(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time with up to nanosecond precision."""
    if not isinstance(text, str):
        raise DecodeError(f"invalid RFC 3339 time {text!r}")
    try:
        return gotime.parse_rfc3339_nano(text)
    except ValueError as exc:
        raise DecodeError(str(exc)) from None


def _b64_id(text: Any, is_trace: bool, what: str) -> int:
    if not isinstance(text, str):
        raise DecodeError(f"{what} must be a base64 string")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_" if ("-" in text or "_" in text) else None)
    except (binascii.Error, ValueError):
        raise DecodeError(f"{what} is not base64: {text!r}") from None
    if is_trace:
        return _trace_id(raw)
    return _span_id(raw)


_INT64 = (-(1 << 63), (1 << 63) - 1)
_UINT32 = (0, (1 << 32) - 1)


def _json_int(value: Any, what: str, bounds: tuple[int, int] = _INT64) -> int:
    """An integer (number or decimal string) within its protobuf type, as protobuf's JSON
    parser requires: a vInt64 of 2^70 could be acknowledged but never stored."""
    if isinstance(value, bool):
        raise DecodeError(f"{what} must be an integer")
    n: int | None = None
    if isinstance(value, int):
        n = value
    elif isinstance(value, float) and value.is_integer():
        n = int(value)
    elif isinstance(value, str):
        try:
            n = int(value)
        except ValueError:
            pass
    if n is None:
        raise DecodeError(f"{what} must be an integer, got {value!r}")
    if not bounds[0] <= n <= bounds[1]:
        raise DecodeError(f"{what} is out of range: {value!r}")
    return n


def _json_float(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if value in ("NaN", "Infinity", "-Infinity"):
        return float(value.replace("Infinity", "inf"))
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise DecodeError(f"vFloat64 must be a number, got {value!r}")


def _json_kvs(items: Any) -> list[KeyValue]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise DecodeError("tags/fields must be a list")
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise DecodeError("a tag must be an object")
        key = item.get("key", "")
        vtype = item.get("vType", "STRING")
        if isinstance(vtype, str):
            if vtype not in _VALUE_TYPES:
                raise DecodeError(f"unknown vType {vtype!r}")
            vtype = _VALUE_TYPES[vtype]
        if vtype == _V_STRING:
            value: Any = item.get("vStr", "")
            if not isinstance(value, str):
                raise DecodeError("vStr must be a string")
        elif vtype == _V_BOOL:
            value = item.get("vBool", False)
            if not isinstance(value, bool):
                raise DecodeError("vBool must be a boolean")
        elif vtype == _V_INT64:
            value = _json_int(item.get("vInt64", 0), "vInt64")
        elif vtype == _V_FLOAT64:
            value = _json_float(item.get("vFloat64", 0.0))
        elif vtype == _V_BINARY:
            raw = item.get("vBinary", "")
            try:
                value = base64.b64decode(raw + "=" * (-len(raw) % 4)) if isinstance(raw, str) else None
            except (binascii.Error, ValueError):
                value = None
            if value is None:
                raise DecodeError("vBinary must be base64")
        else:
            raise DecodeError(f"unknown vType {vtype!r}")
        out.append(KeyValue(str(key), value))
    return out


def _json_list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise DecodeError(f"{what} must be a list")
    return value


def _json_resource(process: Any) -> Resource:
    if not isinstance(process, dict):
        raise DecodeError("process must be an object")
    return Resource(str(process.get("serviceName", "")), _json_kvs(process.get("tags")))


def _json_span(obj: Any, resource: Resource) -> Span:
    if not isinstance(obj, dict):
        raise DecodeError("a span must be an object")
    trace_id = _b64_id(obj.get("traceId"), True, "traceId")
    refs = []
    for ref in _json_list(obj.get("references"), "references"):
        if not isinstance(ref, dict):
            raise DecodeError("a reference must be an object")
        rt = ref.get("refType", "CHILD_OF")
        ref_type = _REF_NAMES.get(rt) if isinstance(rt, str) else (_REF_TYPES[rt] if rt in (0, 1) else None)
        if ref_type is None:
            raise DecodeError(f"unknown refType {rt!r}")
        refs.append(JaegerRef(ref_type, _b64_id(ref.get("traceId"), True, "traceId"), _b64_id(ref.get("spanId"), False, "spanId")))
    logs = []
    for lg in _json_list(obj.get("logs"), "logs"):
        if not isinstance(lg, dict):
            raise DecodeError("a log must be an object")
        logs.append(Event(parse_rfc3339(lg.get("timestamp", "")), "", _json_kvs(lg.get("fields"))))
    duration = obj.get("duration", "0s")
    warnings = obj.get("warnings") or []
    if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        raise DecodeError("warnings must be a list of strings")
    return build_span(
        trace_id=trace_id,
        span_id=_b64_id(obj.get("spanId"), False, "spanId"),
        operation_name=str(obj.get("operationName", "")),
        start_time_ns=parse_rfc3339(obj.get("startTime", "")),
        duration_ns=parse_go_duration(duration),
        resource=resource,
        tags=_json_kvs(obj.get("tags")),
        logs=logs,
        references=refs,
        flags=_json_int(obj.get("flags", 0), "flags", _UINT32),
        warnings=list(warnings),
    )


def spans_from_json(obj: dict[str, Any]) -> list[Span]:
    """Spans of the protobuf-JSON form ``{"spans": [...]}`` (a ``Trace`` or ``Batch``).

    Each span's process is its embedded ``process``, else the entry of a ``Trace``'s
    ``processMap`` named by its ``processId``, else the ``Batch``'s ``process``, else an
    empty one. Spans with the same process object share one ``Resource``. Raises
    ``DecodeError``.
    """
    if not isinstance(obj, dict) or not isinstance(obj.get("spans", []), list):
        raise DecodeError('expected an object {"spans": [...]}')
    by_id: dict[str, Resource] = {}
    for mapping in obj.get("processMap") or ():
        if isinstance(mapping, dict) and "process" in mapping:
            by_id[str(mapping.get("processId", ""))] = _json_resource(mapping["process"])
    batch_resource = _json_resource(obj["process"]) if obj.get("process") else None
    cache: dict[int, Resource] = {}
    spans = []
    for s in obj.get("spans", []):
        process = s.get("process") if isinstance(s, dict) else None
        if process:
            resource = cache.get(id(process))
            if resource is None:
                resource = cache[id(process)] = _json_resource(process)
        elif isinstance(s, dict) and s.get("processId") in by_id:
            resource = by_id[s["processId"]]
        elif batch_resource is not None:
            resource = batch_resource
        else:  # as in the binary form: an empty service name, for the sanitizers to name
            resource = cache.get(0) or cache.setdefault(0, Resource(""))
        spans.append(_json_span(s, resource))
    return spans


def spans_to_json(spans: Sequence[Span]) -> dict[str, Any]:
    """``{"spans": [...]}`` in protobuf-JSON, each span with its process embedded."""
    out = []
    for msg in spans_to_proto(spans):
        out.append(json_format.MessageToDict(msg))
    return {"spans": out}


__all__ = [
    "batch_from_spans",
    "decode_post_spans",
    "parse_go_duration",
    "parse_rfc3339",
    "spans_from_batch",
    "spans_from_json",
    "spans_to_json",
    "spans_to_proto",
]
