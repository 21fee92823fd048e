"""Zipkin proto3 codec, checked against py_zipkin's own generated ``zipkin_pb2`` (an
independent copy of Zipkin's descriptor): what it builds we decode, what we build it reads."""

from __future__ import annotations

import ipaddress

import pytest
from py_zipkin.encoding.protobuf import zipkin_pb2 as ref_pb2

from spyglass.codecs.errors import DecodeError
from spyglass.codecs.proto.zipkin import zipkin_pb2
from spyglass.codecs.zipkin_model import NO_SERVICE_NAME
from spyglass.codecs.zipkin_proto import decode_zipkin_proto, encode_zipkin_proto
from spyglass.model import Event, KeyValue, Resource, SpanKind, Status, StatusCode

TRACE_128 = 0x463AC35C9F6413AD48485A3953BB6124


def _full_reference() -> ref_pb2.ListOfSpans:
    lst = ref_pb2.ListOfSpans()
    s = lst.spans.add()
    s.trace_id = TRACE_128.to_bytes(16, "big")
    s.parent_id = (0x0020000000000001).to_bytes(8, "big")
    s.id = (0xA2FB4A1D1A96D312).to_bytes(8, "big")
    s.kind = ref_pb2.Span.PRODUCER
    s.name = "send"
    s.timestamp = 1472470996199000
    s.duration = 207000
    s.local_endpoint.service_name = "frontend"
    s.local_endpoint.ipv4 = ipaddress.IPv4Address("192.168.99.1").packed
    s.local_endpoint.ipv6 = ipaddress.IPv6Address("2001:db8::c001").packed
    s.local_endpoint.port = 8080
    s.remote_endpoint.service_name = "kafka"
    s.remote_endpoint.ipv6 = ipaddress.IPv6Address("::ffff:172.19.0.2").packed
    s.remote_endpoint.port = 9092
    a = s.annotations.add()
    a.timestamp = 1472470996238000
    a.value = "queued"
    s.tags["topic"] = "orders"
    s.tags["error"] = "full"
    s.debug = True
    s.shared = True
    return lst


def test_reference_message_decodes_field_by_field() -> None:
    (span,) = decode_zipkin_proto(_full_reference().SerializeToString())
    assert span.trace_id == TRACE_128
    assert span.parent_span_id == 0x0020000000000001
    assert span.span_id == 0xA2FB4A1D1A96D312
    assert span.kind is SpanKind.PRODUCER
    assert span.name == "send"
    assert (span.start_time_ns, span.duration_ns) == (1472470996199000000, 207000000)
    assert span.resource == Resource(
        "frontend",
        [KeyValue("net.host.ip", "192.168.99.1"), KeyValue("net.host.ip", "2001:db8::c001"), KeyValue("net.host.port", 8080)],
    )
    assert sorted(span.attributes) == sorted(
        [
            KeyValue("topic", "orders"),
            KeyValue("peer.service", "kafka"),
            KeyValue("net.peer.ip", "172.19.0.2"),  # IPv4-mapped IPv6 is IPv4
            KeyValue("net.peer.port", 9092),
            KeyValue("zipkin.shared", True),
        ]
    )
    assert span.status == Status(StatusCode.ERROR, "full")
    assert span.events == [Event(1472470996238000000, "queued")]
    assert span.flags == 3


def test_our_encoding_reads_back_with_the_reference_descriptor() -> None:
    spans = decode_zipkin_proto(_full_reference().SerializeToString())
    ref = ref_pb2.ListOfSpans.FromString(encode_zipkin_proto(spans))
    want = _full_reference()
    # The remote address was normalised to IPv4 on the way in.
    want.spans[0].remote_endpoint.ClearField("ipv6")
    want.spans[0].remote_endpoint.ipv4 = bytes([172, 19, 0, 2])
    assert ref == want
    assert _tags_sorted(decode_zipkin_proto(encode_zipkin_proto(spans))) == _tags_sorted(spans)


def _tags_sorted(spans: list) -> list:
    """Protobuf maps have no order: compare attributes sorted."""
    for span in spans:
        span.attributes.sort()
    return spans


