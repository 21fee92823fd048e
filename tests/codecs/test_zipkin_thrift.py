"""Zipkin v1 Thrift codec (bare binary list for /api/v1/spans, compact emitZipkinBatch for
UDP 5775), checked against thriftpy2: an independent Thrift implementation that parses
``zipkincore.thrift`` itself and writes and reads the payloads on its own."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
import thriftpy2
from thriftpy2.protocol.binary import read_val, write_val
from thriftpy2.protocol.compact import TCompactProtocol
from thriftpy2.thrift import TMessageType, TType
from thriftpy2.transport import TMemoryBuffer

import spyglass.codecs.thrift as thrift_dir
from spyglass.codecs.errors import DecodeError
from spyglass.codecs.zipkin_thrift import (
    decode_agent_zipkin_batch,
    decode_zipkin_thrift,
    encode_agent_zipkin_batch,
    encode_zipkin_thrift,
)
from spyglass.model import Event, KeyValue, Resource, SpanKind, Status, StatusCode

IDL = Path(thrift_dir.__file__).parent
zc = thriftpy2.load(str(IDL / "zipkincore.thrift"), module_name="zipkincore_ztest_thrift")
agent = thriftpy2.load(str(IDL / "agent.thrift"), module_name="agent_ztest_thrift", include_dirs=[str(IDL)])

FRONT = zc.Endpoint(ipv4=0x7F000001, port=8080, service_name="frontend")
BACK = zc.Endpoint(ipv4=-1062706332, port=-7536, service_name="backend", ipv6=bytes.fromhex("20010db8000000000000000000000001"))
# -1062706332 is 192.168.99.100 as a signed i32; -7536 is port 58000 as a signed i16.


def _list(spans: list) -> bytes:
    buf = io.BytesIO()
    write_val(buf, TType.LIST, spans, (TType.STRUCT, zc.Span))
    return buf.getvalue()


def _read_list(data: bytes) -> list:
    return read_val(io.BytesIO(data), TType.LIST, (TType.STRUCT, zc.Span))


def _ba(key: str, value: bytes, kind: int, host=FRONT):
    return zc.BinaryAnnotation(key=key, value=value, annotation_type=kind, host=host)


def _rpc_span() -> object:
    return zc.Span(
        trace_id=-0x1234567890ABCDEF,
        trace_id_high=0x0102030405060708,
        name="get",
        id=-2,
        parent_id=7,
        debug=True,
        timestamp=1000,
        duration=500,
        annotations=[
            zc.Annotation(timestamp=1000, value="cs", host=FRONT),
            zc.Annotation(timestamp=1100, value="sr", host=BACK),
            zc.Annotation(timestamp=1200, value="cache miss", host=BACK),
            zc.Annotation(timestamp=1400, value="ss", host=BACK),
            zc.Annotation(timestamp=1500, value="cr", host=FRONT),
        ],
        binary_annotations=[
            _ba("http.path", b"/users", zc.AnnotationType.STRING),
            _ba("sa", b"\x01", zc.AnnotationType.BOOL, BACK),
            _ba("ca", b"\x01", zc.AnnotationType.BOOL, FRONT),
            _ba("error", b"timeout", zc.AnnotationType.STRING, BACK),
        ],
    )


def test_thriftpy2_rpc_span_becomes_client_and_server() -> None:
    client, server = decode_zipkin_thrift(_list([_rpc_span()]))
    trace_id = (0x0102030405060708 << 64) | ((-0x1234567890ABCDEF) & ((1 << 64) - 1))
    for s in (client, server):
        assert (s.trace_id, s.span_id, s.parent_span_id, s.name, s.flags) == (trace_id, (1 << 64) - 2, 7, "get", 3)
    assert client.kind is SpanKind.CLIENT
    assert (client.start_time_ns, client.duration_ns) == (1_000_000, 500_000)
    assert client.resource == Resource("frontend", [KeyValue("net.host.ip", "127.0.0.1"), KeyValue("net.host.port", 8080)])
    assert client.attributes == [
        KeyValue("http.path", "/users"),
        KeyValue("peer.service", "backend"),
        KeyValue("net.peer.ip", "192.168.99.100"),
        KeyValue("net.peer.ip", "2001:db8::1"),
        KeyValue("net.peer.port", 58000),
    ]
    assert server.kind is SpanKind.SERVER
    assert (server.start_time_ns, server.duration_ns) == (1_100_000, 300_000)
    assert server.resource.service_name == "backend"
    assert server.status == Status(StatusCode.ERROR, "timeout")
    assert server.events == [Event(1_200_000, "cache miss")]
    assert KeyValue("zipkin.shared", True) in server.attributes


@pytest.mark.parametrize(
    ("kind", "raw", "value"),
    [
        (0, b"\x01", True),
        (0, b"\x00", False),
        (1, b"\x00\xffbin", b"\x00\xffbin"),
        (2, struct.pack(">h", -2), -2),
        (3, struct.pack(">i", 70000), 70000),
        (4, struct.pack(">q", -(1 << 62)), -(1 << 62)),
        (5, struct.pack(">d", 2.75), 2.75),
        (6, "héllo".encode(), "héllo"),
        (6, b"\xff", "\ufffd"),
    ],
)
def test_every_binary_annotation_type(kind: int, raw: bytes, value: object) -> None:
    span = zc.Span(trace_id=1, id=2, name="x", binary_annotations=[_ba("k", raw, kind)])
    (got,) = decode_zipkin_thrift(_list([span]))
    assert got.attributes == [KeyValue("k", value)]
    assert type(got.attributes[0].value) is type(value)
    assert decode_zipkin_thrift(encode_zipkin_thrift([got])) == [got]


def test_our_list_reads_back_with_thriftpy2() -> None:
    spans = decode_zipkin_thrift(_list([_rpc_span()]))
    back = _read_list(encode_zipkin_thrift(spans))
    assert len(back) == 2
    client, server = back
    assert client.trace_id == -0x1234567890ABCDEF and client.trace_id_high == 0x0102030405060708
    assert (client.id, client.parent_id, client.debug, client.name) == (-2, 7, True, "get")
    assert (client.timestamp, client.duration) == (1000, 500)
    assert [(a.timestamp, a.value, a.host.service_name) for a in client.annotations] == [
        (1000, "cs", "frontend"),
        (1500, "cr", "frontend"),
    ]
    assert client.annotations[0].host.ipv4 == 0x7F000001 and client.annotations[0].host.port == 8080
    keys = {(b.key, b.annotation_type, b.value) for b in client.binary_annotations}
    assert ("http.path", zc.AnnotationType.STRING, b"/users") in keys
    assert ("sa", zc.AnnotationType.BOOL, b"\x01") in keys
    sa = next(b for b in client.binary_annotations if b.key == "sa")
    assert (sa.host.ipv4, sa.host.port, sa.host.ipv6) == (BACK.ipv4, BACK.port, BACK.ipv6)
    # the shared server side has no span timestamp (v1's convention)
    assert (server.timestamp, server.duration) == (None, None)
    assert [a.value for a in server.annotations] == ["sr", "cache miss", "ss"]
    assert decode_zipkin_thrift(encode_zipkin_thrift(spans)) == spans


def test_64_bit_ids_have_no_trace_id_high() -> None:
    (span,) = decode_zipkin_thrift(_list([zc.Span(trace_id=5, id=6, name="n")]))
    assert span.trace_id == 5 and span.resource.service_name == "OTLPResourceNoServiceName"
    (back,) = _read_list(encode_zipkin_thrift([span]))
    assert back.trace_id == 5 and back.trace_id_high is None and back.parent_id is None


def test_agent_message_from_thriftpy2_compact() -> None:
    trans = TMemoryBuffer()
    proto = TCompactProtocol(trans)
    proto.write_message_begin("emitZipkinBatch", TMessageType.ONEWAY, 3)
    proto.write_struct(agent.Agent.emitZipkinBatch_args(spans=[_rpc_span()]))
    proto.write_message_end()
    spans = decode_agent_zipkin_batch(trans.getvalue())
    assert spans == decode_zipkin_thrift(_list([_rpc_span()]))


def test_our_agent_message_reads_with_thriftpy2() -> None:
    spans = decode_zipkin_thrift(_list([_rpc_span()]))
    data = encode_agent_zipkin_batch(spans, seq_id=9)
    proto = TCompactProtocol(TMemoryBuffer(data))
    name, mtype, seq = proto.read_message_begin()
    assert (name, mtype, seq) == ("emitZipkinBatch", TMessageType.ONEWAY, 9)
    args = agent.Agent.emitZipkinBatch_args()
    proto.read_struct(args)
    assert [s.id for s in args.spans] == [-2, -2]
    assert decode_agent_zipkin_batch(data) == spans


def _raw_span(**fields) -> bytes:
    return _list([zc.Span(**{"trace_id": 1, "id": 2, "name": "x", **fields})])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "list header"),
        (b"\x0c\x00\x00", "list header"),
        (b"\x0b\x00\x00\x00\x01\x00\x00\x00\x01a", "list of structs"),
        (b"\x0c\x7f\xff\xff\xff", "Length exceeded"),
        (b"\x0c\xff\xff\xff\xff", "Negative length"),
        (_raw_span()[:-4], "truncated"),
        (_raw_span() + b"\x00", "garbage after"),
        (b"\x0c\x00\x00\x00\x01\x0b\x00\x03\x7f\xff\xff\xff", "cannot decode zipkincore Span"),
        (_list([zc.Span(id=2, name="x")]), "missing trace_id"),
        (_list([zc.Span(trace_id=1, name="x")]), "missing id"),
        (_raw_span(trace_id=0), "trace_id is zero"),
        (_raw_span(timestamp=-1), "timestamp -1 is out of range"),
        (_raw_span(annotations=[zc.Annotation(timestamp=-5, value="cs", host=FRONT)]), "out of range"),
        (_raw_span(annotations=[zc.Annotation(timestamp=5, host=FRONT)]), "no value"),
        (_raw_span(binary_annotations=[_ba("k", b"\x00\x01", 0)]), "BOOL has 2 bytes"),
        (_raw_span(binary_annotations=[_ba("k", b"\x00", 2)]), "I16 has 1 bytes"),
        (_raw_span(binary_annotations=[_ba("k", b"\x00", 3)]), "I32 has 1 bytes"),
        (_raw_span(binary_annotations=[_ba("k", b"\x00", 4)]), "I64 has 1 bytes"),
        (_raw_span(binary_annotations=[_ba("k", b"", 5)]), "DOUBLE has 0 bytes"),
        (_raw_span(binary_annotations=[_ba("k", b"x", 9)]), "unknown annotation_type 9"),
        (_raw_span(binary_annotations=[zc.BinaryAnnotation(value=b"x", annotation_type=6)]), "missing key"),
        (_raw_span(binary_annotations=[zc.BinaryAnnotation(key="k", value=b"x")]), "missing annotation_type"),
    ],
)
def test_bad_list_is_a_decode_error(body: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_zipkin_thrift(body)


def _message(name: str, mtype: int, args) -> bytes:
    trans = TMemoryBuffer()
    proto = TCompactProtocol(trans)
    proto.write_message_begin(name, mtype, 0)
    proto.write_struct(args)
    proto.write_message_end()
    return trans.getvalue()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "message header"),
        (b"\x82\x81", "message header"),
        (_message("emitBatch", TMessageType.ONEWAY, agent.Agent.emitZipkinBatch_args(spans=[])), "expected 'emitZipkinBatch'"),
        (_message("emitZipkinBatch", TMessageType.REPLY, agent.Agent.emitZipkinBatch_args(spans=[])), "message type"),
        (_message("emitZipkinBatch", TMessageType.ONEWAY, agent.Agent.emitZipkinBatch_args()), "no spans"),
        (_message("emitZipkinBatch", TMessageType.ONEWAY, agent.Agent.emitZipkinBatch_args(spans=[_rpc_span()]))[:-9], "truncated"),
        (_message("emitZipkinBatch", TMessageType.ONEWAY, agent.Agent.emitZipkinBatch_args(spans=[zc.Span(trace_id=1, name="x")])), "missing id"),
    ],
)
def test_bad_agent_message_is_a_decode_error(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_agent_zipkin_batch(data)
