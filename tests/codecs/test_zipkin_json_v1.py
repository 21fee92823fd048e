"""Zipkin v1 JSON codec: v1 annotations onto the model, typed binary annotations, round
trips through the model, and bad input."""

from __future__ import annotations

import base64
import json

import pytest

from spyglass.codecs.errors import DecodeError
from spyglass.codecs.zipkin_json_v1 import decode_zipkin_json_v1, encode_zipkin_json_v1
from spyglass.codecs.zipkin_json_v2 import decode_zipkin_json_v2
from spyglass.model import Event, KeyValue, Resource, SpanKind, Status, StatusCode

FRONT = {"serviceName": "frontend", "ipv4": "127.0.0.1", "port": 8080}
BACK = {"serviceName": "backend", "ipv4": "192.168.99.101", "ipv6": "2001:db8::1", "port": 9000}

SHARED_RPC = {
    "traceId": "463ac35c9f6413ad48485a3953bb6124",
    "id": "a2fb4a1d1a96d312",
    "parentId": "0020000000000001",
    "name": "get",
    "timestamp": 1000,
    "duration": 500,
    "debug": True,
    "annotations": [
        {"timestamp": 1000, "value": "cs", "endpoint": FRONT},
        {"timestamp": 1100, "value": "sr", "endpoint": BACK},
        {"timestamp": 1200, "value": "cache miss", "endpoint": BACK},
        {"timestamp": 1400, "value": "ss", "endpoint": BACK},
        {"timestamp": 1500, "value": "cr", "endpoint": FRONT},
    ],
    "binaryAnnotations": [
        {"key": "http.path", "value": "/users", "endpoint": FRONT},
        {"key": "sa", "value": True, "endpoint": BACK},
        {"key": "ca", "value": True, "endpoint": FRONT},
        {"key": "error", "value": "timeout", "endpoint": BACK},
    ],
}


def _decode(spans: list) -> list:
    return decode_zipkin_json_v1(json.dumps(spans).encode())


def test_a_shared_rpc_span_becomes_client_and_server_spans() -> None:
    client, server = _decode([SHARED_RPC])
    for s in (client, server):
        assert s.trace_id == 0x463AC35C9F6413AD48485A3953BB6124
        assert s.span_id == 0xA2FB4A1D1A96D312
        assert s.parent_span_id == 0x0020000000000001
        assert s.name == "get"
        assert s.flags == 3
    assert client.kind is SpanKind.CLIENT
    assert (client.start_time_ns, client.duration_ns) == (1_000_000, 500_000)
    assert client.resource == Resource("frontend", [KeyValue("net.host.ip", "127.0.0.1"), KeyValue("net.host.port", 8080)])
    assert client.attributes == [
        KeyValue("http.path", "/users"),
        KeyValue("peer.service", "backend"),
        KeyValue("net.peer.ip", "192.168.99.101"),
        KeyValue("net.peer.ip", "2001:db8::1"),
        KeyValue("net.peer.port", 9000),
    ]
    assert client.status == Status()
    assert server.kind is SpanKind.SERVER
    assert (server.start_time_ns, server.duration_ns) == (1_100_000, 300_000)
    assert server.resource.service_name == "backend"
    assert server.attributes == [
        KeyValue("peer.service", "frontend"),
        KeyValue("net.peer.ip", "127.0.0.1"),
        KeyValue("net.peer.port", 8080),
        KeyValue("zipkin.shared", True),
    ]
    assert server.status == Status(StatusCode.ERROR, "timeout")
    assert server.events == [Event(1_200_000, "cache miss")]


def test_model_round_trip_through_v1_json() -> None:
    spans = _decode([SHARED_RPC])
    again = decode_zipkin_json_v1(encode_zipkin_json_v1(spans))
    assert again == spans


def test_v2_spans_survive_v1_json() -> None:
    v2 = [
        {"traceId": "1", "id": "2", "kind": "CLIENT", "timestamp": 10, "duration": 5,
         "localEndpoint": {"serviceName": "a"}, "remoteEndpoint": {"serviceName": "b", "port": 80},
         "tags": {"k": "v"}, "annotations": [{"timestamp": 12, "value": "x"}]},
        {"traceId": "1", "id": "3", "kind": "SERVER", "shared": True, "timestamp": 11, "duration": 3,
         "localEndpoint": {"serviceName": "b"}},
        {"traceId": "1", "id": "4", "kind": "PRODUCER", "timestamp": 11, "localEndpoint": {"serviceName": "b"},
         "remoteEndpoint": {"serviceName": "kafka"}},
        {"traceId": "1", "id": "5", "kind": "CONSUMER", "timestamp": 11, "duration": 4,
         "localEndpoint": {"serviceName": "c"}},
        {"traceId": "1", "id": "6", "timestamp": 11, "duration": 4, "localEndpoint": {"serviceName": "c"},
         "tags": {"span.kind": "internal"}},
        {"traceId": "1", "id": "7", "timestamp": 11, "duration": 4},
    ]
    spans = decode_zipkin_json_v2(json.dumps(v2).encode())
    assert decode_zipkin_json_v1(encode_zipkin_json_v1(spans)) == spans


