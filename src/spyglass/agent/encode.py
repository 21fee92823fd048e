"""Encoding for the agent's reporter: Jaeger Thrift agent packets transcoded straight to
``jaeger.api_v2`` span messages, and model spans (from the Zipkin port) encoded to the same.

The agent re-encodes every span it receives, so this is half its CPU per span. Thrift and
api_v2 describe the same Jaeger span, so a Thrift span is transcoded field by field without
building a model span: IDs, times, references and flags written by hand, and each tag's
``KeyValue`` bytes remembered by (key, type, value), because tags repeat from span to span
(``http.method=GET``, ``component``, ``span.kind``). Tags pass through verbatim, as Jaeger's
agent passes them; the collector applies the Jaeger rules (kind, status, parent) when it
decodes, exactly as for a Thrift packet (tests/agent/test_encode.py checks that a packet
sent through here decodes to the same spans as the packet itself).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from spyglass.agent.packet import Packet
from spyglass.codecs.protowire import len_field, varint
from spyglass.codecs import jaeger_thrift
from spyglass.codecs.errors import DecodeError
from spyglass.codecs.proto.fastpath import jaeger_model_pb2 as fast_pb2
from spyglass.codecs.jaeger_common import jaeger_log_fields, jaeger_process_tags, jaeger_references, jaeger_tags
from spyglass.codecs.thrift.gen.agent.Agent import emitBatch_args
from spyglass.model import KeyValue, Resource, Span

_U64 = (1 << 64) - 1
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_MAX_CACHED = 50_000
_pack_double = struct.Struct("<d").pack

# Thrift TagType -> the value's api_v2 encoding. Thrift: STRING 0, DOUBLE 1, BOOL 2, LONG 3,
# BINARY 4; api_v2 ValueType: STRING 0, BOOL 1, INT64 2, FLOAT64 3, BINARY 4.
_DEFAULTS = ("", 0.0, False, 0, b"")


_key_heads: dict[str, bytes] = {}


def kv_body(key: str, value: Any) -> bytes:
    """One ``jaeger.api_v2.KeyValue`` message body for a Jaeger-safe value (str, bool, int,
    float, bytes; anything else as its text, an int beyond int64 as its digits)."""
    head = _key_heads.get(key)
    if head is None:
        head = len_field(b"\x0a", key.encode())
        if len(_key_heads) < _MAX_CACHED:
            _key_heads[key] = head
    t = type(value)
    if t is str:
        return head + len_field(b"\x1a", value.encode()) if value else head
    if t is bool or isinstance(value, bool):
        return head + (b"\x10\x01\x20\x01" if value else b"\x10\x01")
    if (t is int or isinstance(value, int)) and _INT64_MIN <= value <= _INT64_MAX:
        return head + b"\x10\x02" + (b"\x28" + varint(int(value) & _U64) if value else b"")
    if t is float or isinstance(value, float):
        return head + b"\x10\x03\x31" + _pack_double(float(value))
    if t is bytes:
        return head + b"\x10\x04" + (len_field(b"\x3a", value) if value else b"")
    text = str(value)
    return head + len_field(b"\x1a", text.encode()) if text else head


# (key, type, value) -> KeyValue body. Bounded: cleared when full (unique values, such as
# URLs and IDs, would otherwise grow it without end).
_kv_cache: dict[tuple[Any, ...], bytes] = {}


def _kv_miss(cache_key: tuple[Any, ...], key: Any, value: Any) -> bytes:
    if key is None:
        raise DecodeError("Jaeger Thrift Tag has no key")
    out = kv_body(key, value)
    if len(_kv_cache) >= _MAX_CACHED:
        _kv_cache.clear()
    _kv_cache[cache_key] = out
    return out


def _thrift_tags(tags: list[Any]) -> list[bytes]:
    out = []
    get = _kv_cache.get
    for t in tags:
        vt = t.vType
        if vt == 0:
            v = t.vStr
        elif vt == 3:
            v = t.vLong
        elif vt == 2:
            v = t.vBool
        elif vt == 1:
            v = t.vDouble
        elif vt == 4:
            v = t.vBinary
        else:
            raise DecodeError(f"Jaeger Thrift Tag {t.key!r} has {'no' if vt is None else 'unknown'} vType {vt}")
        if v is None:
            v = _DEFAULTS[vt]
        k = (t.key, vt, v)
        b = get(k)
        out.append(b if b is not None else _kv_miss(k, t.key, v))
    return out


def _set_micros(target: Any, us: int) -> None:
    if us >= 0:
        seconds, rest = divmod(us, 1_000_000)
    else:  # same sign for seconds and nanos, as protobuf wants
        seconds = -((-us) // 1_000_000)
        rest = us - seconds * 1_000_000
    target.seconds = seconds
    target.nanos = rest * 1000


def _thrift_span(msg: Any, s: Any) -> None:
    high = s.traceIdHigh  # may be absent: a 64-bit trace ID, as the model decoder reads it
    tid = ((((high & _U64) << 64) | (s.traceIdLow & _U64)) if high else s.traceIdLow & _U64).to_bytes(16, "big")
    name = s.operationName
    flags = s.flags
    if name is None or flags is None:
        raise DecodeError(f"Jaeger Thrift Span is missing {'operationName' if name is None else 'flags'}")
    msg.trace_id = tid
    msg.span_id = (s.spanId & _U64).to_bytes(8, "big")
    msg.operation_name = name
    parent = s.parentSpanId & _U64
    refs = s.references
    if parent:
        r = msg.references.add()
        r.trace_id = tid
        r.span_id = parent.to_bytes(8, "big")
    if refs:
        skipped = not parent
        for ref in refs:
            rt = ref.refType
            if rt != 0 and rt != 1:
                raise DecodeError(f"Jaeger Thrift SpanRef has unknown refType {rt}")
            rhigh = ref.traceIdHigh
            rtid = (((rhigh & _U64) << 64) | (ref.traceIdLow & _U64)).to_bytes(16, "big")
            rsid = ref.spanId & _U64
            if not skipped and rt == 0 and rtid == tid and rsid == parent:
                skipped = True  # the parent, already written first
                continue
            r = msg.references.add()
            r.trace_id = rtid
            r.span_id = rsid.to_bytes(8, "big")
            if rt:
                r.ref_type = 1
    if flags:
        msg.flags = flags & 0xFFFFFFFF
    _set_micros(msg.start_time, s.startTime)
    _set_micros(msg.duration, s.duration)
    if s.tags:
        msg.tags.extend(_thrift_tags(s.tags))
    if s.logs:
        for log in s.logs:
            ts = log.timestamp
            fields = log.fields
            if ts is None or fields is None:  # both required, as the model decoder has them
                raise DecodeError(f"Jaeger Thrift Log has no {'timestamp' if ts is None else 'fields'}")
            lg = msg.logs.add()
            _set_micros(lg.timestamp, ts)
            if fields:
                lg.fields.extend(_thrift_tags(fields))


def _thrift_process(process: Any) -> bytes:
    if process is None:
        raise DecodeError("Jaeger Thrift Batch has no process")
    if process.serviceName is None:
        raise DecodeError("Jaeger Thrift Process has no serviceName")
    out = len_field(b"\x0a", process.serviceName.encode())
    if process.tags:
        out += b"".join([len_field(b"\x12", kv) for kv in _thrift_tags(process.tags)])
    return out


def transcode_agent_message(data: bytes, protocol: str = "compact") -> Packet:
    """One agent UDP packet (an ``emitBatch`` message) as a ``Packet``; DecodeError for
    anything that is not a valid Jaeger batch (the same checks as the model decoder)."""
    header = jaeger_thrift.read_agent_message_header(data, protocol)
    if header.name != "emitBatch":
        raise DecodeError(f"unsupported agent message {header.name!r}; expected 'emitBatch'")
    args = jaeger_thrift.read_struct(header.proto, emitBatch_args, "emitBatch args")
    batch = args.batch  # type: ignore[attr-defined]
    if batch is None:
        raise DecodeError("emitBatch message has no batch")
    if batch.spans is None:
        raise DecodeError("Jaeger Thrift Batch has no spans")
    try:
        process = _thrift_process(batch.process)
        out = fast_pb2.Batch()
        add = out.spans.add
        for s in batch.spans:
            _thrift_span(add(), s)
        return Packet(process, out.SerializeToString(), len(batch.spans))
    except (TypeError, AttributeError):  # a required field is missing: let the decoder name it
        jaeger_thrift.batch_to_spans(batch)
        raise DecodeError("Jaeger Thrift Batch is missing a required field") from None


# -- model spans (the Zipkin port) -------------------------------------------------------------


def _model_tags(kvs: list[KeyValue]) -> list[bytes]:
    get = _kv_cache.get
    out = []
    for key, value in kvs:
        k = (key, type(value), value)
        b = get(k)
        out.append(b if b is not None else _kv_miss(k, key, value))
    return out


def _model_span(msg: Any, span: Span) -> None:
    msg.trace_id = span.trace_id.to_bytes(16, "big")
    msg.span_id = span.span_id.to_bytes(8, "big")
    msg.operation_name = span.name
    for ref in jaeger_references(span):
        r = msg.references.add()
        r.trace_id = ref.trace_id.to_bytes(16, "big")
        r.span_id = ref.span_id.to_bytes(8, "big")
        if ref.ref_type:
            r.ref_type = int(ref.ref_type)
    if span.flags & 0xFFFFFFFF:
        msg.flags = span.flags & 0xFFFFFFFF
    seconds, nanos = divmod(span.start_time_ns, 1_000_000_000)
    msg.start_time.seconds = seconds
    msg.start_time.nanos = nanos
    d = span.duration_ns
    seconds = int(d / 1_000_000_000) if d < 0 else d // 1_000_000_000
    msg.duration.seconds = seconds
    msg.duration.nanos = d - seconds * 1_000_000_000
    msg.tags.extend(_model_tags(jaeger_tags(span)))
    for event in span.events:
        lg = msg.logs.add()
        seconds, nanos = divmod(event.time_ns, 1_000_000_000)
        lg.timestamp.seconds = seconds
        lg.timestamp.nanos = nanos
        lg.fields.extend(_model_tags(jaeger_log_fields(event)))
    if span.warnings:
        msg.warnings.extend(span.warnings)


def _model_process(resource: Resource) -> bytes:
    return len_field(b"\x0a", resource.service_name.encode()) + b"".join(
        [len_field(b"\x12", kv) for kv in _model_tags(jaeger_process_tags(resource))])


def packets_from_spans(spans: Sequence[Span]) -> list[Packet]:
    """Model spans as packets, one per distinct resource."""
    by_resource: dict[int, tuple[Resource, Any, int]] = {}
    for span in spans:
        entry = by_resource.get(id(span.resource))
        if entry is None:
            entry = by_resource[id(span.resource)] = (span.resource, fast_pb2.Batch(), 0)
        _model_span(entry[1].spans.add(), span)
    return [Packet(_model_process(r), b.SerializeToString(), len(b.spans)) for r, b, _ in by_resource.values()]


def process_tags_suffix(tags: list[KeyValue]) -> bytes:
    """The agent's tags as ``Process.tags`` fields, appended to every packet's process."""
    return b"".join(len_field(b"\x12", kv_body(k, v)) for k, v in tags)
