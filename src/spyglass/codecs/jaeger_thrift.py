"""Jaeger Thrift (``jaeger.thrift`` ``Batch``, binary and compact protocols) <-> model.

Two framings carry the same ``Batch``:

* ``POST /api/traces`` on the collector: a bare ``Batch`` struct, binary protocol
  (``decode_batch`` / ``encode_batch``);
* the agent's UDP ports: one Thrift *message* per packet, ``emitBatch`` whose args struct
  holds the ``Batch`` in field 1; compact protocol on 6831, binary on 6832
  (``decode_agent_message`` / ``encode_agent_message``).

Decoding goes through the generated classes and the ``thrift`` runtime's C extension
(``fastbinary``), which is 5-10x faster than any pure-Python Thrift reader and bounds
nesting depth itself. Its string and container limits are set to the payload size: no
element of a valid payload can be longer than the payload, so a forged length of 2**31 is
refused before anything is allocated. Every failure of the Thrift runtime (EOF, overflow,
bad varint, recursion, ...) becomes ``DecodeError``.

Mapping rules (Jaeger's ``model/converter/thrift/jaeger``), applied through
``jaeger_common``: signed Thrift i64 IDs are read as unsigned; ``traceIdHigh``/``Low`` join
into one 128-bit ID; times are microseconds on the wire and nanoseconds in the model; a tag
whose value field is missing has its type's zero value; an unknown ``TagType`` or
``SpanRefType`` is an error; a missing required field is an error (except a missing
``traceIdHigh``, read as 0 like a 64-bit ID); ``seqNo`` and ``ClientStats`` are ignored.

The agent's other message, ``emitZipkinBatch``, belongs to the Zipkin Thrift codec; it uses
``read_agent_message_header`` and ``read_struct`` from here to get at the args struct.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from thrift.protocol.TBinaryProtocol import TBinaryProtocolAccelerated
from thrift.protocol.TCompactProtocol import TCompactProtocolAccelerated
from thrift.protocol.TProtocol import TProtocolBase
from thrift.Thrift import TMessageType
from thrift.transport.TTransport import TMemoryBuffer

from spyglass.codecs.errors import DecodeError
from spyglass.codecs.jaeger_common import (
    JaegerRef,
    build_span,
    jaeger_log_fields,
    jaeger_process_tags,
    jaeger_references,
    jaeger_tags,
    jaeger_value,
)
from spyglass.codecs.thrift.gen.agent.Agent import emitBatch_args
from spyglass.codecs.thrift.gen.jaeger.ttypes import Batch, Log, Process, Span as TSpan, SpanRef, Tag
from spyglass.model import Event, KeyValue, RefType, Resource, Span, attr_as_string

__all__ = [
    "ACCELERATED",
    "AgentMessageHeader",
    "PROTOCOLS",
    "batch_to_spans",
    "decode_agent_message",
    "decode_batch",
    "encode_agent_message",
    "encode_batch",
    "encode_batches",
    "group_by_resource",
    "read_agent_message_header",
    "read_struct",
    "split_agent_messages",
]

PROTOCOLS = ("binary", "compact")

_U64 = (1 << 64) - 1
_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1
_U32 = (1 << 32) - 1

# TagType and SpanRefType numbers from jaeger.thrift.
_STRING, _DOUBLE, _BOOL, _LONG, _BINARY = 0, 1, 2, 3, 4
_REF_TYPES = (RefType.CHILD_OF, RefType.FOLLOWS_FROM)

_new_kv = tuple.__new__  # KeyValue(k, v) without the NamedTuple __new__ frame; hot path


def _new_protocol(trans: TMemoryBuffer, protocol: str, limit: int | None) -> TProtocolBase:
    if protocol == "compact":
        return TCompactProtocolAccelerated(trans, string_length_limit=limit, container_length_limit=limit)
    if protocol == "binary":
        # strictRead=False accepts both the old and the versioned message header, as Jaeger does.
        return TBinaryProtocolAccelerated(
            trans, strictRead=False, string_length_limit=limit, container_length_limit=limit
        )
    raise ValueError(f"unknown Thrift protocol {protocol!r}; expected one of {PROTOCOLS}")


def _accelerated() -> bool:
    """Whether the generated classes will decode and encode with the C extension."""
    try:
        from thrift.protocol import fastbinary  # noqa: F401
    except ImportError:
        return False
    protos = [_new_protocol(TMemoryBuffer(b""), p, None) for p in PROTOCOLS]
    return all(p._fast_decode is not None and p._fast_encode is not None for p in protos)


ACCELERATED: bool = _accelerated()
"""True when Thrift's ``fastbinary`` C extension is in use (tests assert it)."""
if not ACCELERATED:
    logging.getLogger(__name__).warning(
        "thrift's fastbinary C extension is missing: Jaeger Thrift decoding will be ~6x slower"
    )