@pytest.mark.parametrize(
    ("annotation", "value"),
    [
        ({"value": "text"}, "text"),
        ({"value": "text", "type": "STRING"}, "text"),
        ({"value": True}, True),
        ({"value": False, "type": "BOOL"}, False),
        ({"value": "true", "type": "BOOL"}, True),
        ({"value": 12}, 12),
        ({"value": -32768, "type": "I16"}, -32768),
        ({"value": 2147483647, "type": "I32"}, 2147483647),
        ({"value": "-9223372036854775808", "type": "I64"}, -(1 << 63)),
        ({"value": 1.25, "type": "DOUBLE"}, 1.25),
        ({"value": "2.5", "type": "DOUBLE"}, 2.5),
        ({"value": 3, "type": "DOUBLE"}, 3.0),
        ({"value": base64.b64encode(b"\x00\xff").decode(), "type": "BYTES"}, b"\x00\xff"),
    ],
)
def test_every_binary_annotation_type(annotation: dict, value: object) -> None:
    (span,) = _decode([{"traceId": "1", "id": "2", "binaryAnnotations": [{"key": "k", **annotation, "endpoint": FRONT}]}])
    assert span.attributes == [KeyValue("k", value)]
    assert type(span.attributes[0].value) is type(value)
    # ... and the type survives encoding
    assert decode_zipkin_json_v1(encode_zipkin_json_v1([span])) == [span]


def test_typed_values_are_written_with_their_type() -> None:
    (span,) = _decode([{"traceId": "1", "id": "2", "binaryAnnotations": [{"key": "lc", "value": "", "endpoint": FRONT}]}])
    span.attributes = [KeyValue("b", True), KeyValue("i", 5), KeyValue("d", 0.5), KeyValue("raw", b"\x01"), KeyValue("s", "x")]
    (out,) = json.loads(encode_zipkin_json_v1([span]))
    assert [{k: v for k, v in b.items() if k != "endpoint"} for b in out["binaryAnnotations"]] == [
        {"key": "b", "value": True, "type": "BOOL"},
        {"key": "i", "value": 5, "type": "I64"},
        {"key": "d", "value": 0.5, "type": "DOUBLE"},
        {"key": "raw", "value": "AQ==", "type": "BYTES"},
        {"key": "s", "value": "x"},
    ]
    assert all(b["endpoint"] == {"serviceName": "frontend", "ipv4": "127.0.0.1", "port": 8080} for b in out["binaryAnnotations"])


def test_address_annotation_without_endpoint_is_dropped() -> None:
    (span,) = _decode([{"traceId": "1", "id": "2", "binaryAnnotations": [{"key": "sa", "value": True}]}])
    assert span.attributes == []


def test_negative_thrift_style_port_is_unsigned() -> None:
    (span,) = _decode([{"traceId": "1", "id": "2", "annotations": [
        {"timestamp": 1, "value": "sr", "endpoint": {"serviceName": "a", "port": -1}}]}])
    assert span.resource.attributes == [KeyValue("net.host.port", 65535)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "invalid Zipkin v1 JSON"),
        (b"{]", "invalid Zipkin v1 JSON"),
        (b'[{"traceId":"1","id":"2","annotations":[{"timestamp":1,"value":"cs"}', "invalid Zipkin v1 JSON"),
        (b'[{"traceId":"1"}]', "`id`"),
        (b'[{"traceId":"q","id":"2"}]', "traceId must be"),
        (b'[{"traceId":"0","id":"2"}]', "traceId is zero"),
        (b'[{"traceId":"1","id":"2","annotations":[{"value":"cs"}]}]', "timestamp"),
        (b'[{"traceId":"1","id":"2","annotations":[{"timestamp":-5,"value":"cs"}]}]', "timestamp"),
        (b'[{"traceId":"1","id":"2","binaryAnnotations":[{"key":"k"}]}]', "value"),
        (b'[{"traceId":"1","id":"2","binaryAnnotations":[{"key":"k","value":null}]}]', "value"),
        (b'[{"traceId":"1","id":"2","binaryAnnotations":[{"key":"k","value":[1]}]}]', "value"),
        (b'[{"traceId":"1","id":"2","binaryAnnotations":[{"key":"k","value":"x","type":"WEIRD"}]}]', "unknown type"),
        (b'[{"traceId":"1","id":"2","binaryAnnotations":[{"key":"k","value":"x","type":"I32"}]}]', "not a valid I32"),
        (b'[{"traceId":"1","id":"2","binaryAnnotations":[{"key":"k","value":70000,"type":"I16"}]}]', "does not fit I16"),
        (b'[{"traceId":"1","id":"2","binaryAnnotations":[{"key":"k","value":"%%","type":"BYTES"}]}]', "not a valid BYTES"),
        (b'[{"traceId":"1","id":"2","binaryAnnotations":[{"key":"k","value":1,"type":"BOOL"}]}]', "not a valid BOOL"),
        (b'[{"traceId":"1","id":"2","binaryAnnotations":[{"key":"k","value":true,"type":"DOUBLE"}]}]', "not a valid DOUBLE"),
        (b'[{"traceId":"1","id":"2","binaryAnnotations":[{"key":"k","value":"x","type":"STRING","endpoint":5}]}]', "endpoint"),
    ],
)
def test_bad_input_is_a_decode_error(body: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_zipkin_json_v1(body)
