"""The Jaeger UI JSON codec: exact shapes of spec A.4, both directions."""

from __future__ import annotations

import json

import pytest

from spyglass.codecs import go_json
from spyglass.codecs.errors import DecodeError
from spyglass.codecs.jaeger_ui_json import (
    dependencies_to_ui,
    operations_to_ui,
    trace_to_ui,
    traces_from_ui,
    traces_to_ui,
)
from spyglass.model import (
    DependencyLink,
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
    Trace,
)
from spyglass.storage.api import Operation

T0 = 1485467191639875_000  # ns


def _span(span_id: int, resource: Resource, **kw: object) -> Span:
    base: dict[str, object] = dict(trace_id=1, span_id=span_id, name="op", start_time_ns=T0, duration_ns=5_000, resource=resource)
    base.update(kw)
    return Span(**base)  # type: ignore[arg-type]


def test_trace_shape_matches_jaeger_byte_for_byte() -> None:
    x = Resource("service-x")
    y = Resource("service-y", [KeyValue("hostname", "h1")])
    spans = [
        _span(2, x, name="test-general-conversion", events=[Event(T0, "some-event"), Event(T0, attributes=[KeyValue("x", "y")])]),
        _span(
            3,
            y,
            name="some-operation",
            parent_span_id=2,
            attributes=[
                KeyValue("peer.ipv4", 23456),
                KeyValue("temperature", 72.5),
                KeyValue("javascript_limit", 9223372036854775222),
                KeyValue("blob", b"\x00\x00\x30\x39"),
            ],
            warnings=["some span warning"],
        ),
    ]
    trace = Trace(1, spans, ["some trace warning"])
    expected = (
        '{"traceID":"0000000000000001","spans":['
        '{"traceID":"0000000000000001","spanID":"0000000000000002","operationName":"test-general-conversion",'
        '"references":[],"startTime":1485467191639875,"duration":5,"tags":[],'
        '"logs":[{"timestamp":1485467191639875,"fields":[{"key":"event","type":"string","value":"some-event"}]},'
        '{"timestamp":1485467191639875,"fields":[{"key":"x","type":"string","value":"y"}]}],'
        '"processID":"p1","warnings":null},'
        '{"traceID":"0000000000000001","spanID":"0000000000000003","operationName":"some-operation",'
        '"references":[{"refType":"CHILD_OF","traceID":"0000000000000001","spanID":"0000000000000002"}],'
        '"startTime":1485467191639875,"duration":5,"tags":['
        '{"key":"peer.ipv4","type":"int64","value":23456},'
        '{"key":"temperature","type":"float64","value":72.5},'
        '{"key":"javascript_limit","type":"int64","value":"9223372036854775222"},'
        '{"key":"blob","type":"binary","value":"AAAwOQ=="}],'
        '"logs":[],"processID":"p2","warnings":["some span warning"]}],'
        '"processes":{"p1":{"serviceName":"service-x","tags":[]},'
        '"p2":{"serviceName":"service-y","tags":[{"key":"hostname","type":"string","value":"h1"}]}},'
        '"warnings":["some trace warning"]}'
    )
    assert go_json.dumps(trace_to_ui(trace)).decode() == expected


def test_trace_ids_are_16_chars_for_64_bit_and_32_for_128_bit() -> None:
    r = Resource("s")
    short = trace_to_ui(Trace(0xABC, [Span(0xABC, 1, "a", T0, 1000, r)]))
    assert short["traceID"] == "0000000000000abc"
    assert short["spans"][0]["traceID"] == "0000000000000abc"
    long_id = (5 << 64) | 7
    full = trace_to_ui(Trace(long_id, [Span(long_id, 1, "a", T0, 1000, r, links=[Link(9, 4, RefType.FOLLOWS_FROM)])]))
    assert full["traceID"] == "00000000000000050000000000000007"
    assert full["spans"][0]["references"] == [
        {"refType": "FOLLOWS_FROM", "traceID": "0000000000000009", "spanID": "0000000000000004"}
    ]