# -- reading ------------------------------------------------------------------------------


def _reader(data: bytes, protocol: str) -> TProtocolBase:
    if not isinstance(data, bytes):
        data = bytes(data)
    # No string or container in a valid payload is longer than the payload itself.
    return _new_protocol(TMemoryBuffer(data), protocol, max(len(data), 1))


def read_struct(proto: TProtocolBase, cls: type, what: str) -> object:
    """Read one Thrift struct of generated class ``cls`` from ``proto``; every failure of
    the Thrift runtime becomes ``DecodeError`` naming ``what``."""
    obj = cls()
    try:
        obj.read(proto)
    except DecodeError:
        raise
    except Exception as exc:  # the runtime raises many types; none may escape a decoder
        raise DecodeError(f"cannot decode {what}: {_describe(exc)}") from None
    return obj


def _describe(exc: BaseException) -> str:
    text = str(exc) or getattr(exc, "message", "") or ""
    if "exceeded specified limit" in text:
        return f"a declared string or container length exceeds the payload size ({text})"
    if isinstance(exc, EOFError) or "EOF" in text or "end of file" in text.lower():
        return "truncated payload" + (f" ({text})" if text else "")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class AgentMessageHeader(NamedTuple):
    """A Thrift message header of one agent UDP packet. ``proto`` is positioned at the
    args struct: pass it to ``read_struct`` with the message's generated ``*_args`` class."""

    name: str
    type: int
    seq_id: int
    proto: TProtocolBase


def read_agent_message_header(data: bytes, protocol: str) -> AgentMessageHeader:
    """Read the message header of an agent packet (``emitBatch`` or ``emitZipkinBatch``).

    Only CALL and ONEWAY messages are accepted (clients send ONEWAY; some send CALL). The
    Zipkin codec uses this to decode ``emitZipkinBatch`` with its own args class::

        header = read_agent_message_header(data, "compact")
        if header.name == "emitZipkinBatch":
            args = read_struct(header.proto, emitZipkinBatch_args, "emitZipkinBatch args")
    """
    proto = _reader(data, protocol)
    try:
        name, mtype, seq_id = proto.readMessageBegin()
    except Exception as exc:
        raise DecodeError(f"cannot decode Thrift {protocol} message header: {_describe(exc)}") from None
    if mtype not in (TMessageType.ONEWAY, TMessageType.CALL):
        raise DecodeError(f"unexpected Thrift message type {mtype} for {name!r}; expected ONEWAY or CALL")
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    return AgentMessageHeader(name, mtype, seq_id, proto)


def decode_batch(data: bytes, protocol: str = "binary") -> list[Span]:
    """A bare ``Batch`` struct (the body of ``POST /api/traces``) as model spans."""
    batch = read_struct(_reader(data, protocol), Batch, "Jaeger Thrift Batch")
    return batch_to_spans(batch)  # type: ignore[arg-type]


