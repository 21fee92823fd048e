"""Jaeger api_v2 protobuf and its legacy JSON form <-> model."""

from __future__ import annotations

import glob
import json
import os
import struct

import pytest

from spyglass.codecs import jaeger_proto
from spyglass.codecs.errors import DecodeError
from spyglass.codecs.proto.jaeger.api_v2 import collector_pb2, model_pb2, query_pb2, sampling_pb2
from spyglass.model import (
    EMPTY_SCOPE,
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

from support import JAEGER_FIXTURES

FIXTURES = str(JAEGER_FIXTURES / "legacy-api-v2-model" / "traces")
TID = 0x0102030405060708_1112131415161718
TID_BYTES = TID.to_bytes(16, "big")


def _kv(target, key, vtype=0, **value):
    kv = target.add()
    kv.key = key
    kv.v_type = vtype
    for name, v in value.items():
        setattr(kv, name, v)
    return kv


def _typed_kv(target, key, value):
    """A tag whose ValueType is the Python type of ``value``."""
    if isinstance(value, str):
        return _kv(target, key, v_str=value)
    if isinstance(value, bool):
        return _kv(target, key, 1, v_bool=value)
    if isinstance(value, int):
        return _kv(target, key, 2, v_int64=value)
    if isinstance(value, float):
        return _kv(target, key, 3, v_float64=value)
    return _kv(target, key, 4, v_binary=value)


def _span_msg(target, span_id: int, trace_id: bytes = TID_BYTES, op: str = "op"):
    s = target.add()
    s.trace_id = trace_id
    s.span_id = span_id.to_bytes(8, "big")
    s.operation_name = op
    s.start_time.seconds = 1_485_449_191
    s.start_time.nanos = 639_875_000
    s.duration.nanos = 5000
    return s


def _request(batch: model_pb2.Batch) -> bytes:
    req = collector_pb2.PostSpansRequest()
    req.batch.CopyFrom(batch)
    return req.SerializeToString()


# -- IDL -------------------------------------------------------------------------------


def test_idl_names_and_numbers_match_jaeger():
    assert model_pb2.DESCRIPTOR.package == "jaeger.api_v2"
    assert [model_pb2.ValueType.Name(i) for i in range(5)] == ["STRING", "BOOL", "INT64", "FLOAT64", "BINARY"]
    assert model_pb2.SpanRefType.Value("FOLLOWS_FROM") == 1
    fields = {f.name: f.number for f in model_pb2.Span.DESCRIPTOR.fields}
    assert fields == {
        "trace_id": 1, "span_id": 2, "operation_name": 3, "references": 4, "flags": 5, "start_time": 6,
        "duration": 7, "tags": 8, "logs": 9, "process": 10, "process_id": 11, "warnings": 12,
    }  # fmt: skip
    assert collector_pb2.DESCRIPTOR.services_by_name["CollectorService"].full_name == "jaeger.api_v2.CollectorService"
    methods = [m.name for m in query_pb2.DESCRIPTOR.services_by_name["QueryService"].methods]
    assert methods == ["GetTrace", "ArchiveTrace", "FindTraces", "GetServices", "GetOperations", "GetDependencies"]
    sm = sampling_pb2.DESCRIPTOR.services_by_name["SamplingManager"]
    assert sm.full_name == "jaeger.api_v2.SamplingManager" and sm.methods[0].name == "GetSamplingStrategy"
    assert {f.name: f.number for f in model_pb2.KeyValue.DESCRIPTOR.fields}["v_binary"] == 7


# -- binary decode ---------------------------------------------------------------------


def test_decode_every_field():
    batch = model_pb2.Batch()
    batch.process.service_name = "frontend"
    _kv(batch.process.tags, "hostname", v_str="h1")
    _kv(batch.process.tags, "pid", 2, v_int64=42)
    s = _span_msg(batch.spans, 7, op="GET /x")
    r = s.references.add()
    r.trace_id, r.span_id, r.ref_type = TID_BYTES, (5).to_bytes(8, "big"), 0
    r = s.references.add()
    r.trace_id, r.span_id, r.ref_type = (9).to_bytes(16, "big"), (10).to_bytes(8, "big"), 1
    s.flags = 3
    s.duration.seconds = 1
    _kv(s.tags, "s", v_str="text")
    _kv(s.tags, "b", 1, v_bool=True)
    _kv(s.tags, "i", 2, v_int64=-7)
    _kv(s.tags, "f", 3, v_float64=2.5)
    _kv(s.tags, "bin", 4, v_binary=b"\x00\xff")
    _kv(s.tags, "span.kind", v_str="server")
    _kv(s.tags, "error", 1, v_bool=True)
    _kv(s.tags, "otel.status_description", v_str="boom")
    _kv(s.tags, "w3c.tracestate", v_str="k=v")
    _kv(s.tags, "otel.scope.name", v_str="lib")
    _kv(s.tags, "otel.scope.version", v_str="1.2")
    log = s.logs.add()
    log.timestamp.seconds = 1_485_449_192
    log.timestamp.nanos = 1
    _kv(log.fields, "event", v_str="retry")
    _kv(log.fields, "attempt", 2, v_int64=2)
    s.warnings.append("clock skew")

    [span] = jaeger_proto.decode_post_spans(_request(batch))
    assert span == Span(
        trace_id=TID,
        span_id=7,
        name="GET /x",
        start_time_ns=1_485_449_191_639_875_000,
        duration_ns=1_000_005_000,
        resource=Resource("frontend", [KeyValue("hostname", "h1"), KeyValue("pid", 42)]),
        parent_span_id=5,
        kind=SpanKind.SERVER,
        status=Status(StatusCode.ERROR, "boom"),
        attributes=[
            KeyValue("s", "text"),
            KeyValue("b", True),
            KeyValue("i", -7),
            KeyValue("f", 2.5),
            KeyValue("bin", b"\x00\xff"),
        ],
        events=[Event(1_485_449_192_000_000_001, "retry", [KeyValue("attempt", 2)])],
        links=[Link(9, 10, RefType.FOLLOWS_FROM)],
        flags=3,
        trace_state="k=v",
        scope=Scope("lib", "1.2"),
        warnings=["clock skew"],
    )


def test_process_per_span_when_batch_has_none():
    batch = model_pb2.Batch()
    for i, svc in enumerate(["a", "b", "a"]):
        s = _span_msg(batch.spans, i + 1)
        s.process.service_name = svc
        _kv(s.process.tags, "ip", v_str="10.0.0.1")
    spans = jaeger_proto.spans_from_batch(batch)
    assert [s.service_name for s in spans] == ["a", "b", "a"]
    assert spans[0].resource is spans[2].resource  # equal processes share one Resource
    assert spans[0].resource.attributes == [KeyValue("ip", "10.0.0.1")]


def test_span_process_overrides_batch_process_and_missing_process_is_empty():
    batch = model_pb2.Batch()
    batch.process.service_name = "batch-svc"
    _span_msg(batch.spans, 1)
    _span_msg(batch.spans, 2).process.service_name = "own"
    spans = jaeger_proto.decode_post_spans(_request(batch))
    assert [s.service_name for s in spans] == ["batch-svc", "own"]
    lone = model_pb2.Batch()
    _span_msg(lone.spans, 1)
    assert jaeger_proto.spans_from_batch(lone)[0].service_name == ""


def test_ids_64_bit_trace_and_bad_lengths():
    batch = model_pb2.Batch()
    batch.process.service_name = "s"
    _span_msg(batch.spans, 1, trace_id=(0xABC).to_bytes(8, "big"))
    assert jaeger_proto.spans_from_batch(batch)[0].trace_id == 0xABC
    for trace_id, span_id in [(b"\x01" * 15, b"\x01" * 8), (b"", b"\x01" * 8), (TID_BYTES, b"\x01" * 7)]:
        bad = model_pb2.Batch()
        s = _span_msg(bad.spans, 1, trace_id=trace_id)
        s.span_id = span_id
        with pytest.raises(DecodeError):
            jaeger_proto.decode_post_spans(_request(bad))


@pytest.mark.parametrize("payload", [b"\xff\xff\xff", b"garbage that is not protobuf", b"\x0a\x10\x0a\x05"])
def test_garbage_and_truncated(payload):
    with pytest.raises(DecodeError):
        jaeger_proto.decode_post_spans(payload)


def test_truncated_real_request():
    batch = model_pb2.Batch()
    batch.process.service_name = "svc"
    _kv(_span_msg(batch.spans, 1).tags, "k", v_str="v" * 40)
    data = _request(batch)
    for cut in (len(data) - 1, len(data) // 2, 3):
        with pytest.raises(DecodeError):
            jaeger_proto.decode_post_spans(data[:cut])


def test_invalid_utf8_tag_is_a_decode_error():
    batch = model_pb2.Batch()
    batch.process.service_name = "svc"
    _kv(_span_msg(batch.spans, 1).tags, "k", v_str="zzzz")
    data = _request(batch).replace(b"zzzz", b"\xff\xfe\xfd\xfc")
    with pytest.raises(DecodeError):
        jaeger_proto.decode_post_spans(data)


def _raw_kv(*fields: bytes) -> bytes:
    return b"".join(fields)


def _ld(field: int, data: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


@pytest.mark.parametrize(
    "value",
    ["", "short", "ü" * 70, "x" * 300, True, False, 0, 1, -1, 2**63 - 1, -(2**63), 0.0, -1.5, float("inf"), b"", b"\x00" * 200],
)
def test_tag_fast_path_agrees_with_protobuf(value):
    """Every tag shape decodes to what the generated class reads (cache and quick parser)."""
    for key in ("k", "long-" * 40):
        batch = model_pb2.Batch()
        batch.process.service_name = "svc"
        kvs = _span_msg(batch.spans, 1).tags
        _typed_kv(kvs, key, value)
        for _ in range(2):  # miss, then cache hit
            [span] = jaeger_proto.decode_post_spans(_request(batch))
            assert span.attributes == [KeyValue(key, value)]
            assert type(span.attributes[0].value) is type(value)


def test_tag_fields_out_of_order_and_odd_shapes():
    key = _ld(1, b"k")
    cases = {
        # v_str before the key
        _ld(3, b"v") + key: KeyValue("k", "v"),
        # v_type BOOL but a string value: the bool default wins, as in protobuf
        key + b"\x10\x01" + _ld(3, b"v"): KeyValue("k", False),
        # unknown v_type: read as its string value
        key + b"\x10\x09" + _ld(3, b"v"): KeyValue("k", "v"),
        # INT64 with the value field first
        b"\x28\x05" + key + b"\x10\x02": KeyValue("k", 5),
        key + b"\x10\x03" + b"\x31" + struct.pack("<d", 0.25): KeyValue("k", 0.25),
        key: KeyValue("k", ""),
    }
    for raw, expected in cases.items():
        span = _ld(1, TID_BYTES) + _ld(2, (1).to_bytes(8, "big")) + _ld(8, raw)
        process = _ld(1, b"svc")
        data = _ld(1, _ld(1, span) + _ld(2, process))
        assert jaeger_proto.decode_post_spans(data)[0].attributes == [expected], raw


def test_decoded_spans_do_not_share_mutable_lists():
    batch = model_pb2.Batch()
    batch.process.service_name = "svc"
    s = _span_msg(batch.spans, 1)
    _kv(s.tags, "k", v_str="v")
    _kv(s.logs.add().fields, "event", v_str="e")
    data = _request(batch)
    first = jaeger_proto.decode_post_spans(data)[0]
    first.attributes.append(KeyValue("x", 1))
    first.events[0].attributes.append(KeyValue("y", 2))
    second = jaeger_proto.decode_post_spans(data)[0]
    assert second.attributes == [KeyValue("k", "v")]
    assert second.events == [Event(0, "e", [])]


def _random_batch(rng, n: int) -> model_pb2.Batch:
    """Spans of every shape the fast decoder reads inline or hands on: special tags, each
    value type (short and long, negative, beyond one varint byte), logs with and without an
    ``event`` field, 8- and 16-byte IDs, parent references in and out of the trace, several
    references, unknown reference types, per-span processes, warnings and flags."""
    values = ["", "v", "ü" * 70, "x" * 200, True, False, 0, 1, -1, 300, 2**63 - 1, -(2**63), 0.0, -1.5, 1e300,
              b"", b"\x00\xff", b"b" * 150]
    keys = ["k", "http.url", "span.kind", "error", "otel.status_code", "otel.status_description", "w3c.tracestate",
            "otel.scope.name", "otel.library.version", "event", "k" * 130]
    kinds = ["server", "client", "producer", "consumer", "internal", "bogus", ""]

    def add_kv(target):
        key, value = rng.choice(keys), rng.choice(values)
        if key == "span.kind" and rng.random() < 0.7:
            value = rng.choice(kinds)
        _typed_kv(target, key, value)

    batch = model_pb2.Batch()
    if rng.random() < 0.8:
        batch.process.service_name = "batch-svc"
        add_kv(batch.process.tags)
    for i in range(n):
        trace = rng.getrandbits(128 if rng.random() < 0.7 else 64)
        width = 16 if trace >> 64 or rng.random() < 0.5 else 8
        s = _span_msg(batch.spans, rng.getrandbits(64), trace.to_bytes(width, "big"), f"op-{rng.randrange(5)}")
        s.start_time.seconds, s.start_time.nanos = rng.randrange(2**34), rng.randrange(10**9)
        s.duration.seconds, s.duration.nanos = rng.randrange(100), rng.randrange(10**9)
        s.flags = rng.choice([0, 1, 2, 2**32 - 1])
        for _ in range(rng.randrange(12)):
            add_kv(s.tags)
        for _ in range(rng.choice([0, 0, 1, 1, 1, 3])):
            log = s.logs.add()
            log.timestamp.seconds, log.timestamp.nanos = rng.randrange(2**34), rng.randrange(10**9)
            if rng.random() < 0.6:
                _kv(log.fields, "event", v_str=rng.choice(["cache miss", ""]))
            for _ in range(rng.randrange(4)):
                add_kv(log.fields)
        for _ in range(rng.choice([0, 1, 1, 1, 2, 3])):
            r = s.references.add()
            same = rng.random() < 0.7
            r.trace_id = s.trace_id if same else rng.getrandbits(128).to_bytes(16, "big")
            r.span_id = rng.getrandbits(64).to_bytes(8, "big")
            r.ref_type = rng.choice([0, 0, 0, 1, 7])
        if rng.random() < 0.2:
            s.process.service_name = rng.choice(["own-a", "own-b", ""])
            add_kv(s.process.tags)
        if rng.random() < 0.1:
            s.warnings.extend(["clock skew", "w2"][: rng.randrange(1, 3)])
    return batch


@pytest.mark.parametrize("seed", range(8))
def test_fast_decode_agrees_with_plain_reading(seed):
    """``decode_post_spans`` (inline common cases, a tag cache) returns exactly what the
    plain field-by-field reading (``spans_from_batch``) does, on varied random spans; run
    twice so the second pass reads every tag from the cache."""
    import random

    batch = _random_batch(random.Random(seed), 60)
    expected = jaeger_proto.spans_from_batch(batch)
    for _ in range(2):
        got = jaeger_proto.decode_post_spans(_request(batch))
        assert got == expected
        assert [[type(kv.value) for kv in s.attributes] for s in got] == \
            [[type(kv.value) for kv in s.attributes] for s in expected]


# -- encode ----------------------------------------------------------------------------


def _full_span(resource: Resource, span_id: int = 2) -> Span:
    return Span(
        trace_id=TID,
        span_id=span_id,
        name="op",
        start_time_ns=1_700_000_000_123_456_789,
        duration_ns=2_500_000_001,
        resource=resource,
        parent_span_id=1,
        kind=SpanKind.CLIENT,
        status=Status(StatusCode.ERROR, "bad"),
        attributes=[KeyValue("s", "v"), KeyValue("i", 3), KeyValue("b", False), KeyValue("f", 0.5), KeyValue("x", b"\x01")],
        events=[Event(1_700_000_000_200_000_000, "ev", [KeyValue("k", "v")]), Event(1_700_000_000_300_000_000)],
        links=[Link(TID, 9, RefType.CHILD_OF), Link(5, 6, RefType.FOLLOWS_FROM)],
        flags=1,
        trace_state="a=b",
        scope=Scope("lib", "2.0"),
        warnings=["w1"],
    )


def test_round_trip_through_batch_and_bytes():
    resource = Resource("svc", [KeyValue("host", "h"), KeyValue("n", 1)])
    spans = [_full_span(resource, 2), _full_span(resource, 3)]
    batch = jaeger_proto.batch_from_spans(spans)
    assert batch.HasField("process") and not batch.spans[0].HasField("process")
    assert jaeger_proto.decode_post_spans(_request(batch)) == spans
    assert jaeger_proto.spans_from_batch(batch) == spans


def test_batch_with_mixed_resources_embeds_processes():
    spans = [_full_span(Resource("a")), _full_span(Resource("b"), 3)]
    batch = jaeger_proto.batch_from_spans(spans)
    assert not batch.HasField("process")
    assert [s.process.service_name for s in batch.spans] == ["a", "b"]
    assert jaeger_proto.spans_from_batch(batch) == spans


def test_spans_to_proto_embeds_process_and_jaeger_tags():
    [msg] = jaeger_proto.spans_to_proto([_full_span(Resource("svc", [KeyValue("arr", [1, 2])]))])
    assert msg.process.service_name == "svc"
    assert [(t.key, t.v_str) for t in msg.process.tags] == [("arr", "[1,2]")]
    tags = {t.key: t for t in msg.tags}
    assert tags["span.kind"].v_str == "client"
    assert tags["error"].v_type == model_pb2.BOOL and tags["error"].v_bool
    assert tags["otel.status_code"].v_str == "ERROR"
    assert tags["i"].v_type == model_pb2.INT64 and tags["x"].v_type == model_pb2.BINARY
    assert msg.references[0].ref_type == model_pb2.CHILD_OF and msg.references[0].span_id == (1).to_bytes(8, "big")
    assert msg.references[2].ref_type == model_pb2.FOLLOWS_FROM
    assert msg.duration.seconds == 2 and msg.duration.nanos == 500_000_001
    assert msg.start_time.nanos == 123_456_789
    assert msg.trace_id == TID_BYTES and len(msg.span_id) == 8
    assert list(msg.warnings) == ["w1"]


# -- legacy JSON -----------------------------------------------------------------------


def test_every_legacy_fixture_decodes_and_round_trips():
    files = sorted(glob.glob(os.path.join(FIXTURES, "*.json")))
    assert len(files) == 29
    for path in files:
        with open(path) as f:
            spans = jaeger_proto.spans_from_json(json.load(f))
        assert spans, path
        assert jaeger_proto.spans_from_json(jaeger_proto.spans_to_json(spans)) == spans, path


def test_legacy_fixture_values():
    with open(os.path.join(FIXTURES, "example_trace.json")) as f:
        spans = jaeger_proto.spans_from_json(json.load(f))
    assert len(spans) == 5
    assert {s.trace_id for s in spans} == {0x11}
    assert [s.span_id for s in spans] == [3, 4, 5, 6, 7]
    assert spans[0].service_name == "example-service-1"
    assert spans[0].duration_ns == 100_000
    assert spans[0].start_time_ns == 1_485_449_191_639_875_000
    assert spans[3].kind is SpanKind.SERVER and spans[3].attributes == []
    assert len(spans[0].events) == 2 and spans[0].scope is EMPTY_SCOPE


def test_legacy_json_defaults_and_types():
    obj = {
        "spans": [
            {
                "traceId": "AAAAAAAAAAAAAAAAAAAAEQ==",
                "spanId": "AAAAAAAAAAI=",
                "operationName": "op",
                "references": [{"traceId": "AAAAAAAAAAAAAAAAAAAAEQ==", "spanId": "AAAAAAAAAAE="}],
                "startTime": "2017-01-26T16:46:31.639875123+01:00",
                "duration": "1.5s",
                "tags": [
                    {"key": "nov", "vStr": "x"},
                    {"key": "i", "vType": "INT64", "vInt64": "-5"},
                    {"key": "i2", "vType": "INT64", "vInt64": 6},
                    {"key": "f", "vType": "FLOAT64", "vFloat64": "NaN"},
                    {"key": "b", "vType": "BOOL", "vBool": True},
                    {"key": "bin", "vType": "BINARY", "vBinary": "AAE="},
                ],
                "process": {"serviceName": "svc", "tags": [{"key": "ip", "vStr": "1.2.3.4"}]},
                "logs": [{"timestamp": "2017-01-26T16:46:31Z", "fields": [{"key": "event", "vStr": "e"}]}],
            }
        ]
    }
    [span] = jaeger_proto.spans_from_json(obj)
    assert span.parent_span_id == 1 and span.links == []
    assert span.start_time_ns == 1_485_445_591_639_875_123  # 15:46:31 UTC
    assert span.duration_ns == 1_500_000_000
    values = dict(span.attributes)
    assert values["nov"] == "x" and values["i"] == -5 and values["i2"] == 6 and values["b"] is True
    assert values["f"] != values["f"] and values["bin"] == b"\x00\x01"
    assert span.events == [Event(1_485_449_191_000_000_000, "e", [])]
    assert span.resource == Resource("svc", [KeyValue("ip", "1.2.3.4")])


def test_legacy_json_process_map():
    obj = {
        "spans": [{"traceId": "AAAAAAAAAAAAAAAAAAAAEQ==", "spanId": "AAAAAAAAAAI=", "startTime": "2017-01-26T16:46:31Z", "duration": "0s", "processId": "p1"}],
        "processMap": [{"processId": "p1", "process": {"serviceName": "mapped"}}],
    }  # fmt: skip
    assert jaeger_proto.spans_from_json(obj)[0].service_name == "mapped"


@pytest.mark.parametrize(
    ("text", "ns"),
    [("5000ns", 5000), ("0.000005s", 5000), ("1.5s", 1_500_000_000), ("2us", 2000), ("3µs", 3000),
     ("1m30s", 90_000_000_000), ("1h", 3_600_000_000_000), ("-2ms", -2_000_000), ("0", 0), ("0s", 0), (".5s", 500_000_000)],
)  # fmt: skip
def test_go_durations(text, ns):
    assert jaeger_proto.parse_go_duration(text) == ns


@pytest.mark.parametrize("text", ["", "5", "s", "5x", "1.s.", "abc", "1ss"])
def test_bad_go_durations(text):
    with pytest.raises(DecodeError):
        jaeger_proto.parse_go_duration(text)


@pytest.mark.parametrize(
    "obj",
    [
        [],
        {"spans": 5},
        {"spans": [{"traceId": "!!", "spanId": "AAAAAAAAAAI=", "process": {"serviceName": "s"}}]},
        {"spans": [{"traceId": "AAAAAAAAAAAAAAAAAAAAEQ==", "spanId": "AAAAAAAAAAI=", "startTime": "yesterday", "duration": "1s", "process": {"serviceName": "s"}}]},
        {"spans": [{"traceId": "AAAAAAAAAAAAAAAAAAAAEQ==", "spanId": "AAAAAAAAAAI=", "startTime": "2017-01-26T16:46:31Z", "duration": "1s", "process": {"serviceName": "s"}, "tags": [{"key": "k", "vType": "INT64", "vInt64": "x"}]}]},
        {"spans": [{"traceId": "AAAAAAAAAAAAAAAAAAAAEQ==", "spanId": "AAAAAAAAAAI=", "startTime": "2017-01-26T16:46:31Z", "duration": "1s", "process": {"serviceName": "s"}, "references": [{"traceId": "AAAAAAAAAAAAAAAAAAAAEQ==", "spanId": "AAAAAAAAAAI=", "refType": "SIBLING"}]}]},
        # found by bench/fuzz.py: a number where a list belongs was a TypeError, not a DecodeError
        {"spans": [{"traceId": "AAAAAAAAAAAAAAAAAAAAEQ==", "spanId": "AAAAAAAAAAI=", "startTime": "2017-01-26T16:46:31Z", "duration": "1s", "references": 1}]},
        {"spans": [{"traceId": "AAAAAAAAAAAAAAAAAAAAEQ==", "spanId": "AAAAAAAAAAI=", "startTime": "2017-01-26T16:46:31Z", "duration": "1s", "logs": {"a": 1}}]},
    ],
)  # fmt: skip
def test_bad_legacy_json(obj):
    with pytest.raises(DecodeError):
        jaeger_proto.spans_from_json(obj)


def _wire_type(field) -> int:
    from google.protobuf.descriptor import FieldDescriptor as F

    if field.type in (F.TYPE_MESSAGE, F.TYPE_BYTES, F.TYPE_STRING):
        return 2
    if field.type in (F.TYPE_FIXED64, F.TYPE_SFIXED64, F.TYPE_DOUBLE):
        return 1
    if field.type in (F.TYPE_FIXED32, F.TYPE_SFIXED32, F.TYPE_FLOAT):
        return 5
    return 0


def test_fastpath_view_matches_the_api_v2_schema():
    """proto/fastpath/jaeger_model.proto must keep api_v2's field numbers and wire types."""
    from google.protobuf import duration_pb2, timestamp_pb2

    from spyglass.codecs.proto.fastpath import jaeger_model_pb2 as fast

    pairs = [
        (fast.PostSpansRequest, collector_pb2.PostSpansRequest),
        (fast.Batch, model_pb2.Batch),
        (fast.Span, model_pb2.Span),
        (fast.SpanRef, model_pb2.SpanRef),
        (fast.Log, model_pb2.Log),
        (fast.Time, timestamp_pb2.Timestamp),
        (fast.Time, duration_pb2.Duration),
    ]
    for fast_cls, real_cls in pairs:
        real_fields = {f.name: f for f in real_cls.DESCRIPTOR.fields}
        for f in fast_cls.DESCRIPTOR.fields:
            r = real_fields.pop(f.name)
            assert (f.number, _wire_type(f), f.is_repeated) == (r.number, _wire_type(r), r.is_repeated), (fast_cls, f.name)
        assert not real_fields, (real_cls, sorted(real_fields))
