"""Zipkin proto3 (``POST /api/v2/spans``, ``application/x-protobuf``) <-> model.

The body is one ``ListOfSpans`` of ``proto/zipkin/zipkin.proto`` (Zipkin's field numbers;
see that file for why its package name differs). IDs are big-endian bytes: a trace ID of
8 or 16 bytes, a span ID (and a parent ID, when present) of 8; any other length, or a zero
trace or span ID, is a ``DecodeError``. IPs are packed 4- or 16-byte addresses (other
lengths are dropped, like invalid IP text in JSON). Kinds outside the enum are no kind.
The mapping onto the model is ``zipkin_model``'s; encoding builds the messages with
``add()`` and field assignment (the fast way with upb).
"""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.message import DecodeError as ProtoDecodeError

from spyglass.codecs.errors import DecodeError
from spyglass.codecs.proto.zipkin import zipkin_pb2
from spyglass.codecs.zipkin_model import Endpoint, ModelBuilder, from_model, ip_bytes, ip_text, tag_text
from spyglass.model import Span

__all__ = ["decode_zipkin_proto", "encode_zipkin_proto"]

_KINDS = ("", "CLIENT", "SERVER", "PRODUCER", "CONSUMER")
_KIND_NUMBER = {name: i for i, name in enumerate(_KINDS) if name}
_MAX_MICROS = ((1 << 63) - 1) // 1000


def _endpoint(e: zipkin_pb2.Endpoint, cache: dict[tuple, Endpoint | None]) -> Endpoint | None:
    key = (e.service_name, e.ipv4, e.ipv6, e.port)
    try:
        return cache[key]
    except KeyError:
        pass
    name, raw4, raw6, port = key
    ipv4 = ip_text(raw4)[1] if raw4 else ""
    ipv6 = ""
    if raw6:
        family, text = ip_text(raw6)
        if family == 4:  # IPv4-mapped
            ipv4 = ipv4 or text
        else:
            ipv6 = text
    port = port & 0xFFFF if port else 0
    endpoint = None
    if name or ipv4 or ipv6 or port:
        endpoint = Endpoint(name, ipv4, ipv6, port)
    cache[key] = endpoint
    return endpoint


def decode_zipkin_proto(data: bytes) -> list[Span]:
    """A ``ListOfSpans`` as model spans; raises DecodeError."""
    try:
        message = zipkin_pb2.ListOfSpans.FromString(data)
    except (ProtoDecodeError, ValueError, TypeError) as exc:
        raise DecodeError(f"invalid Zipkin proto3 ListOfSpans: {exc}") from None
    build = ModelBuilder().span
    endpoints: dict[tuple, Endpoint | None] = {}
    out: list[Span] = []
    append = out.append
    for i, s in enumerate(message.spans):
        raw_trace, raw_id, raw_parent = s.trace_id, s.id, s.parent_id
        if len(raw_trace) not in (8, 16):
            raise DecodeError(f"span {i}: trace_id must be 8 or 16 bytes, got {len(raw_trace)}")
        if len(raw_id) != 8:
            raise DecodeError(f"span {i}: id must be 8 bytes, got {len(raw_id)}")
        if raw_parent and len(raw_parent) != 8:
            raise DecodeError(f"span {i}: parent_id must be 8 bytes, got {len(raw_parent)}")
        trace_id = int.from_bytes(raw_trace, "big")
        span_id = int.from_bytes(raw_id, "big")
        if not trace_id or not span_id:
            raise DecodeError(f"span {i}: {'trace_id' if not trace_id else 'id'} is zero")
        ts, duration = s.timestamp, s.duration
        if ts > _MAX_MICROS or duration > _MAX_MICROS:
            raise DecodeError(f"span {i}: timestamp or duration out of range")
        for a in s.annotations:
            if a.timestamp > _MAX_MICROS:
                raise DecodeError(f"span {i}: annotation timestamp out of range")
        kind = s.kind
        tags = s.tags
        append(
            build(
                trace_id,
                span_id,
                int.from_bytes(raw_parent, "big") if raw_parent else 0,
                _KINDS[kind] if 0 <= kind < 5 else "",
                s.name,
                ts,
                duration,
                _endpoint(s.local_endpoint, endpoints) if s.HasField("local_endpoint") else None,
                _endpoint(s.remote_endpoint, endpoints) if s.HasField("remote_endpoint") else None,
                s.annotations,
                {k: tags[k] for k in tags} if tags else None,  # faster than the map's items()
                s.debug,
                s.shared,
            )
        )
    return out


def _fill_endpoint(dest: zipkin_pb2.Endpoint, e: Endpoint) -> None:
    if e.service_name:
        dest.service_name = e.service_name
    if e.ipv4:
        dest.ipv4 = ip_bytes(e.ipv4)
    if e.ipv6:
        dest.ipv6 = ip_bytes(e.ipv6)
    if e.port:
        dest.port = e.port
    if not (e.service_name or e.ipv4 or e.ipv6 or e.port):
        dest.SetInParent()


def encode_zipkin_proto(spans: Sequence[Span]) -> bytes:
    """Model spans as a serialized ``ListOfSpans``."""
    message = zipkin_pb2.ListOfSpans()
    add = message.spans.add
    for z in from_model(spans):
        s = add()
        trace_id = z.trace_id
        s.trace_id = trace_id.to_bytes(16 if trace_id >> 64 else 8, "big")
        s.id = z.id.to_bytes(8, "big")
        if z.parent_id:
            s.parent_id = z.parent_id.to_bytes(8, "big")
        if z.kind:
            s.kind = _KIND_NUMBER[z.kind]  # type: ignore[assignment]
        if z.name:
            s.name = z.name
        if z.timestamp:
            s.timestamp = z.timestamp
        if z.duration:
            s.duration = z.duration
        if z.local_endpoint is not None:
            _fill_endpoint(s.local_endpoint, z.local_endpoint)
        if z.remote_endpoint is not None:
            _fill_endpoint(s.remote_endpoint, z.remote_endpoint)
        for a in z.annotations:
            pa = s.annotations.add()
            pa.timestamp = a.timestamp
            pa.value = a.value
        if z.tags:
            tags = s.tags
            for k, v in z.tags.items():
                tags[k] = tag_text(v)
        if z.debug:
            s.debug = True
        if z.shared:
            s.shared = True
    return message.SerializeToString()
