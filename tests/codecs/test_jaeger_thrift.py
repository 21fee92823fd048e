"""Jaeger Thrift codec: round trips, wire compatibility with an independent Thrift
implementation (thriftpy2 loading our .thrift files), and hostile input."""

from __future__ import annotations

import resource
import struct
import time
from pathlib import Path

import pytest
import thriftpy2
from thriftpy2.protocol import TCompactProtocolFactory, TCyBinaryProtocolFactory
from thriftpy2.protocol.binary import TBinaryProtocolFactory as PyBinaryFactory
from thriftpy2.thrift import TMessageType
from thriftpy2.transport.memory import TCyMemoryBuffer
from thriftpy2.transport.memory import TMemoryBuffer as Tp2Buffer

from spyglass.codecs import jaeger_thrift as jt
from spyglass.codecs.errors import DecodeError
from spyglass.codecs.protowire import varint
from spyglass.model import (
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

THRIFT_DIR = Path(jt.__file__).resolve().parent / "thrift"
TP2 = thriftpy2.load(str(THRIFT_DIR / "agent.thrift"), module_name="agent_test_thrift", include_dirs=[str(THRIFT_DIR)])
J = TP2.jaeger  # the independent implementation's jaeger.thrift types
Z = TP2.zipkincore

PROTOCOLS = ["binary", "compact"]
TP2_FACTORIES = {"binary": PyBinaryFactory, "compact": TCompactProtocolFactory}

U64 = (1 << 64) - 1
T0 = 1_700_000_000_123_456_000  # ns, a whole number of µs


def tp2_encode(obj: object, protocol: str) -> bytes:
    buf = Tp2Buffer()
    obj.write(TP2_FACTORIES[protocol]().get_protocol(buf))  # type: ignore[attr-defined]
    return buf.getvalue()


def tp2_message(args: object, protocol: str, name: str = "emitBatch", mtype: int = TMessageType.ONEWAY) -> bytes:
    buf = Tp2Buffer()
    proto = TP2_FACTORIES[protocol]().get_protocol(buf)
    proto.write_message_begin(name, mtype, 7)
    args.write(proto)  # type: ignore[attr-defined]
    proto.write_message_end()
    return buf.getvalue()


def tp2_decode(cls: type, data: bytes, protocol: str) -> object:
    obj = cls()
    obj.read(TP2_FACTORIES[protocol]().get_protocol(Tp2Buffer(data)))
    return obj


def signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def full_span(resource: Resource) -> Span:
    """Every field Jaeger Thrift can carry, with IDs whose top bits are set."""
    trace_id = (0xF234_5678_9ABC_DEF0 << 64) | 0x8000_0000_0000_0001
    return Span(
        trace_id=trace_id,
        span_id=0xFFFF_FFFF_FFFF_FFFE,
        name="GET /things",
        start_time_ns=T0,
        duration_ns=1_234_000,
        resource=resource,
        parent_span_id=0x8765_4321_0FED_CBA9,
        kind=SpanKind.CLIENT,
        status=Status(StatusCode.ERROR, "it broke"),
        attributes=[
            KeyValue("s", "text"),
            KeyValue("empty", ""),
            KeyValue("d", -2.5),
            KeyValue("b", True),
            KeyValue("bf", False),
            KeyValue("l", -(1 << 63)),
            KeyValue("lmax", (1 << 63) - 1),
            KeyValue("bin", b"\x00\xff\x10"),
            KeyValue("dup", "1"),
            KeyValue("dup", "2"),
            KeyValue("unicode", "héllo ✓"),
        ],
        events=[
            Event(T0 + 5_000, "retry", [KeyValue("attempt", 2), KeyValue("ok", False)]),
            Event(T0 + 6_000, "", [KeyValue("message", "no event field")]),
        ],
        links=[
            Link(trace_id, 0x1111, RefType.FOLLOWS_FROM),
            Link(0xABCD, 0x2222, RefType.CHILD_OF),  # another trace
            Link((1 << 127) | 7, 0x3333, RefType.FOLLOWS_FROM),  # another trace, high bit
        ],
        flags=3,
        trace_state="vendor=x",
        scope=Scope("my.lib", "1.2.3"),
    )


@pytest.fixture
def res() -> Resource:
    return Resource("checkout", [KeyValue("hostname", "h1"), KeyValue("ip", "10.0.0.1"), KeyValue("cores", 2)])


def test_fastbinary_is_used() -> None:
    from thrift.protocol import fastbinary  # noqa: F401

    assert jt.ACCELERATED


# -- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_round_trip_every_field(protocol: str, res: Resource) -> None:
    span = full_span(res)
    root = Span(trace_id=5, span_id=6, name="root", start_time_ns=T0, duration_ns=0, resource=res)
    out = jt.decode_batch(jt.encode_batch([span, root], protocol), protocol)
    assert out == [span, root]
    assert out[0].resource is out[1].resource  # one Resource per batch
    out = jt.decode_agent_message(jt.encode_agent_message([span, root], protocol, seq_id=9), protocol)
    assert out == [span, root]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_encoded_wire_values_read_by_thriftpy2(protocol: str, res: Resource) -> None:
    span = full_span(res)
    batch = tp2_decode(J.Batch, jt.encode_batch([span], protocol), protocol)
    assert batch.process.serviceName == "checkout"
    assert [(t.key, t.vType, t.vStr, t.vLong) for t in batch.process.tags] == [
        ("hostname", J.TagType.STRING, "h1", None),
        ("ip", J.TagType.STRING, "10.0.0.1", None),
        ("cores", J.TagType.LONG, None, 2),
    ]
    (s,) = batch.spans
    assert s.traceIdHigh == signed(0xF234_5678_9ABC_DEF0)
    assert s.traceIdLow == signed(0x8000_0000_0000_0001) < 0
    assert s.spanId == -2
    assert s.parentSpanId == signed(0x8765_4321_0FED_CBA9) < 0
    assert s.startTime == T0 // 1000 and s.duration == 1234
    assert s.flags == 3
    # the parent travels as parentSpanId only; links keep their types and trace IDs
    assert [(r.refType, r.traceIdHigh, r.traceIdLow, r.spanId) for r in s.references] == [
        (J.SpanRefType.FOLLOWS_FROM, s.traceIdHigh, s.traceIdLow, 0x1111),
        (J.SpanRefType.CHILD_OF, 0, 0xABCD, 0x2222),
        (J.SpanRefType.FOLLOWS_FROM, signed(1 << 63), 7, 0x3333),
    ]
    tags = {(t.key, t.vType): t for t in s.tags}
    assert tags[("d", J.TagType.DOUBLE)].vDouble == -2.5
    assert tags[("b", J.TagType.BOOL)].vBool is True
    assert tags[("l", J.TagType.LONG)].vLong == -(1 << 63)
    assert tags[("bin", J.TagType.BINARY)].vBinary == b"\x00\xff\x10"
    assert tags[("span.kind", J.TagType.STRING)].vStr == "client"
    assert tags[("error", J.TagType.BOOL)].vBool is True
    assert tags[("otel.status_code", J.TagType.STRING)].vStr == "ERROR"
    assert tags[("otel.status_description", J.TagType.STRING)].vStr == "it broke"
    assert tags[("w3c.tracestate", J.TagType.STRING)].vStr == "vendor=x"
    assert tags[("otel.scope.name", J.TagType.STRING)].vStr == "my.lib"
    log0 = s.logs[0]
    assert log0.timestamp == (T0 + 5_000) // 1000
    assert [(f.key, f.vStr, f.vLong, f.vBool) for f in log0.fields] == [
        ("event", "retry", None, None),
        ("attempt", None, 2, None),
        ("ok", None, None, False),
    ]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("framing", ["batch", "agent"])
def test_decodes_payload_of_independent_implementation(protocol: str, framing: str) -> None:
    tag = J.Tag
    batch = J.Batch(
        process=J.Process(serviceName="svc", tags=[tag(key="jaeger.version", vType=J.TagType.STRING, vStr="Go-2.30")]),
        spans=[
            J.Span(
                traceIdLow=-1,
                traceIdHigh=-2,
                spanId=-3,
                parentSpanId=-4,
                operationName="op",
                references=[
                    J.SpanRef(refType=J.SpanRefType.CHILD_OF, traceIdLow=-1, traceIdHigh=-2, spanId=-4),
                    J.SpanRef(refType=J.SpanRefType.FOLLOWS_FROM, traceIdLow=99, traceIdHigh=0, spanId=98),
                ],
                flags=-1,
                startTime=1_700_000_000_000_000,
                duration=42,
                tags=[
                    tag(key="s", vType=J.TagType.STRING, vStr="v"),
                    tag(key="d", vType=J.TagType.DOUBLE, vDouble=0.25),
                    tag(key="b", vType=J.TagType.BOOL, vBool=True),
                    tag(key="l", vType=J.TagType.LONG, vLong=-7),
                    tag(key="x", vType=J.TagType.BINARY, vBinary=b"\x01"),
                    # a value field missing: the type's zero value, as Jaeger does
                    tag(key="s0", vType=J.TagType.STRING),
                    tag(key="d0", vType=J.TagType.DOUBLE),
                    tag(key="b0", vType=J.TagType.BOOL),
                    tag(key="l0", vType=J.TagType.LONG),
                    tag(key="x0", vType=J.TagType.BINARY),
                    tag(key="span.kind", vType=J.TagType.STRING, vStr="server"),
                    tag(key="error", vType=J.TagType.STRING, vStr="true"),
                ],
                logs=[J.Log(timestamp=1_700_000_000_000_010, fields=[
                    tag(key="event", vType=J.TagType.STRING, vStr="boom"),
                    tag(key="level", vType=J.TagType.STRING, vStr="error"),
                ])],
            )
        ],
        seqNo=12,  # ignored
        stats=J.ClientStats(fullQueueDroppedSpans=1, tooLargeDroppedSpans=2, failedToEmitSpans=3),  # ignored
    )
    if framing == "batch":
        spans = jt.decode_batch(tp2_encode(batch, protocol), protocol)
    else:
        spans = jt.decode_agent_message(tp2_message(TP2.Agent.emitBatch_args(batch=batch), protocol), protocol)
    (s,) = spans
    assert s.trace_id == (U64 - 1) << 64 | U64
    assert s.span_id == U64 - 2
    assert s.parent_span_id == U64 - 3  # parentSpanId, and the matching CHILD_OF is not repeated as a link
    assert s.links == [Link(99, 98, RefType.FOLLOWS_FROM)]
    assert s.flags == 0xFFFF_FFFF
    assert s.start_time_ns == 1_700_000_000_000_000_000 and s.duration_ns == 42_000
    assert s.resource == Resource("svc", [KeyValue("jaeger.version", "Go-2.30")])
    assert s.kind is SpanKind.SERVER
    assert s.status.code is StatusCode.ERROR
    assert s.attributes == [
        KeyValue("s", "v"), KeyValue("d", 0.25), KeyValue("b", True), KeyValue("l", -7), KeyValue("x", b"\x01"),
        KeyValue("s0", ""), KeyValue("d0", 0.0), KeyValue("b0", False), KeyValue("l0", 0), KeyValue("x0", b""),
    ]
    assert [type(kv.value) for kv in s.attributes[:5]] == [str, float, bool, int, bytes]
    assert s.events == [Event(1_700_000_000_000_010_000, "boom", [KeyValue("level", "error")])]


def test_thriftpy2_cython_binary_agrees() -> None:
    batch = J.Batch(process=J.Process(serviceName="a"), spans=[
        J.Span(traceIdLow=1, traceIdHigh=0, spanId=2, parentSpanId=0, operationName="o", flags=1, startTime=3, duration=4),
    ])
    buf = TCyMemoryBuffer()
    proto = TCyBinaryProtocolFactory().get_protocol(buf)
    batch.write(proto)
    proto.trans.flush()
    (s,) = jt.decode_batch(buf.getvalue())
    assert (s.trace_id, s.span_id, s.name, s.start_time_ns, s.duration_ns) == (1, 2, "o", 3000, 4000)
    assert s.links == [] and s.attributes == [] and s.events == []


def test_cross_trace_child_of_is_a_link_not_the_parent(res: Resource) -> None:
    batch = J.Batch(process=J.Process(serviceName="a"), spans=[J.Span(
        traceIdLow=1, traceIdHigh=0, spanId=2, parentSpanId=0, operationName="o", flags=1, startTime=3, duration=4,
        references=[
            J.SpanRef(refType=J.SpanRefType.CHILD_OF, traceIdLow=77, traceIdHigh=0, spanId=5),
            J.SpanRef(refType=J.SpanRefType.CHILD_OF, traceIdLow=1, traceIdHigh=0, spanId=6),
        ],
    )])
    (s,) = jt.decode_batch(tp2_encode(batch, "binary"))
    assert s.parent_span_id == 6
    assert s.links == [Link(77, 5, RefType.CHILD_OF)]


# -- encoding helpers -------------------------------------------------------------------


def test_encode_batch_needs_one_resource(res: Resource) -> None:
    other = Resource("other")
    a = Span(trace_id=1, span_id=1, name="a", start_time_ns=T0, duration_ns=0, resource=res)
    b = Span(trace_id=1, span_id=2, name="b", start_time_ns=T0, duration_ns=0, resource=other)
    with pytest.raises(ValueError):
        jt.encode_batch([a, b])
    with pytest.raises(ValueError):
        jt.encode_agent_message([])
    c = Span(trace_id=1, span_id=3, name="c", start_time_ns=T0, duration_ns=0,
             resource=Resource(res.service_name, list(res.attributes)))  # equal, not identical
    payloads = jt.encode_batches([a, b, c], "compact")
    decoded = [jt.decode_batch(p, "compact") for p in payloads]
    assert [[s.name for s in spans] for spans in decoded] == [["a", "c"], ["b"]]
    assert decoded[0][0].resource == res and decoded[1][0].resource == other


def test_odd_attribute_values_are_encoded(res: Resource) -> None:
    span = Span(trace_id=1, span_id=1, name="a", start_time_ns=T0, duration_ns=0, resource=res, attributes=[
        KeyValue("big", 1 << 70), KeyValue("list", [1, "x"]), KeyValue("map", {"k": b"\x01"}),
        KeyValue("none", None), KeyValue("enum", SpanKind.SERVER),
    ])
    (out,) = jt.decode_batch(jt.encode_batch([span]))
    assert out.attributes == [
        KeyValue("big", str(1 << 70)), KeyValue("list", '[1,"x"]'), KeyValue("map", '{"k":"AQ=="}'),
        KeyValue("none", ""), KeyValue("enum", 2),
    ]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_split_agent_messages_respects_packet_size(protocol: str, res: Resource) -> None:
    spans = [
        Span(trace_id=i + 1, span_id=i + 1, name=f"op-{i}", start_time_ns=T0, duration_ns=1000, resource=res,
             attributes=[KeyValue("payload", "x" * 300)])
        for i in range(200)
    ]
    huge = Span(trace_id=9, span_id=9, name="huge", start_time_ns=T0, duration_ns=0, resource=res,
                attributes=[KeyValue("blob", "y" * 5000)])
    packets, too_large = jt.split_agent_messages([*spans[:100], huge, *spans[100:]], protocol, max_packet_size=4000)
    assert too_large == [huge]
    assert len(packets) > 10 and all(len(p) <= 4000 for p in packets)
    assert max(len(p) for p in packets) > 3000  # packets are filled, not one span each
    decoded = [s for p in packets for s in jt.decode_agent_message(p, protocol)]
    assert [s.name for s in decoded] == [s.name for s in spans]
    assert [jt.read_agent_message_header(p, protocol).seq_id for p in packets] == list(range(len(packets)))


def test_agent_header_for_zipkin_messages() -> None:
    """The Zipkin codec's way in: the header names the message and the protocol object is
    positioned at the args struct."""
    from spyglass.codecs.thrift.gen.agent.Agent import emitZipkinBatch_args

    zspan = Z.Span(trace_id=5, name="z", id=6, annotations=[], binary_annotations=[])
    data = tp2_message(TP2.Agent.emitZipkinBatch_args(spans=[zspan]), "compact", name="emitZipkinBatch")
    header = jt.read_agent_message_header(data, "compact")
    assert (header.name, header.type, header.seq_id) == ("emitZipkinBatch", TMessageType.ONEWAY, 7)
    args = jt.read_struct(header.proto, emitZipkinBatch_args, "emitZipkinBatch args")
    assert [(s.trace_id, s.name, s.id) for s in args.spans] == [(5, "z", 6)]
    with pytest.raises(DecodeError, match="emitZipkinBatch"):
        jt.decode_agent_message(data, "compact")


# -- hostile input ----------------------------------------------------------------------


def _valid(protocol: str, res: Resource) -> bytes:
    return jt.encode_batch([full_span(res)], protocol)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_truncation_is_a_decode_error(protocol: str, res: Resource) -> None:
    data = _valid(protocol, res)
    message = jt.encode_agent_message([full_span(res)], protocol)
    for cut in range(len(data)):
        with pytest.raises(DecodeError):
            jt.decode_batch(data[:cut], protocol)
    for cut in range(len(message)):
        with pytest.raises(DecodeError):
            jt.decode_agent_message(message[:cut], protocol)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_garbage_never_escapes_as_another_exception(protocol: str, res: Resource) -> None:
    import random

    rng = random.Random(7)
    valid = _valid(protocol, res)
    message = jt.encode_agent_message([full_span(res)], protocol)
    for i in range(2000):
        blob = bytearray(rng.choice([valid, message]))
        for _ in range(rng.randint(1, 6)):  # flip some bytes
            blob[rng.randrange(len(blob))] = rng.randrange(256)
        if i % 4 == 0:
            blob = bytearray(rng.randbytes(rng.randint(0, 300)))
        for fn in (jt.decode_batch, jt.decode_agent_message):
            try:
                fn(bytes(blob), protocol)
            except DecodeError:
                pass


# Thrift compact's varints are ULEB128, the same bytes as protobuf's.
_compact_varint = varint


HUGE = [
    # Batch.spans: list<struct> claiming 2**31-1 elements
    ("binary", b"\x0f\x00\x02\x0c" + struct.pack(">i", 2**31 - 1)),
    ("compact", b"\x29\xfc" + _compact_varint(2**31 - 1)),
    # Batch.process.serviceName: a string claiming 2**31-1 bytes
    ("binary", b"\x0c\x00\x01\x0b\x00\x01" + struct.pack(">i", 2**31 - 1) + b"abc"),
    ("compact", b"\x1c\x18" + _compact_varint(2**31 - 1) + b"abc"),
    # an unknown field: a map claiming 2**31-1 entries
    ("binary", b"\x0d\x00\x63\x0b\x0b" + struct.pack(">i", 2**31 - 1)),
]


@pytest.mark.parametrize(("protocol", "data"), HUGE)
def test_huge_declared_sizes_fail_fast_without_allocating(protocol: str, data: bytes) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with pytest.raises(DecodeError, match="exceeds the payload size"):
        jt.decode_batch(data, protocol)
    assert time.perf_counter() - started < 0.1
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB


@pytest.mark.parametrize(
    ("protocol", "data"),
    [
        ("compact", b"\x9c" * 60_000),  # an unknown struct field nested 60,000 deep
        ("binary", b"\x0c\x00\x09" * 60_000),
        ("compact", b"\x99" + b"\x19" * 60_000),  # list<list<list<...>>>
    ],
)
def test_deep_nesting_is_a_decode_error(protocol: str, data: bytes) -> None:
    with pytest.raises(DecodeError):
        jt.decode_batch(data, protocol)


def _tp2_batch(**span_fields: object) -> object:
    fields = dict(traceIdLow=1, traceIdHigh=0, spanId=2, parentSpanId=0, operationName="o", flags=1,
                  startTime=3, duration=4)
    fields.update(span_fields)
    return J.Batch(process=J.Process(serviceName="a"), spans=[J.Span(**fields)])


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    ("batch", "message"),
    [
        (lambda: _tp2_batch(tags=[J.Tag(key="k", vType=9, vStr="x")]), "unknown vType 9"),
        (lambda: _tp2_batch(tags=[J.Tag(key="k", vStr="x")]), "no vType"),
        (lambda: _tp2_batch(tags=[J.Tag(vType=0, vStr="x")]), "no key"),
        (lambda: _tp2_batch(references=[J.SpanRef(refType=5, traceIdLow=1, traceIdHigh=0, spanId=1)]),
         "unknown refType 5"),
        (lambda: _tp2_batch(operationName=None), "operationName"),
        (lambda: _tp2_batch(spanId=None), "spanId"),
        (lambda: _tp2_batch(startTime=None), "startTime"),
        (lambda: _tp2_batch(flags=None), "flags"),
        (lambda: _tp2_batch(logs=[J.Log(fields=[])]), "timestamp"),
        (lambda: J.Batch(spans=[]), "no process"),
        (lambda: J.Batch(process=J.Process(serviceName="a")), "no spans"),
        (lambda: J.Batch(process=J.Process(), spans=[]), "serviceName"),
    ],
)
def test_invalid_fields_are_named(protocol: str, batch: object, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        jt.decode_batch(tp2_encode(batch(), protocol), protocol)


def test_wrong_typed_field_is_skipped_then_missing() -> None:
    # Batch field 1 (process) sent as an i32: skipped like any mistyped field, so the
    # required process is missing.
    data = b"\x08\x00\x01\x00\x00\x00\x05" + b"\x0f\x00\x02\x0c\x00\x00\x00\x00" + b"\x00"
    with pytest.raises(DecodeError, match="no process"):
        jt.decode_batch(data, "binary")


def test_unknown_fields_are_ignored() -> None:
    good = tp2_encode(_tp2_batch(), "binary")
    # an extra string field 99 before the STOP of the Batch
    extra = good[:-1] + b"\x0b\x00\x63\x00\x00\x00\x02hi" + b"\x00"
    assert jt.decode_batch(extra) == jt.decode_batch(good)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_message_framing_errors(protocol: str) -> None:
    args = TP2.Agent.emitBatch_args(batch=_tp2_batch())
    assert len(jt.decode_agent_message(tp2_message(args, protocol), protocol)) == 1
    # CALL is accepted too (some clients send it)
    assert len(jt.decode_agent_message(tp2_message(args, protocol, mtype=TMessageType.CALL), protocol)) == 1
    with pytest.raises(DecodeError, match="message type"):
        jt.decode_agent_message(tp2_message(args, protocol, mtype=TMessageType.REPLY), protocol)
    with pytest.raises(DecodeError, match="unsupported agent message 'submitBatches'"):
        jt.decode_agent_message(tp2_message(args, protocol, name="submitBatches"), protocol)
    with pytest.raises(DecodeError):  # a bare Batch is not a message
        jt.decode_agent_message(tp2_encode(_tp2_batch(), protocol), protocol)
    with pytest.raises(DecodeError, match="no batch"):
        jt.decode_agent_message(tp2_message(TP2.Agent.emitBatch_args(), protocol), protocol)


def test_protocol_mismatch_is_a_decode_error() -> None:
    data = jt.encode_agent_message([Span(trace_id=1, span_id=1, name="a", start_time_ns=0, duration_ns=0,
                                         resource=Resource("s"))], "compact")
    with pytest.raises(DecodeError):
        jt.decode_agent_message(data, "binary")


def test_unknown_protocol_name_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown Thrift protocol"):
        jt.decode_batch(b"", "json")
