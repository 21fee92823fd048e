"""Zipkin v1 Thrift (``zipkincore.thrift``) <-> model, in its two framings:

* ``POST /api/v1/spans`` with ``application/x-thrift``: a bare ``list<Span>`` in Thrift's
  binary protocol (``decode_zipkin_thrift`` / ``encode_zipkin_thrift``);
* the agent's UDP port 5775: one compact-protocol Thrift *message* ``emitZipkinBatch``
  whose args struct holds the ``list<Span>`` in field 1
  (``decode_agent_zipkin_batch`` / ``encode_agent_zipkin_batch``).

Spans are read with the generated ``zipkincore`` classes through the ``thrift`` runtime's C
extension, with string and container limits set to the payload size (see
``jaeger_thrift``); every runtime failure is a ``DecodeError``. Each v1 span is then
converted to v2 spans by ``zipkin_v1`` (Zipkin's rules) and mapped by ``zipkin_model``.

Wire details: IDs are signed i64 read as unsigned; ``trace_id_high`` makes a 128-bit trace
ID; ``Endpoint.ipv4`` is a signed i32 (0 = absent) and ``port`` a signed i16 read as
unsigned; ``ipv6`` is 16 bytes. Binary annotation values are big-endian bytes of their
``AnnotationType``: BOOL 1 byte, I16 2, I32 4, I64 8, DOUBLE 8 (IEEE 754), STRING UTF-8
(invalid bytes replaced), BYTES as they are. A value of the wrong size, an unknown type,
a missing ID, key or type, or a negative time is a ``DecodeError``.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from thrift.protocol.TBinaryProtocol import TBinaryProtocolAccelerated
from thrift.protocol.TCompactProtocol import TCompactProtocolAccelerated
from thrift.Thrift import TMessageType, TType
from thrift.transport.TTransport import TMemoryBuffer

from spyglass.codecs.errors import DecodeError
from spyglass.codecs.jaeger_thrift import read_agent_message_header, read_struct
from spyglass.codecs.thrift.gen.agent.Agent import emitZipkinBatch_args
from spyglass.codecs.thrift.gen.zipkincore import ttypes
from spyglass.codecs.zipkin_model import Endpoint, from_model, ip_bytes, ip_text
from spyglass.codecs.zipkin_v1 import (
    ADDRESS_KEYS,
    V1Annotation,
    V1BinaryAnnotation,
    V1Span,
    v1_spans_to_model,
    v2_to_v1,
)
from spyglass.model import AttrValue, Span

__all__ = [
    "decode_agent_zipkin_batch",
    "decode_zipkin_thrift",
    "encode_agent_zipkin_batch",
    "encode_zipkin_thrift",
]

_U64 = (1 << 64) - 1
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1
_MAX_MICROS = _I64_MAX // 1000
BOOL, BYTES, I16, I32, I64, DOUBLE, STRING = range(7)
_SIZES = {BOOL: 1, I16: 2, I32: 4, I64: 8, DOUBLE: 8}
_TYPE_NAMES = ("BOOL", "BYTES", "I16", "I32", "I64", "DOUBLE", "STRING")
_unpack_double = struct.Struct(">d").unpack
_pack_double = struct.Struct(">d").pack


# -- reading ------------------------------------------------------------------------------


def _endpoint(e: ttypes.Endpoint | None, cache: dict[tuple, Endpoint | None]) -> Endpoint | None:
    if e is None:
        return None
    key = (e.service_name, e.ipv4, e.ipv6, e.port)
    try:
        return cache[key]
    except KeyError:
        pass
    name, raw4, raw6, port = key
    ipv4 = ipv6 = ""
    if raw4:
        ipv4 = ip_text((raw4 & 0xFFFFFFFF).to_bytes(4, "big"))[1]
    if raw6:
        family, text = ip_text(raw6)
        if family == 4:
            ipv4 = ipv4 or text
        elif family == 6:
            ipv6 = text
    port = (port or 0) & 0xFFFF
    endpoint = Endpoint(name or "", ipv4, ipv6, port) if (name or ipv4 or ipv6 or port) else None
    cache[key] = endpoint
    return endpoint


def _micros(value: int | None, what: str) -> int:
    if value is None:
        return 0
    if not 0 <= value <= _MAX_MICROS:
        raise DecodeError(f"{what} {value} is out of range")
    return value


def _binary_value(b: ttypes.BinaryAnnotation) -> AttrValue:
    kind, raw, key = b.annotation_type, b.value or b"", b.key
    if kind == STRING:
        return raw.decode("utf-8", "replace")
    if kind == BYTES:
        return raw
    size = _SIZES.get(kind)  # type: ignore[arg-type]
    if size is None:
        raise DecodeError(f"binary annotation {key!r} has unknown annotation_type {kind}")
    if len(raw) != size:
        raise DecodeError(
            f"binary annotation {key!r} of type {_TYPE_NAMES[kind]} has {len(raw)} bytes, expected {size}"
        )
    if kind == BOOL:
        return raw != b"\x00"
    if kind == DOUBLE:
        return _unpack_double(raw)[0]
    return int.from_bytes(raw, "big", signed=True)


def _v1_span(s: ttypes.Span, endpoints: dict[tuple, Endpoint | None]) -> V1Span:
    if s.trace_id is None or s.id is None:
        raise DecodeError(f"zipkincore Span is missing {'trace_id' if s.trace_id is None else 'id'}")
    trace_id = s.trace_id & _U64
    if s.trace_id_high:
        trace_id |= (s.trace_id_high & _U64) << 64
    span_id = s.id & _U64
    if not trace_id or not span_id:
        raise DecodeError(f"zipkincore Span {'trace_id' if not trace_id else 'id'} is zero")
    annotations = []
    for a in s.annotations or ():
        if a.value is None:
            raise DecodeError("zipkincore Annotation has no value")
        timestamp = _micros(a.timestamp, "annotation timestamp")
        annotations.append(V1Annotation(timestamp, a.value, _endpoint(a.host, endpoints)))
    binary = []
    for b in s.binary_annotations or ():
        if b.key is None or b.annotation_type is None:
            raise DecodeError(f"zipkincore BinaryAnnotation is missing {'key' if b.key is None else 'annotation_type'}")
        value = _binary_value(b)
        host = _endpoint(b.host, endpoints)
        if b.annotation_type == BOOL and b.key in ADDRESS_KEYS:
            if value is True and host is not None:
                binary.append(V1BinaryAnnotation(b.key, None, host))
            continue
        binary.append(V1BinaryAnnotation(b.key, value, host))
    return V1Span(
        trace_id=trace_id,
        id=span_id,
        name=s.name or "",
        parent_id=(s.parent_id or 0) & _U64,
        timestamp=_micros(s.timestamp, "timestamp"),
        duration=_micros(s.duration, "duration"),
        debug=bool(s.debug),
        annotations=annotations,
        binary_annotations=binary,
    )


def _to_model(spans: Sequence[ttypes.Span]) -> list[Span]:
    endpoints: dict[tuple, Endpoint | None] = {}
    v1 = []
    for i, s in enumerate(spans):
        try:
            v1.append(_v1_span(s, endpoints))
        except DecodeError as exc:
            raise DecodeError(f"span {i}: {exc}") from None
    return v1_spans_to_model(v1)


def decode_zipkin_thrift(data: bytes) -> list[Span]:
    """A binary-protocol ``list<zipkincore.Span>`` (``/api/v1/spans`` body) as model spans."""
    if not isinstance(data, bytes):
        data = bytes(data)
    trans = TMemoryBuffer(data)
    limit = max(len(data), 1)
    proto = TBinaryProtocolAccelerated(trans, string_length_limit=limit, container_length_limit=limit)
    try:
        etype, size = proto.readListBegin()
    except Exception as exc:
        raise DecodeError(f"cannot decode Zipkin Thrift span list header: {type(exc).__name__}: {exc}") from None
    if etype != TType.STRUCT:
        raise DecodeError(f"Zipkin Thrift body must be a list of structs, got element type {etype}")
    if size < 0 or size > len(data):
        raise DecodeError(f"Zipkin Thrift span list claims {size} spans in {len(data)} bytes")
    spans = [read_struct(proto, ttypes.Span, "zipkincore Span") for _ in range(size)]
    left = len(data) - trans._buffer.tell()
    if left:
        raise DecodeError(f"{left} bytes of garbage after the Zipkin Thrift span list")
    return _to_model(spans)  # type: ignore[arg-type]


def decode_agent_zipkin_batch(data: bytes) -> list[Span]:
    """One agent UDP packet (port 5775): a compact ``emitZipkinBatch`` message."""
    header = read_agent_message_header(data, "compact")
    if header.name != "emitZipkinBatch":
        raise DecodeError(f"unsupported agent message {header.name!r}; expected 'emitZipkinBatch'")
    args = read_struct(header.proto, emitZipkinBatch_args, "emitZipkinBatch args")
    spans = args.spans  # type: ignore[attr-defined]
    if spans is None:
        raise DecodeError("emitZipkinBatch message has no spans")
    return _to_model(spans)


# -- writing ------------------------------------------------------------------------------


def _signed64(v: int) -> int:
    return v - (1 << 64) if v > _I64_MAX else v


def _thrift_endpoint(e: Endpoint | None) -> ttypes.Endpoint | None:
    if e is None:
        return None
    ipv4 = 0
    if e.ipv4:
        ipv4 = int.from_bytes(ip_bytes(e.ipv4), "big", signed=True)
    port = e.port - 0x10000 if e.port > 0x7FFF else e.port
    return ttypes.Endpoint(ipv4=ipv4, port=port, service_name=e.service_name, ipv6=ip_bytes(e.ipv6) if e.ipv6 else None)


def _thrift_binary(b: V1BinaryAnnotation, host: ttypes.Endpoint | None) -> ttypes.BinaryAnnotation:
    v = b.value
    if v is None:
        value, kind = b"\x01", BOOL
    elif isinstance(v, str):
        value, kind = v.encode("utf-8"), STRING
    elif isinstance(v, bool):
        value, kind = (b"\x01" if v else b"\x00"), BOOL
    elif isinstance(v, int) and _I64_MIN <= v <= _I64_MAX:
        value, kind = int(v).to_bytes(8, "big", signed=True), I64
    elif isinstance(v, float):
        value, kind = _pack_double(v), DOUBLE
    elif isinstance(v, (bytes, bytearray, memoryview)):
        value, kind = bytes(v), BYTES
    else:
        value, kind = str(v).encode("utf-8"), STRING
    return ttypes.BinaryAnnotation(key=b.key, value=value, annotation_type=kind, host=host)


def _thrift_spans(spans: Sequence[Span]) -> list[ttypes.Span]:
    out = []
    hosts: dict[Endpoint | None, ttypes.Endpoint | None] = {}

    def host(e: Endpoint | None) -> ttypes.Endpoint | None:
        if e not in hosts:
            hosts[e] = _thrift_endpoint(e)
        return hosts[e]

    for z in from_model(spans):
        v1 = v2_to_v1(z)
        high = v1.trace_id >> 64
        out.append(
            ttypes.Span(
                trace_id=_signed64(v1.trace_id & _U64),
                name=v1.name,
                id=_signed64(v1.id),
                parent_id=_signed64(v1.parent_id) if v1.parent_id else None,
                annotations=[ttypes.Annotation(a.timestamp, a.value, host(a.endpoint)) for a in v1.annotations],
                binary_annotations=[_thrift_binary(b, host(b.endpoint)) for b in v1.binary_annotations],
                debug=True if v1.debug else None,
                timestamp=v1.timestamp or None,
                duration=v1.duration or None,
                trace_id_high=_signed64(high) if high else None,
            )
        )
    return out


def encode_zipkin_thrift(spans: Sequence[Span]) -> bytes:
    """Model spans as a binary-protocol ``list<zipkincore.Span>`` (``/api/v1/spans`` body)."""
    trans = TMemoryBuffer()
    proto = TBinaryProtocolAccelerated(trans)
    items = _thrift_spans(spans)
    proto.writeListBegin(TType.STRUCT, len(items))
    for item in items:
        item.write(proto)
    proto.writeListEnd()
    return trans.getvalue()


def encode_agent_zipkin_batch(spans: Sequence[Span], seq_id: int = 0) -> bytes:
    """Model spans as one compact ONEWAY ``emitZipkinBatch`` message (a 5775 UDP packet;
    not split: keep batches under the packet size yourself)."""
    trans = TMemoryBuffer()
    proto = TCompactProtocolAccelerated(trans)
    proto.writeMessageBegin("emitZipkinBatch", TMessageType.ONEWAY, seq_id)
    emitZipkinBatch_args(spans=_thrift_spans(spans)).write(proto)
    proto.writeMessageEnd()
    return trans.getvalue()