def test_64_bit_trace_id_and_minimal_span() -> None:
    lst = ref_pb2.ListOfSpans()
    s = lst.spans.add()
    s.trace_id = (0x48485A3953BB6124).to_bytes(8, "big")
    s.id = (1).to_bytes(8, "big")
    (span,) = decode_zipkin_proto(lst.SerializeToString())
    assert span.trace_id == 0x48485A3953BB6124
    assert span.resource == Resource(NO_SERVICE_NAME)
    assert (span.kind, span.name, span.start_time_ns, span.flags) == (SpanKind.UNSPECIFIED, "", 0, 1)
    back = ref_pb2.ListOfSpans.FromString(encode_zipkin_proto([span]))
    assert back == lst  # 8-byte trace ID again; nothing else set


@pytest.mark.parametrize("kind", [1, 2, 3, 4])
def test_every_kind(kind: int) -> None:
    lst = zipkin_pb2.ListOfSpans()
    s = lst.spans.add()
    s.trace_id, s.id, s.kind = b"\x00" * 7 + b"\x01", b"\x00" * 7 + b"\x02", kind  # type: ignore[assignment]
    (span,) = decode_zipkin_proto(lst.SerializeToString())
    assert span.kind is [None, SpanKind.CLIENT, SpanKind.SERVER, SpanKind.PRODUCER, SpanKind.CONSUMER][kind]
    assert zipkin_pb2.ListOfSpans.FromString(encode_zipkin_proto([span])).spans[0].kind == kind


def test_unknown_enum_value_is_no_kind() -> None:
    # field 4 (kind) varint 9, after valid IDs
    body = zipkin_pb2.ListOfSpans()
    s = body.spans.add()
    s.trace_id, s.id = b"\x00" * 7 + b"\x01", b"\x00" * 7 + b"\x02"
    raw = s.SerializeToString() + b"\x20\x09"
    data = b"\x0a" + bytes([len(raw)]) + raw
    (span,) = decode_zipkin_proto(data)
    assert span.kind is SpanKind.UNSPECIFIED


def test_bad_ip_lengths_are_dropped() -> None:
    lst = zipkin_pb2.ListOfSpans()
    s = lst.spans.add()
    s.trace_id, s.id = b"\x00" * 7 + b"\x01", b"\x00" * 7 + b"\x02"
    s.local_endpoint.service_name = "a"
    s.local_endpoint.ipv4 = b"\x01\x02\x03"
    s.local_endpoint.port = 65535
    (span,) = decode_zipkin_proto(lst.SerializeToString())
    assert span.resource == Resource("a", [KeyValue("net.host.port", 65535)])


def _span_bytes(**fields: bytes) -> bytes:
    lst = zipkin_pb2.ListOfSpans()
    s = lst.spans.add()
    s.trace_id = fields.get("trace_id", b"\x00" * 7 + b"\x01")
    s.id = fields.get("id", b"\x00" * 7 + b"\x02")
    if "parent_id" in fields:
        s.parent_id = fields["parent_id"]
    return lst.SerializeToString()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\xff\xff\xff", "invalid Zipkin proto3"),
        (b"\x0a\x10\x0a\x08", "invalid Zipkin proto3"),  # truncated
        (_span_bytes()[:-3], "invalid Zipkin proto3"),
        (b"\x0a\x03\x2a\x01\xff", "invalid Zipkin proto3"),  # name is not UTF-8
        (b"\x0a\x02\x08\x01", "trace_id must be"),  # wrong wire type: an unknown field
        (_span_bytes(trace_id=b"\x01" * 9), "trace_id must be 8 or 16 bytes"),
        (_span_bytes(trace_id=b""), "trace_id must be 8 or 16 bytes"),
        (_span_bytes(id=b"\x01" * 4), "id must be 8 bytes"),
        (_span_bytes(parent_id=b"\x01" * 3), "parent_id must be 8 bytes"),
        (_span_bytes(trace_id=b"\x00" * 16), "trace_id is zero"),
        (_span_bytes(id=b"\x00" * 8), "id is zero"),
    ],
)
def test_bad_input_is_a_decode_error(body: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_zipkin_proto(body)


def test_empty_body_is_no_spans() -> None:
    assert decode_zipkin_proto(b"") == []