def decode_agent_message(data: bytes, protocol: str = "compact") -> list[Span]:
    """One agent UDP packet: an ``emitBatch`` message; any other message is DecodeError."""
    header = read_agent_message_header(data, protocol)
    if header.name != "emitBatch":
        raise DecodeError(f"unsupported agent message {header.name!r}; expected 'emitBatch'")
    args = read_struct(header.proto, emitBatch_args, "emitBatch args")
    batch = args.batch  # type: ignore[attr-defined]
    if batch is None:
        raise DecodeError("emitBatch message has no batch")
    return batch_to_spans(batch)


def batch_to_spans(batch: Batch) -> list[Span]:
    """A decoded Thrift ``Batch`` as model spans sharing one ``Resource``."""
    try:
        return _convert(batch)
    except (TypeError, AttributeError):
        # A required field was missing (None where a value was needed); say which one.
        raise DecodeError(_missing_field(batch)) from None


def _convert(batch: Batch) -> list[Span]:
    process = batch.process
    if process is None:
        raise DecodeError("Jaeger Thrift Batch has no process")
    spans = batch.spans
    if spans is None:
        raise DecodeError("Jaeger Thrift Batch has no spans")
    service = process.serviceName
    if service is None:
        raise DecodeError("Jaeger Thrift Process has no serviceName")
    resource = Resource(service, _tags(process.tags) if process.tags else [])
    out: list[Span] = []
    append = out.append
    for s in spans:
        high = s.traceIdHigh
        trace_id = ((high & _U64) << 64) | (s.traceIdLow & _U64) if high else s.traceIdLow & _U64
        name = s.operationName
        flags = s.flags
        if name is None or flags is None:
            raise DecodeError(f"Jaeger Thrift Span is missing {'operationName' if name is None else 'flags'}")
        refs = s.references
        logs = s.logs
        tags = s.tags
        append(
            build_span(
                trace_id=trace_id,
                span_id=s.spanId & _U64,
                operation_name=name,
                start_time_ns=s.startTime * 1000,
                duration_ns=s.duration * 1000,
                resource=resource,
                tags=_tags(tags) if tags else [],
                logs=[Event(log.timestamp * 1000, "", _tags(log.fields)) for log in logs] if logs else [],
                references=_refs(refs) if refs else [],
                parent_span_id=s.parentSpanId & _U64,
                flags=flags & _U32,
            )
        )
    return out


def _tags(tags: list[Tag]) -> list[KeyValue]:
    out: list[KeyValue] = []
    append = out.append
    for t in tags:
        vt = t.vType
        if vt == _STRING:
            v = t.vStr
            if v is None:
                v = ""
        elif vt == _LONG:
            v = t.vLong
            if v is None:
                v = 0
        elif vt == _BOOL:
            v = t.vBool
            if v is None:
                v = False
        elif vt == _DOUBLE:
            v = t.vDouble
            if v is None:
                v = 0.0
        elif vt == _BINARY:
            v = t.vBinary
            if v is None:
                v = b""
        elif vt is None:
            raise DecodeError(f"Jaeger Thrift Tag {t.key!r} has no vType")
        else:
            raise DecodeError(f"Jaeger Thrift Tag {t.key!r} has unknown vType {vt}")
        key = t.key
        if key is None:
            raise DecodeError("Jaeger Thrift Tag has no key")
        append(_new_kv(KeyValue, (key, v)))
    return out


def _refs(refs: list[SpanRef]) -> list[JaegerRef]:
    out = []
    for r in refs:
        rt = r.refType
        if rt != 0 and rt != 1:
            raise DecodeError(f"Jaeger Thrift SpanRef has unknown refType {rt}")
        high = r.traceIdHigh
        out.append(
            _new_kv(
                JaegerRef,
                (_REF_TYPES[rt], ((high & _U64) << 64) | (r.traceIdLow & _U64), r.spanId & _U64),
            )
        )
    return out


