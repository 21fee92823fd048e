"""Zipkin v2 JSON codec: every field both ways, IDs, mapping rules, and bad input."""

from __future__ import annotations

import json

import pytest

from spyglass.codecs.errors import DecodeError
from spyglass.codecs.zipkin_json_v2 import decode_zipkin_json_v2, encode_zipkin_json_v2
from spyglass.codecs.zipkin_model import NO_SERVICE_NAME
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

FULL = {
    "traceId": "463ac35c9f6413ad48485a3953bb6124",
    "id": "a2fb4a1d1a96d312",
    "parentId": "0020000000000001",
    "name": "get /api",
    "kind": "SERVER",
    "timestamp": 1472470996199000,
    "duration": 207000,
    "debug": True,
    "shared": True,
    "localEndpoint": {"serviceName": "frontend", "ipv4": "192.168.99.1", "ipv6": "2001:db8::c001", "port": 8080},
    "remoteEndpoint": {"serviceName": "backend", "ipv4": "172.19.0.2", "port": 58648},
    "annotations": [
        {"timestamp": 1472470996238000, "value": "ws"},
        {"timestamp": 1472470996403000, "value": "retry|{\"attempt\":2,\"ok\":false}|1"},
    ],
    "tags": {
        "http.method": "GET",
        "http.path": "/api",
        "error": "connection refused",
        "telemetry.sdk.language": "python",
        "otel.scope.name": "flask",
        "otel.scope.version": "1.2",
        "w3c.tracestate": "k=v",
        "otlp.link.0": "0000000000000000000000000000abcd|00000000000000ef|st|{\"a\":\"b\"}|0",
    },
}


def _one(payload: object) -> Span:
    spans = decode_zipkin_json_v2(json.dumps(payload).encode())
    assert len(spans) == 1
    return spans[0]


def test_every_field_decodes_onto_the_model() -> None:
    span = _one([FULL])
    assert span.trace_id == 0x463AC35C9F6413AD48485A3953BB6124
    assert span.span_id == 0xA2FB4A1D1A96D312
    assert span.parent_span_id == 0x0020000000000001
    assert span.name == "get /api"
    assert span.kind is SpanKind.SERVER
    assert span.start_time_ns == 1472470996199000 * 1000
    assert span.duration_ns == 207000 * 1000
    assert span.flags == 3  # debug | sampled
    assert span.resource == Resource(
        "frontend",
        [
            KeyValue("net.host.ip", "192.168.99.1"),
            KeyValue("net.host.ip", "2001:db8::c001"),
            KeyValue("net.host.port", 8080),
            KeyValue("telemetry.sdk.language", "python"),
        ],
    )
    assert span.attributes == [
        KeyValue("http.method", "GET"),
        KeyValue("http.path", "/api"),
        KeyValue("peer.service", "backend"),
        KeyValue("net.peer.ip", "172.19.0.2"),
        KeyValue("net.peer.port", 58648),
        KeyValue("zipkin.shared", True),
    ]
    assert span.status == Status(StatusCode.ERROR, "connection refused")
    assert span.scope == Scope("flask", "1.2")
    assert span.trace_state == "k=v"
    assert span.links == [Link(0xABCD, 0xEF, RefType.FOLLOWS_FROM, "st", [KeyValue("a", "b")])]
    assert span.events == [
        Event(1472470996238000 * 1000, "ws"),
        Event(1472470996403000 * 1000, "retry", [KeyValue("attempt", 2), KeyValue("ok", False)], 1),
    ]


def test_every_field_round_trips() -> None:
    spans = decode_zipkin_json_v2(json.dumps([FULL]).encode())
    encoded = json.loads(encode_zipkin_json_v2(spans))
    assert len(encoded) == 1
    got = encoded[0]
    assert got.pop("tags") == FULL["tags"]
    want = dict(FULL)
    del want["tags"]
    # OTel's event text is re-serialised compactly; the values are what matter.
    assert got.pop("annotations")[1]["value"] == 'retry|{"attempt":2,"ok":false}|1'
    del want["annotations"]
    assert got == want
    assert decode_zipkin_json_v2(encode_zipkin_json_v2(spans)) == spans


def test_minimal_span_gets_defaults() -> None:
    span = _one([{"traceId": "1", "id": "2"}])
    assert (span.trace_id, span.span_id, span.parent_span_id) == (1, 2, 0)
    assert span.name == ""
    assert span.resource == Resource(NO_SERVICE_NAME)
    assert span.kind is SpanKind.UNSPECIFIED
    assert span.status == Status()
    assert (span.start_time_ns, span.duration_ns, span.flags) == (0, 0, 1)
    assert span.attributes == [] and span.events == [] and span.links == []
    assert json.loads(encode_zipkin_json_v2([span])) == [{"traceId": "0000000000000001", "id": "0000000000000002"}]


