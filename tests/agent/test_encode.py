"""The agent's transcoder: a Jaeger Thrift packet sent on through ``agent.encode`` decodes
(with the collector's api_v2 decoder) to exactly the spans of the packet itself."""

from __future__ import annotations

import pytest

from spyglass.agent.encode import packets_from_spans, process_tags_suffix, transcode_agent_message
from spyglass.agent.packet import post_spans_requests
from spyglass.codecs import jaeger_thrift as jt
from spyglass.codecs.errors import DecodeError
from spyglass.codecs.jaeger_proto import decode_post_spans
from spyglass.model import Event, KeyValue, Link, RefType, Resource, Span, SpanKind, Status, StatusCode

RES = Resource("shop", [KeyValue("hostname", "h"), KeyValue("n", 3), KeyValue("b", True)])
OTHER = Resource("db", [KeyValue("ip", "10.0.0.1")])
T128 = (0xFEDCBA9876543210 << 64) | 0x0123456789ABCDEF


def varied_spans(resource: Resource = RES) -> list[Span]:
    return [
        Span(T128, 1, "root", 1_700_000_000_123_456_000, 5_000, resource, kind=SpanKind.SERVER,
             attributes=[KeyValue("s", "x" * 300), KeyValue("i", -5), KeyValue("big", 2**62), KeyValue("f", 0.25),
                         KeyValue("t", True), KeyValue("no", False), KeyValue("bin", b"\x00\xff"), KeyValue("e", ""),
                         KeyValue("zero", 0)],
             events=[Event(1_700_000_000_123_457_000, "boom", [KeyValue("k", "v"), KeyValue("n", 1.5)])], flags=1),
        Span(T128, 2, "child", 1_700_000_000_200_000_000, 0, resource, parent_span_id=1,
             status=Status(StatusCode.ERROR, ""), links=[Link(7, 8, RefType.FOLLOWS_FROM), Link(T128, 1, RefType.CHILD_OF)],
             flags=3),
        Span(42, 2**64 - 1, "ünïcode", 0, 1, resource, kind=SpanKind.CLIENT, parent_span_id=2**63),
    ]


def roundtrip(packets: list) -> list[Span]:
    return [s for payload, _ in post_spans_requests(packets) for s in decode_post_spans(payload)]


@pytest.mark.parametrize("protocol", ["compact", "binary"])
def test_transcoded_packet_decodes_like_the_packet(protocol: str) -> None:
    data = jt.encode_agent_message(varied_spans(), protocol)
    assert roundtrip([transcode_agent_message(data, protocol)]) == jt.decode_agent_message(data, protocol)


def test_packets_of_two_processes_become_two_requests_and_tags_are_appended() -> None:
    a = transcode_agent_message(jt.encode_agent_message(varied_spans(RES)))
    b = transcode_agent_message(jt.encode_agent_message(varied_spans(OTHER)))
    c = transcode_agent_message(jt.encode_agent_message(varied_spans(RES)))
    for p in (a, b, c):
        p.process += process_tags_suffix([KeyValue("dc", "eu")])
    requests = post_spans_requests([a, b, c])
    assert [n for _, n in requests] == [6, 3]
    spans = roundtrip([a, b, c])
    assert [s.resource.service_name for s in spans] == ["shop"] * 6 + ["db"] * 3
    assert dict(spans[0].resource.attributes)["dc"] == "eu" and dict(spans[-1].resource.attributes)["dc"] == "eu"


def test_model_spans_encode_to_equal_spans() -> None:
    spans = jt.decode_agent_message(jt.encode_agent_message(varied_spans()))
    assert roundtrip(packets_from_spans(spans)) == spans


def test_invalid_packets_are_decode_errors() -> None:
    data = jt.encode_agent_message(varied_spans())
    for bad in (b"", b"\x00\x01", data[: len(data) // 2]):
        with pytest.raises(DecodeError):
            transcode_agent_message(bad)