def _missing_field(batch: Batch) -> str:
    """The first required field that is unset, found with the generated validators."""

    def objects() -> Iterable[object]:
        yield batch
        if batch.process is not None:
            yield batch.process
            yield from batch.process.tags or ()
        for s in batch.spans or ():
            yield s
            yield from s.tags or ()
            yield from s.references or ()
            for log in s.logs or ():
                yield log
                yield from log.fields or ()

    for obj in objects():
        try:
            obj.validate()  # type: ignore[attr-defined]
        except Exception as exc:
            return f"invalid Jaeger Thrift {type(obj).__name__}: {getattr(exc, 'message', exc)}"
    return "invalid Jaeger Thrift Batch: a required field is missing"


# -- writing ------------------------------------------------------------------------------


def _signed64(v: int) -> int:
    return v - (1 << 64) if v > _I64_MAX else v


def _thrift_tags(tags: list[KeyValue]) -> list[Tag]:
    out = []
    for key, v in tags:
        t = type(v)
        if t is str:
            out.append(Tag(key, _STRING, v))
        elif t is bool:
            out.append(Tag(key, _BOOL, vBool=v))
        elif t is int:
            if _I64_MIN <= v <= _I64_MAX:
                out.append(Tag(key, _LONG, vLong=v))
            else:  # outside Thrift's i64: keep the digits rather than fail the batch
                out.append(Tag(key, _STRING, str(v)))
        elif t is float:
            out.append(Tag(key, _DOUBLE, vDouble=v))
        elif t is bytes:
            out.append(Tag(key, _BINARY, vBinary=v))
        else:
            out.append(_odd_tag(key, v))
    return out


def _odd_tag(key: str, v: object) -> Tag:
    """Subclasses (IntEnum, bytearray, ...) of the plain types, or anything else as text."""
    if isinstance(v, bool):
        return Tag(key, _BOOL, vBool=bool(v))
    if isinstance(v, int) and _I64_MIN <= v <= _I64_MAX:
        return Tag(key, _LONG, vLong=int(v))
    if isinstance(v, float):
        return Tag(key, _DOUBLE, vDouble=float(v))
    if isinstance(v, (bytes, bytearray, memoryview)):
        return Tag(key, _BINARY, vBinary=bytes(v))
    if isinstance(v, str):
        return Tag(key, _STRING, str(v))
    return Tag(key, _STRING, attr_as_string(jaeger_value(v)))  # type: ignore[arg-type]


