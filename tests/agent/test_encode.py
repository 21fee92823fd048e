"""The agent's transcoder: a Jaeger Thrift packet sent on through ``agent.encode`` decodes
(with the collector's api_v2 decoder) to exactly the spans of the packet itself, for our
encoder's packets, thriftpy2's, the real jaeger-client's, and broken ones."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import opentracing
import pytest
import thriftpy2
from jaeger_client import Config
from thriftpy2.protocol import TCompactProtocolFactory
from thriftpy2.protocol.binary import TBinaryProtocolFactory
from thriftpy2.thrift import TMessageType
from thriftpy2.transport.memory import TMemoryBuffer as Tp2Buffer

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


# -- the fast path against the library path, on other encoders' packets and broken ones --------

THRIFT_DIR = Path(jt.__file__).resolve().parent / "thrift"
TP2 = thriftpy2.load(str(THRIFT_DIR / "agent.thrift"), module_name="agent_encode_test_thrift",
                     include_dirs=[str(THRIFT_DIR)])
J = TP2.jaeger
TP2_FACTORIES = {"binary": TBinaryProtocolFactory, "compact": TCompactProtocolFactory}


def fast_path(data: bytes, protocol: str = "compact") -> list[Span]:
    """What the agent forwards, decoded back to the model by the collector's api_v2 decoder."""
    return roundtrip([transcode_agent_message(data, protocol)])


def tp2_packet(batch: Any, protocol: str) -> bytes:
    buf = Tp2Buffer()
    proto = TP2_FACTORIES[protocol]().get_protocol(buf)
    proto.write_message_begin("emitBatch", TMessageType.ONEWAY, 1)
    TP2.Agent.emitBatch_args(batch=batch).write(proto)
    proto.write_message_end()
    return buf.getvalue()


def tp2_batch() -> Any:
    """Written by hand with thriftpy2, not by our encoder: negative (top-bit) IDs, a missing
    traceIdHigh, tags whose value field is absent, a parent repeated in the references,
    references into other traces, logs, every tag type, seqNo and stats."""
    T = J.TagType
    tags = [J.Tag("s", T.STRING, vStr="x"), J.Tag("absent", T.STRING), J.Tag("d", T.DOUBLE, vDouble=-0.5),
            J.Tag("b", T.BOOL, vBool=True), J.Tag("bf", T.BOOL, vBool=False), J.Tag("l", T.LONG, vLong=-(1 << 63)),
            J.Tag("bin", T.BINARY, vBinary=b"\x00\xff"), J.Tag("nolong", T.LONG), J.Tag("span.kind", T.STRING, vStr="client"),
            J.Tag("error", T.BOOL, vBool=True), J.Tag("u", T.STRING, vStr="héllo ✓")]
    spans = [
        J.Span(traceIdLow=-1, traceIdHigh=-2, spanId=-3, parentSpanId=-4, operationName="op", flags=1,
               startTime=1_700_000_000_000_001, duration=-5, tags=tags,
               references=[J.SpanRef(J.SpanRefType.CHILD_OF, -1, -2, -4), J.SpanRef(J.SpanRefType.FOLLOWS_FROM, 9, 0, 10),
                           J.SpanRef(J.SpanRefType.CHILD_OF, 11, 12, 13)],
               logs=[J.Log(1_700_000_000_000_002, [J.Tag("event", T.STRING, vStr="boom"), J.Tag("n", T.LONG, vLong=3)]),
                     J.Log(-7, [])]),
        J.Span(traceIdLow=5, spanId=6, parentSpanId=0, operationName="", flags=0, startTime=0, duration=0),
    ]
    process = J.Process("svc", [J.Tag("hostname", T.STRING, vStr="h"), J.Tag("n", T.LONG, vLong=2)])
    return J.Batch(process=process, spans=spans, seqNo=4, stats=J.ClientStats(1, 2, 3))


@pytest.mark.parametrize("protocol", ["compact", "binary"])
def test_thriftpy2_packets_fast_path_equals_library_path(protocol: str) -> None:
    data = tp2_packet(tp2_batch(), protocol)
    expected = jt.decode_agent_message(data, protocol)
    assert len(expected) == 2
    assert fast_path(data, protocol) == expected


def capture_jaeger_client_packets() -> list[bytes]:
    """The datagrams the real jaeger-client sends (128-bit IDs, every tag type, logs, a
    follows-from reference into another trace)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(10)
        config = Config(
            config={"sampler": {"type": "const", "param": 1}, "generate_128bit_trace_id": True,
                    "local_agent": {"reporting_host": "127.0.0.1", "reporting_port": sock.getsockname()[1]},
                    "reporter_flush_interval": 0.05, "tags": {"region": "eu-1"}, "logging": False},
            service_name="shop", validate=True)
        tracer = config.new_tracer()
        try:
            root = tracer.start_span("GET /cart", tags={"span.kind": "server", "http.status_code": 200})
            root.set_tag("ratio", 0.5)
            root.set_tag("cached", False)
            root.log_kv({"event": "cache miss", "key": "cart:1"})
            child = tracer.start_span("SELECT", child_of=root, tags={"span.kind": "client", "error": True})
            other = tracer.start_span("elsewhere")
            follower = tracer.start_span("job", child_of=root, references=[opentracing.follows_from(other.context)])
            for s in (follower, other, child, root):
                s.finish()
        finally:
            tracer.close()
        out, spans = [], 0
        while spans < 4:
            data = sock.recv(65_536)
            out.append(data)
            spans += len(jt.decode_agent_message(data))
        return out


async def test_jaeger_client_packets_fast_path_equals_library_path() -> None:  # jaeger-client wants a loop
    packets = capture_jaeger_client_packets()
    for data in packets:
        expected = jt.decode_agent_message(data)
        assert fast_path(data) == expected
    spans = [s for data in packets for s in fast_path(data)]
    assert len(spans) == 4 and any(s.trace_id >> 64 for s in spans)
    assert any(s.links for s in spans) and any(s.events for s in spans)


@pytest.mark.parametrize("protocol", ["compact", "binary"])
def test_broken_packets_are_decode_errors_or_equal_to_the_library_path(protocol: str) -> None:
    """Every truncation, and every byte of the packet replaced by a few values: the fast path
    either refuses it with DecodeError (never another exception) or forwards exactly what
    the library path decodes; and it refuses whatever the library path refuses."""
    data = tp2_packet(tp2_batch(), protocol)
    broken = [data[:i] for i in range(len(data))]
    broken += [data[:i] + bytes((v,)) + data[i + 1:] for i in range(len(data)) for v in (0x00, 0x7F, 0xFF)]
    refused = 0
    for bad in broken:
        try:
            expected = jt.decode_agent_message(bad, protocol)
        except DecodeError:
            expected = None
        try:
            got = fast_path(bad, protocol)
        except DecodeError:
            refused += 1
            assert expected is None, bad
            continue
        assert got == expected, bad
    assert refused > len(data)  # every truncation at least
