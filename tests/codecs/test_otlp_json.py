"""OTLP/JSON <-> model: every storage fixture, round trips, leniency, invalid input."""

from __future__ import annotations

import base64
import copy
import glob
import json
import math
import os

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from spyglass.codecs import otlp_json, otlp_proto
from spyglass.codecs.errors import DecodeError
from spyglass.model import EMPTY_SCOPE, Event, KeyValue, Link, RefType, Resource, Scope, Span, SpanKind, Status, StatusCode

from support import JAEGER_FIXTURES

FIXTURES = str(JAEGER_FIXTURES / "traces")
TID = 0x0AF7651916CD43DD8448EB211C80319C
START = 1_485_449_191_639_875_000


def _fixture(name: str) -> bytes:
    with open(os.path.join(FIXTURES, name + ".json"), "rb") as f:
        return f.read()


def _without_follows_from(obj):
    """The fixtures spell out ``follows_from`` on links; we write only ``child_of``."""
    obj = copy.deepcopy(obj)
    for rs in obj["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for link in span.get("links", []):
                    attrs = [a for a in link.get("attributes", []) if a["value"] != {"stringValue": "follows_from"}]
                    if attrs:
                        link["attributes"] = attrs
                    else:
                        link.pop("attributes", None)
    return obj


def test_every_fixture_decodes_and_reencodes_to_the_same_json():
    files = sorted(glob.glob(os.path.join(FIXTURES, "*.json")))
    assert len(files) == 32
    for path in files:
        with open(path, "rb") as f:
            raw = f.read()
        spans = otlp_json.decode_export_request(raw)
        assert spans, path
        assert otlp_json.encode_traces_data(spans) == _without_follows_from(json.loads(raw)), path
        assert otlp_json.decode_export_request(otlp_json.encode_json(spans)) == spans, path
        # the JSON and protobuf codecs agree
        assert otlp_proto.decode_export_request(otlp_proto.encode_export_request(spans)) == spans, path
        msg = json_format.Parse(_hex_to_b64(raw), trace_service_pb2.ExportTraceServiceRequest())
        assert otlp_proto.spans_from_request(msg) == spans, path


def _hex_to_b64(raw: bytes) -> str:
    """protobuf's own JSON parser wants base64 IDs (it does not know OTLP's hex rule)."""
    obj = json.loads(raw)

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(obj)
    return json.dumps(obj)


def test_scope_fixture_values():
    [span] = otlp_json.decode_export_request(_fixture("scope_attributes_trace"))
    assert span.service_name == "query24-service"
    assert span.trace_id == 0x225 and span.span_id == 2
    assert span.duration_ns == 1000
    assert span.scope == Scope(
        "testing-library",
        "1.1.1",
        [
            KeyValue("sameplacescopeattribute1", "sameplacevalue"),
            KeyValue("sameplacescopeattribute2", 123),
            KeyValue("sameplacescopeattribute4", True),
            KeyValue("sameplacescopeattribute3", 72.5),
            KeyValue("scopeblob", b"\x00\x0009"),
        ],
    )
    assert span.events == [Event(START), Event(START)]


def test_link_fixture_ref_types():
    [span] = otlp_json.decode_export_request(_fixture("link_attributes_trace"))
    assert [(l.trace_id, l.span_id, l.ref_type) for l in span.links] == [
        (0xFF, 0xFF, RefType.CHILD_OF),
        (1, 2, RefType.CHILD_OF),
        (1, 2, RefType.FOLLOWS_FROM),
    ]
    assert span.links[0].attributes[0] == KeyValue("sameplacelinkattribute1", "sameplacevalue")
    assert all(kv.key != "opentracing.ref_type" for l in span.links for kv in l.attributes)


FULL = Span(
    trace_id=TID,
    span_id=0x00F067AA0BA902B7,
    name="GET /api",
    start_time_ns=START,
    duration_ns=12_345,
    resource=Resource("api", [KeyValue("k8s.pod", "p-1"), KeyValue("cores", 4)], 1, "https://r"),
    parent_span_id=0x1111,
    kind=SpanKind.CONSUMER,
    status=Status(StatusCode.OK, ""),
    attributes=[
        KeyValue("s", "x"),
        KeyValue("big", 2**63 - 1),
        KeyValue("neg", -(2**63)),
        KeyValue("f", 0.1),
        KeyValue("nan", math.inf),
        KeyValue("b", False),
        KeyValue("raw", b"\xfa\xce"),
        KeyValue("arr", [1, "two", [3.5], {"m": None}]),
        KeyValue("map", {"a": {"b": True}}),
        KeyValue("none", None),
        KeyValue("emptyarr", []),
        KeyValue("emptymap", {}),
    ],
    events=[Event(START + 1, "e1", [KeyValue("k", "v")], 2), Event(START + 2)],
    links=[
        Link(TID, 5, RefType.CHILD_OF, "ts", [KeyValue("why", "retry")], 0x101, 3),
        Link(TID + 1, 6, RefType.FOLLOWS_FROM),
    ],
    flags=0x101,
    trace_state="a=1,b=2",
    scope=Scope("lib", "9", [KeyValue("sa", "sv")], 4, "https://s"),
    dropped_attributes_count=5,
    dropped_events_count=6,
    dropped_links_count=7,
)


def test_round_trip_every_field():
    assert otlp_json.decode_export_request(otlp_json.encode_json([FULL])) == [FULL]
    # and the protobuf codec reads the same spans from its own encoding
    assert otlp_proto.decode_export_request(otlp_proto.encode_export_request([FULL])) == [FULL]


def test_encoding_matches_the_api_v3_gateway_shape():
    doc = otlp_json.encode_traces_data([FULL, Span(TID, 9, "bare", START, 0, Resource("bare"))])
    rs = doc["resourceSpans"][0]
    assert rs["schemaUrl"] == "https://r"
    assert rs["resource"]["attributes"][0] == {"key": "service.name", "value": {"stringValue": "api"}}
    assert rs["resource"]["droppedAttributesCount"] == 1
    ss = rs["scopeSpans"][0]
    assert ss["scope"] == {"name": "lib", "version": "9", "attributes": [{"key": "sa", "value": {"stringValue": "sv"}}], "droppedAttributesCount": 4}
    assert ss["schemaUrl"] == "https://s"
    span = ss["spans"][0]
    assert span["traceId"] == "0af7651916cd43dd8448eb211c80319c"
    assert span["spanId"] == "00f067aa0ba902b7" and span["parentSpanId"] == "0000000000001111"
    assert span["kind"] == 5 and span["status"] == {"code": 1}
    assert span["startTimeUnixNano"] == str(START) and span["endTimeUnixNano"] == str(START + 12_345)
    attrs = {a["key"]: a["value"] for a in span["attributes"]}
    assert attrs["big"] == {"intValue": "9223372036854775807"}
    assert attrs["nan"] == {"doubleValue": "Infinity"}
    assert attrs["raw"] == {"bytesValue": "+s4="}
    assert attrs["none"] == {} and attrs["emptyarr"] == {"arrayValue": {}}
    assert attrs["arr"]["arrayValue"]["values"][3] == {"kvlistValue": {"values": [{"key": "m", "value": {}}]}}
    assert span["links"][0]["attributes"][0] == {"key": "opentracing.ref_type", "value": {"stringValue": "child_of"}}
    assert "attributes" not in span["links"][1]
    bare = doc["resourceSpans"][1]["scopeSpans"][0]
    assert bare["scope"] == {}
    assert bare["spans"][0] == {
        "traceId": "0af7651916cd43dd8448eb211c80319c",
        "spanId": "0000000000000009",
        "name": "bare",
        "startTimeUnixNano": str(START),
        "endTimeUnixNano": str(START),
        "status": {},
    }


def test_lenient_input_forms():
    doc = {
        "resource_spans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"string_value": "snake"}}]},
                "scope_spans": [
                    {
                        "scope": None,
                        "spans": [
                            {
                                "trace_id": base64.b64encode(TID.to_bytes(16, "big")).decode(),
                                "span_id": "AAAAAAAAAAE=",
                                "name": "n",
                                "kind": "SPAN_KIND_CLIENT",
                                "start_time_unix_nano": 10,
                                "end_time_unix_nano": "25",
                                "attributes": [
                                    {"key": "i", "value": {"int_value": 7}},
                                    {"key": "d", "value": {"double_value": "NaN"}},
                                    {"key": "d2", "value": {"double_value": 3}},
                                    {"key": "u", "value": {"bytes_value": "-_8="}},
                                ],
                                "status": {"code": "STATUS_CODE_ERROR", "message": "m"},
                                "events": None,
                            }
                        ],
                    }
                ],
            }
        ]
    }
    for payload in (doc, json.dumps(doc), json.dumps(doc).encode()):
        [span] = otlp_json.decode_export_request(payload)
        assert span.service_name == "snake" and span.trace_id == TID and span.span_id == 1
        assert span.kind is SpanKind.CLIENT and span.duration_ns == 15 and span.start_time_ns == 10
        values = dict(span.attributes)
        assert values["i"] == 7 and math.isnan(values["d"]) and values["d2"] == 3.0 and values["u"] == b"\xfb\xff"
        assert span.status == Status(StatusCode.ERROR, "m") and span.scope is EMPTY_SCOPE