def _thrift_span(span: Span) -> TSpan:
    high, low = span.trace_id >> 64, span.trace_id & _U64
    parent = span.parent_span_id
    refs = jaeger_references(span)
    if parent:
        refs = refs[1:]  # the parent travels as parentSpanId, an implicit CHILD_OF
    flags = span.flags & _U32
    return TSpan(
        traceIdLow=_signed64(low),
        traceIdHigh=_signed64(high),
        spanId=_signed64(span.span_id),
        parentSpanId=_signed64(parent),
        operationName=span.name,
        references=[
            SpanRef(int(r.ref_type), _signed64(r.trace_id & _U64), _signed64(r.trace_id >> 64), _signed64(r.span_id))
            for r in refs
        ]
        or None,
        flags=flags - (1 << 32) if flags >= 1 << 31 else flags,
        startTime=span.start_time_ns // 1000,
        duration=span.duration_ns // 1000,
        tags=_thrift_tags(jaeger_tags(span)) or None,
        logs=[Log(e.time_ns // 1000, _thrift_tags(jaeger_log_fields(e))) for e in span.events] or None,
    )


def _thrift_process(resource: Resource) -> Process:
    return Process(resource.service_name, _thrift_tags(jaeger_process_tags(resource)) or None)


def _one_resource(spans: Sequence[Span]) -> Resource:
    if not spans:
        raise ValueError("a Jaeger Thrift Batch needs at least one span (its process comes from them)")
    resource = spans[0].resource
    for s in spans:
        if s.resource is not resource and s.resource != resource:
            raise ValueError("all spans of one Jaeger Thrift Batch must share one Resource; use encode_batches")
    return resource


def _batch(spans: Sequence[Span]) -> Batch:
    return Batch(process=_thrift_process(_one_resource(spans)), spans=[_thrift_span(s) for s in spans])


def _write(obj: object, protocol: str) -> bytes:
    trans = TMemoryBuffer()
    obj.write(_new_protocol(trans, protocol, None))  # type: ignore[attr-defined]
    return trans.getvalue()


def encode_batch(spans: Sequence[Span], protocol: str = "binary") -> bytes:
    """A bare ``Batch`` (for ``POST /api/traces``). All spans must share one ``Resource``."""
    return _write(_batch(spans), protocol)


def _message(args: emitBatch_args, protocol: str, seq_id: int) -> bytes:
    trans = TMemoryBuffer()
    proto = _new_protocol(trans, protocol, None)
    proto.writeMessageBegin("emitBatch", TMessageType.ONEWAY, seq_id)
    args.write(proto)
    proto.writeMessageEnd()
    return trans.getvalue()


def encode_agent_message(spans: Sequence[Span], protocol: str = "compact", seq_id: int = 0) -> bytes:
    """One agent UDP packet: a ONEWAY ``emitBatch`` message. All spans must share one
    ``Resource``. The packet is not split; see ``split_agent_messages`` for that."""
    return _message(emitBatch_args(batch=_batch(spans)), protocol, seq_id)


def group_by_resource(spans: Iterable[Span]) -> list[list[Span]]:
    """Spans grouped by (equal) ``Resource``, groups in order of first appearance."""
    groups: dict[int, list[Span]] = {}
    resources: list[Resource] = []
    for s in spans:
        group = groups.get(id(s.resource))
        if group is None:
            for r in resources:  # an equal resource in another object joins its group
                if r == s.resource:
                    group = groups[id(r)]
                    break
            else:
                resources.append(s.resource)
                group = []
            groups[id(s.resource)] = group
        group.append(s)
    out: list[list[Span]] = []
    seen: set[int] = set()
    for g in groups.values():
        if id(g) not in seen:
            seen.add(id(g))
            out.append(g)
    return out


def encode_batches(spans: Iterable[Span], protocol: str = "binary") -> list[bytes]:
    """One bare ``Batch`` per distinct ``Resource`` (Jaeger process) among ``spans``."""
    return [encode_batch(group, protocol) for group in group_by_resource(spans)]


# Bytes a message header, the args struct, the Batch fields and the list header can take
# beyond the encoded process and spans (name 9 bytes, varints, stops): a generous bound.
_FRAME_OVERHEAD = 64


def split_agent_messages(
    spans: Iterable[Span],
    protocol: str = "compact",
    max_packet_size: int = 65_000,
    seq_id: int = 0,
) -> tuple[list[bytes], list[Span]]:
    """Agent packets of at most ``max_packet_size`` bytes carrying ``spans`` (grouped by
    resource), and the spans that cannot fit in any packet on their own.

    Each span is sized by encoding it alone: a Thrift struct's encoding does not depend on
    what surrounds it in a list, so the sizes add up exactly.
    """
    packets: list[bytes] = []
    too_large: list[Span] = []
    seq = seq_id
    for group in group_by_resource(spans):
        process = _thrift_process(group[0].resource)
        room = max_packet_size - _FRAME_OVERHEAD - len(_write(process, protocol))
        current: list[TSpan] = []
        used = 0
        for span in group:
            ts = _thrift_span(span)
            size = len(_write(ts, protocol))
            if size > room:
                too_large.append(span)
                continue
            if used + size > room:
                packets.append(_message(emitBatch_args(Batch(process, current)), protocol, seq))
                seq += 1
                current, used = [], 0
            current.append(ts)
            used += size
        if current:
            packets.append(_message(emitBatch_args(Batch(process, current)), protocol, seq))
            seq += 1
    return packets, too_large