@pytest.mark.parametrize(
    ("text", "value", "written"),
    [
        ("48485a3953bb6124", 0x48485A3953BB6124, "48485a3953bb6124"),
        ("463ac35c9f6413ad48485a3953bb6124", 0x463AC35C9F6413AD48485A3953BB6124, "463ac35c9f6413ad48485a3953bb6124"),
        ("463AC35C9F6413AD48485A3953BB6124", 0x463AC35C9F6413AD48485A3953BB6124, "463ac35c9f6413ad48485a3953bb6124"),
        ("00000000000000000000000000000001", 1, "0000000000000001"),
        ("abc", 0xABC, "0000000000000abc"),
    ],
)
def test_trace_ids_of_64_and_128_bits(text: str, value: int, written: str) -> None:
    span = _one([{"traceId": text, "id": "0000000000000002"}])
    assert span.trace_id == value
    assert json.loads(encode_zipkin_json_v2([span]))[0]["traceId"] == written


def test_parent_equal_to_id_is_a_root() -> None:
    assert _one([{"traceId": "1", "id": "2", "parentId": "2"}]).parent_span_id == 0


@pytest.mark.parametrize(
    ("tags", "status", "left"),
    [
        ({"error": "true"}, Status(StatusCode.ERROR, ""), []),
        ({"error": ""}, Status(StatusCode.ERROR, ""), []),
        ({"error": "boom"}, Status(StatusCode.ERROR, "boom"), []),
        ({"error": "false"}, Status(), [KeyValue("error", "false")]),
        ({"otel.status_code": "OK", "otel.status_description": "fine"}, Status(StatusCode.OK, "fine"), []),
        ({"otel.status_code": "ERROR", "error": "bad"}, Status(StatusCode.ERROR, "bad"), []),
        ({"otel.status_code": "STATUS_CODE_ERROR"}, Status(StatusCode.ERROR, ""), []),
        ({"otel.status_description": "orphan"}, Status(), [KeyValue("otel.status_description", "orphan")]),
    ],
)
def test_status_from_tags(tags: dict[str, str], status: Status, left: list[KeyValue]) -> None:
    span = _one([{"traceId": "1", "id": "2", "tags": tags}])
    assert span.status == status
    assert span.attributes == left


def test_status_written_back() -> None:
    base = _one([{"traceId": "1", "id": "2"}])
    for status, tags in [
        (Status(StatusCode.ERROR, "boom"), {"error": "boom"}),
        (Status(StatusCode.ERROR, ""), {"error": "true"}),
        (Status(StatusCode.OK, "fine"), {"otel.status_code": "OK", "otel.status_description": "fine"}),
    ]:
        base.status = status
        assert json.loads(encode_zipkin_json_v2([base]))[0]["tags"] == tags
        assert _one(json.loads(encode_zipkin_json_v2([base]))).status == status


def test_span_kind_tag_only_without_a_kind() -> None:
    span = _one([{"traceId": "1", "id": "2", "tags": {"span.kind": "internal"}}])
    assert span.kind is SpanKind.INTERNAL and span.attributes == []
    assert json.loads(encode_zipkin_json_v2([span]))[0]["tags"] == {"span.kind": "internal"}
    span = _one([{"traceId": "1", "id": "2", "kind": "CLIENT", "tags": {"span.kind": "server"}}])
    assert span.kind is SpanKind.CLIENT
    assert span.attributes == [KeyValue("span.kind", "server")]


@pytest.mark.parametrize("kind", ["CLIENT", "SERVER", "PRODUCER", "CONSUMER"])
def test_every_kind_round_trips(kind: str) -> None:
    span = _one([{"traceId": "1", "id": "2", "kind": kind}])
    assert span.kind is SpanKind[kind]
    assert json.loads(encode_zipkin_json_v2([span]))[0]["kind"] == kind


def test_unknown_kind_is_no_kind() -> None:
    assert _one([{"traceId": "1", "id": "2", "kind": "SIDEWAYS"}]).kind is SpanKind.UNSPECIFIED


def test_service_name_tag_is_a_fallback_and_dropped_when_equal() -> None:
    span = _one([{"traceId": "1", "id": "2", "tags": {"service.name": "from-tag"}}])
    assert span.resource.service_name == "from-tag" and span.attributes == []
    span = _one([{"traceId": "1", "id": "2", "localEndpoint": {"serviceName": "a"}, "tags": {"service.name": "a"}}])
    assert span.resource.service_name == "a" and span.attributes == []
    span = _one([{"traceId": "1", "id": "2", "localEndpoint": {"serviceName": "a"}, "tags": {"service.name": "b"}}])
    assert span.resource.service_name == "a" and span.attributes == [KeyValue("service.name", "b")]