def test_empty_and_missing_parts():
    assert otlp_json.decode_export_request(b"{}") == []
    assert otlp_json.decode_export_request(b'{"resourceSpans":[{"scopeSpans":[{"spans":[]}]}]}') == []
    [span] = otlp_json.decode_export_request(
        b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"0000000000000001"}]}]}]}'
    )
    assert span.service_name == "OTLPResourceNoServiceName" and span.name == "" and span.duration_ns == 0


def _one_span_doc(**span):
    base = {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "0000000000000001", "name": "ok"}
    base.update(span)
    return {"resourceSpans": [{"scopeSpans": [{"spans": [base]}]}]}


@pytest.mark.parametrize(
    "bad",
    [
        {"traceId": "00000000000000000000000000000000"},
        {"traceId": ""},
        {"traceId": "0af7651916cd43dd8448eb211c80319"},
        {"traceId": "zzf7651916cd43dd8448eb211c80319c"},
        {"spanId": "0000000000000000"},
        {"spanId": "00000001"},
        {"parentSpanId": "0102"},
        {"links": [{"traceId": "0af7", "spanId": "0000000000000001"}]},
    ],
)
def test_invalid_ids_are_rejected_one_span_at_a_time(bad):
    doc = _one_span_doc()
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"].append({**_one_span_doc()["resourceSpans"][0]["scopeSpans"][0]["spans"][0], **bad})
    spans, rejected, message = otlp_json.decode_export_request_partial(json.dumps(doc))
    assert [s.name for s in spans] == ["ok"] and rejected == 1 and message.startswith("1 span(s) rejected")
    with pytest.raises(DecodeError):
        otlp_json.decode_export_request(json.dumps(doc))