def test_empty_trace() -> None:
    assert trace_to_ui(Trace(1)) == {"traceID": "", "spans": [], "processes": {}, "warnings": None}


def test_identical_processes_share_a_key_and_keys_sort_like_go_maps() -> None:
    resources = [Resource(f"svc{i}") for i in range(12)]
    spans = [_span(i + 1, resources[i]) for i in range(12)]
    # Equal-valued copies (storage hands out clones) map to the existing keys.
    spans.append(_span(100, Resource("svc0")))
    spans.append(_span(101, Resource("svc11")))
    ui = trace_to_ui(Trace(1, spans))
    assert [s["processID"] for s in ui["spans"]] == [f"p{i}" for i in range(1, 13)] + ["p1", "p12"]
    assert list(ui["processes"]) == ["p1", "p10", "p11", "p12", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9"]
    assert ui["processes"]["p10"] == {"serviceName": "svc9", "tags": []}


def test_process_tag_types_keep_processes_apart() -> None:
    # In Python True == 1 == 1.0; in Jaeger they are three different processes.
    spans = [
        _span(1, Resource("s", [KeyValue("k", True)])),
        _span(2, Resource("s", [KeyValue("k", 1)])),
        _span(3, Resource("s", [KeyValue("k", 1.0)])),
    ]
    ui = trace_to_ui(Trace(1, spans))
    assert [s["processID"] for s in ui["spans"]] == ["p1", "p2", "p3"]
    assert [p["tags"][0]["type"] for p in ui["processes"].values()] == ["bool", "int64", "float64"]


@pytest.mark.parametrize(
    ("value", "type_name", "json_value"),
    [
        ("s", "string", '"s"'),
        (True, "bool", "true"),
        (False, "bool", "false"),
        (0, "int64", "0"),
        ((1 << 53) - 1, "int64", "9007199254740991"),
        (1 << 53, "int64", '"9007199254740992"'),
        (-((1 << 53) - 1), "int64", "-9007199254740991"),
        (-(1 << 53), "int64", '"-9007199254740992"'),
        ((1 << 63) - 1, "int64", '"9223372036854775807"'),
        (1.0, "float64", "1"),
        (0.5, "float64", "0.5"),
        (1e21, "float64", "1e+21"),
        (b"\x01\x02\xff", "binary", '"AQL/"'),
        (b"", "binary", '""'),
        ([1, "a", True], "string", '"[1,\\"a\\",true]"'),
        ({"k": [1.5]}, "string", '"{\\"k\\":[1.5]}"'),
        (None, "string", '""'),
    ],
)
def test_tag_value_types(value: object, type_name: str, json_value: str) -> None:
    ui = trace_to_ui(Trace(1, [_span(1, Resource("s"), attributes=[KeyValue("k", value)])]))
    tag = ui["spans"][0]["tags"][0]
    assert tag["type"] == type_name
    assert go_json.dumps(tag).decode() == f'{{"key":"k","type":"{type_name}","value":{json_value}}}'


def test_flags_omitted_when_zero_and_special_tags_appended() -> None:
    r = Resource("s")
    spans = [
        _span(1, r),
        _span(
            2,
            r,
            flags=1,
            kind=SpanKind.CLIENT,
            status=Status(StatusCode.ERROR, "boom"),
            trace_state="a=b",
            scope=Scope("lib", "1.2"),
            attributes=[KeyValue("z", "last")],
        ),
    ]
    ui = trace_to_ui(Trace(1, spans))
    assert "flags" not in ui["spans"][0]
    second = ui["spans"][1]
    assert list(second)[:4] == ["traceID", "spanID", "flags", "operationName"]
    assert second["flags"] == 1
    # Jaeger v2's order: scope tags, attributes, then kind, status code, error, description, trace state
    assert [t["key"] for t in second["tags"]] == [
        "otel.scope.name", "otel.scope.version", "z", "span.kind", "otel.status_code", "error",
        "otel.status_description", "w3c.tracestate",
    ]
    keys = {t["key"]: t["value"] for t in second["tags"]}
    assert keys["span.kind"] == "client"
    assert keys["error"] is True
    assert keys["otel.status_code"] == "ERROR"
    assert keys["otel.status_description"] == "boom"
    assert keys["w3c.tracestate"] == "a=b"
    assert keys["otel.scope.name"] == "lib"
    assert keys["otel.scope.version"] == "1.2"


def test_times_are_truncated_microseconds() -> None:
    span = _span(1, Resource("s"), start_time_ns=1_999, duration_ns=2_999, events=[Event(3_999, "e")])
    ui = trace_to_ui(Trace(1, [span]))["spans"][0]
    assert (ui["startTime"], ui["duration"], ui["logs"][0]["timestamp"]) == (1, 2, 3)
    negative = trace_to_ui(Trace(1, [_span(1, Resource("s"), duration_ns=-5)]))["spans"][0]
    assert negative["duration"] == 0


def test_references_parent_first_then_links() -> None:
    span = _span(
        5,
        Resource("s"),
        parent_span_id=4,
        links=[Link(0xFF, 0xFF, RefType.CHILD_OF), Link(1, 2, RefType.FOLLOWS_FROM)],
    )
    refs = trace_to_ui(Trace(1, [span]))["spans"][0]["references"]
    assert refs == [
        {"refType": "CHILD_OF", "traceID": "0000000000000001", "spanID": "0000000000000004"},
        {"refType": "CHILD_OF", "traceID": "00000000000000ff", "spanID": "00000000000000ff"},
        {"refType": "FOLLOWS_FROM", "traceID": "0000000000000001", "spanID": "0000000000000002"},
    ]


def test_dependencies_and_operations_shapes() -> None:
    assert dependencies_to_ui([DependencyLink("a", "b", 3, "jaeger")]) == [{"parent": "a", "child": "b", "callCount": 3}]
    assert operations_to_ui([Operation("GET /", "server"), Operation("x")]) == [
        {"name": "GET /", "spanKind": "server"},
        {"name": "x", "spanKind": ""},
    ]


# -- UI JSON -> model -----------------------------------------------------------------


def _sample_traces() -> list[Trace]:
    x = Resource("service-x", [KeyValue("ip", "10.0.0.1"), KeyValue("n", 1 << 60)])
    y = Resource("service-y")
    t1 = Trace(
        1,
        [
            _span(1, x, kind=SpanKind.SERVER, attributes=[KeyValue("b", b"\x00\xff"), KeyValue("f", 2.5), KeyValue("t", True)]),
            _span(
                2,
                y,
                parent_span_id=1,
                flags=3,
                status=Status(StatusCode.ERROR, ""),
                events=[Event(T0 + 1000, "retry", [KeyValue("attempt", 2)])],
                links=[Link(7, 8, RefType.FOLLOWS_FROM)],
                warnings=["w"],
            ),
        ],
        ["trace warning"],
    )
    big = (1 << 64) | 3
    t2 = Trace(big, [Span(big, 9, "other", T0, 1_000_000, x)])
    return [t1, t2]


def test_round_trip_through_json_text() -> None:
    traces = _sample_traces()
    text = go_json.dumps({"data": traces_to_ui(traces)})
    back = traces_from_ui(json.loads(text))
    assert [t.trace_id for t in back] == [1, (1 << 64) | 3]
    assert back[0].warnings == ["trace warning"]
    # Writing what was read gives the same JSON again.
    assert go_json.dumps({"data": traces_to_ui(back)}) == text
    second = back[0].spans[1]
    assert second.parent_span_id == 1
    assert second.status.code is StatusCode.ERROR
    assert second.events[0].name == "retry"
    assert second.events[0].time_ns == T0 + 1000
    assert second.links == [Link(7, 8, RefType.FOLLOWS_FROM)]
    assert back[0].spans[0].resource.attributes == [KeyValue("ip", "10.0.0.1"), KeyValue("n", 1 << 60)]


def test_reads_single_trace_list_and_envelope() -> None:
    ui = traces_to_ui(_sample_traces())
    assert len(traces_from_ui(ui)) == 2
    assert len(traces_from_ui(ui[0])) == 1
    assert len(traces_from_ui({"data": ui, "total": 0})) == 2
    assert traces_from_ui({"data": None}) == []


def test_reads_embedded_process_deprecated_parent_and_untyped_values() -> None:
    obj = {
        "traceID": "1",
        "spans": [
            {
                "traceID": "1",
                "spanID": "2",
                "parentSpanID": "1",
                "operationName": "op",
                "startTime": 10,
                "duration": 20,
                "tags": [{"key": "a", "value": 5}, {"key": "b", "type": "int64", "value": "9223372036854775807"}],
                "process": {"serviceName": "svc", "tags": [{"key": "h", "type": "string", "value": "x"}]},
            }
        ],
    }
    (trace,) = traces_from_ui(obj)
    span = trace.spans[0]
    assert (span.trace_id, span.span_id, span.parent_span_id) == (1, 2, 1)
    assert (span.start_time_ns, span.duration_ns) == (10_000, 20_000)
    assert span.attributes == [KeyValue("a", 5), KeyValue("b", (1 << 63) - 1)]
    assert span.resource.service_name == "svc"
    assert span.warnings == []


@pytest.mark.parametrize(
    "obj",
    [
        "nope",
        42,
        {"spans": "x"},
        {"spans": [{"traceID": "zz", "spanID": "1", "processID": "p1"}], "processes": {"p1": {"serviceName": "s"}}},
        {"spans": [{"traceID": "1", "spanID": "1", "processID": "p9"}], "processes": {}},
        {"spans": [{"traceID": "1", "spanID": "1", "processID": "p1", "startTime": -1}], "processes": {"p1": {"serviceName": "s"}}},
        {"spans": [{"traceID": "1", "spanID": "1", "processID": "p1", "tags": [{"key": "k", "type": "int64", "value": "x"}]}], "processes": {"p1": {"serviceName": "s"}}},
        {"spans": [{"traceID": "1", "spanID": "1", "processID": "p1", "tags": [{"key": "k", "type": "binary", "value": "!!"}]}], "processes": {"p1": {"serviceName": "s"}}},
        {"spans": [{"traceID": "1", "spanID": "1", "processID": "p1", "tags": [{"key": "k", "type": "weird", "value": 1}]}], "processes": {"p1": {"serviceName": "s"}}},
        {"spans": [{"traceID": "1", "spanID": "1", "processID": "p1", "references": [{"refType": "SIBLING", "traceID": "1", "spanID": "2"}]}], "processes": {"p1": {"serviceName": "s"}}},
        {"spans": [{"traceID": "1", "spanID": "1", "processID": "p1", "logs": [{"timestamp": "x"}]}], "processes": {"p1": {"serviceName": "s"}}},
        {"spans": [{"traceID": "1", "spanID": "1", "processID": "p1"}], "processes": {"p1": "x"}},
    ],
)
def test_malformed_input_raises_decode_error(obj: object) -> None:
    with pytest.raises(DecodeError):
        traces_from_ui(obj)


@pytest.mark.parametrize(
    "tag, flags",
    [({"key": "k", "type": "int64", "value": str(1 << 63)}, 0), ({"key": "k", "value": 1 << 63}, 0),
     ({"key": "k", "type": "int64", "value": 1e30}, 0), ({"key": "k", "value": 1}, 1 << 32)],
)
def test_integers_past_int64_or_uint32_flags_are_refused(tag, flags):
    """Found by bench/fuzz.py: such a span was accepted but could never be stored."""
    trace = {"traceID": "1", "processes": {"p1": {"serviceName": "s", "tags": []}},
             "spans": [{"traceID": "1", "spanID": "2", "processID": "p1", "operationName": "x", "startTime": 1,
                        "duration": 1, "flags": flags, "tags": [tag]}]}
    with pytest.raises(DecodeError, match="out of range"):
        traces_from_ui(trace)