def test_ip_addresses_are_normalised_and_invalid_ones_dropped() -> None:
    span = _one(
        [
            {
                "traceId": "1",
                "id": "2",
                "localEndpoint": {"serviceName": "a", "ipv4": "not-an-ip", "ipv6": "::ffff:10.1.2.3"},
                "remoteEndpoint": {"ipv4": "2001:DB8:0:0::1", "port": 0},
            }
        ]
    )
    assert span.resource.attributes == [KeyValue("net.host.ip", "10.1.2.3")]
    assert span.attributes == [KeyValue("net.peer.ip", "2001:db8::1")]
    got = json.loads(encode_zipkin_json_v2([span]))[0]
    assert got["localEndpoint"] == {"serviceName": "a", "ipv4": "10.1.2.3"}
    assert got["remoteEndpoint"] == {"ipv6": "2001:db8::1"}


def test_spans_of_one_endpoint_share_one_resource() -> None:
    spans = decode_zipkin_json_v2(
        json.dumps(
            [
                {"traceId": "1", "id": "2", "localEndpoint": {"serviceName": "a", "port": 1}},
                {"traceId": "1", "id": "3", "localEndpoint": {"serviceName": "a", "port": 1}},
                {"traceId": "1", "id": "4", "localEndpoint": {"serviceName": "b"}},
            ]
        ).encode()
    )
    assert spans[0].resource is spans[1].resource
    assert spans[2].resource is not spans[0].resource


def test_non_string_tag_values_are_kept_as_text() -> None:
    span = _one([{"traceId": "1", "id": "2", "tags": {"n": 5, "f": 1.5, "b": True}}])
    assert span.attributes == [KeyValue("n", "5"), KeyValue("f", "1.5"), KeyValue("b", "true")]


def test_model_only_values_are_written_as_text() -> None:
    span = _one([{"traceId": "1", "id": "2"}])
    span.attributes = [KeyValue("i", 7), KeyValue("arr", [1, "x"]), KeyValue("raw", b"\x01\xff"), KeyValue("f", 0.5)]
    span.events = [Event(5_000_400, "plain"), Event(9_999_600, "with", [KeyValue("k", [1, 2])])]
    span.flags = 1
    got = json.loads(encode_zipkin_json_v2([span]))[0]
    assert got["tags"] == {"i": "7", "arr": '[1,"x"]', "raw": "01ff", "f": "0.5"}
    assert got["annotations"] == [
        {"timestamp": 5000, "value": "plain"},
        {"timestamp": 10000, "value": 'with|{"k":[1,2]}|0'},
    ]
    assert "debug" not in got


def test_empty_array_is_no_spans() -> None:
    assert decode_zipkin_json_v2(b"[]") == []
    assert encode_zipkin_json_v2([]) == b"[]"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "invalid Zipkin v2 JSON"),
        (b"\x00\xff garbage", "invalid Zipkin v2 JSON"),
        (b'[{"traceId":"1","id":"2"', "invalid Zipkin v2 JSON"),
        (b'{"traceId":"1","id":"2"}', "Expected `array`"),
        (b'[{"id":"2"}]', "traceId"),
        (b'[{"traceId":"1"}]', "`id`"),
        (b'[{"traceId":"xyz","id":"2"}]', "traceId must be"),
        (b'[{"traceId":"0x12","id":"2"}]', "traceId must be"),
        (b'[{"traceId":" 12","id":"2"}]', "traceId must be"),
        (b'[{"traceId":"' + b"1" * 33 + b'","id":"2"}]', "traceId must be"),
        (b'[{"traceId":"1","id":"12345678901234567"}]', "id must be"),
        (b'[{"traceId":"0000000000000000","id":"2"}]', "traceId is zero"),
        (b'[{"traceId":"1","id":"0"}]', "id is zero"),
        (b'[{"traceId":"1","id":"2","parentId":"zz"}]', "parentId must be"),
        (b'[{"traceId":"1","id":"2","timestamp":-1}]', "timestamp"),
        (b'[{"traceId":"1","id":"2","timestamp":"1"}]', "timestamp"),
        (b'[{"traceId":"1","id":"2","duration":1e3}]', "duration"),
        (b'[{"traceId":"1","id":"2","timestamp":99999999999999999999}]', "timestamp"),
        (b'[{"traceId":1,"id":"2"}]', "traceId"),
        (b'[{"traceId":"1","id":"2","tags":["a"]}]', "tags"),
        (b'[{"traceId":"1","id":"2","tags":{"a":null}}]', "tags"),
        (b'[{"traceId":"1","id":"2","annotations":[{"timestamp":1}]}]', "value"),
        (b'[{"traceId":"1","id":"2","localEndpoint":"x"}]', "localEndpoint"),
        (b'[{"traceId":"1","id":"2","localEndpoint":{"port":70000}}]', "port"),
        (b'[{"traceId":"1","id":"2","debug":"yes"}]', "debug"),
        (b"[1]", "invalid Zipkin v2 JSON"),
    ],
)
def test_bad_input_is_a_decode_error(body: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_zipkin_json_v2(body)


def test_error_names_the_span() -> None:
    with pytest.raises(DecodeError, match="span 1: traceId is zero"):
        decode_zipkin_json_v2(b'[{"traceId":"1","id":"2"},{"traceId":"0","id":"2"}]')