_IDS = b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "0000000000000001", "attributes": [{}]}]}]}]}'


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not json",
        b"[1,2]",
        b'{"resourceSpans": 5}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 7}]}]}]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}',
        _IDS.replace(b"{}", b'{"key": "k", "value": {"intValue": "x"}}'),
        _IDS.replace(b"{}", b'{"key": "k", "value": {"bytesValue": "!!"}}'),
        _IDS.replace(b"{}", b'{"key": "k", "value": {"doubleValue": "many"}}'),
        _IDS.replace(b"{}", b'{"key": "k", "value": {"boolValue": "yes"}}'),
        _IDS.replace(b"{}", b'{"key": 5}'),
        b'{"resourceSpans": [',
        b"\xff\xfe",
    ],
)
def test_malformed_payloads_are_decode_errors(payload):
    with pytest.raises(DecodeError):
        otlp_json.decode_export_request_partial(payload)


def test_export_response():
    assert otlp_json.export_response() == b"{}"
    assert json.loads(otlp_json.export_response(2, "bad")) == {"partialSuccess": {"rejectedSpans": "2", "errorMessage": "bad"}}
    parsed = json_format.Parse(otlp_json.export_response(2, "bad"), trace_service_pb2.ExportTraceServiceResponse())
    assert parsed.partial_success.rejected_spans == 2


@pytest.mark.parametrize(
    "value, where",
    [({"intValue": str(1 << 63)}, "intValue"), ({"intValue": "-" + "9" * 30}, "intValue")],
)
def test_integers_outside_their_protobuf_type_are_refused(value, where):
    """Found by bench/fuzz.py: an intValue past int64 was acknowledged but could never be stored."""
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "x",
        "startTimeUnixNano": "1", "endTimeUnixNano": "2", "attributes": [{"key": "k", "value": value}]}]}]}]}
    with pytest.raises(DecodeError, match=f"{where} is out of range"):
        otlp_json.decode_export_request_partial(json.dumps(body).encode())


def test_dropped_count_past_uint32_is_refused():
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "x",
        "startTimeUnixNano": "1", "endTimeUnixNano": "2", "droppedEventsCount": 1 << 40}]}]}]}
    with pytest.raises(DecodeError, match="droppedEventsCount is out of range"):
        otlp_json.decode_export_request_partial(json.dumps(body).encode())
