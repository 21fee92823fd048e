"""OTLP protobuf <-> model, including partial success and the attribute fast path."""

from __future__ import annotations

import struct

import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from spyglass.codecs import jaeger_proto, otlp_proto
from spyglass.codecs.errors import DecodeError
from spyglass.codecs.proto.jaeger.api_v2 import collector_pb2, model_pb2
from spyglass.codecs.proto.jaeger.api_v3 import query_service_pb2
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

TID = 0xA1A2A3A4A5A6A7A8_B1B2B3B4B5B6B7B8
START = 1_700_000_000_000_000_123


def _set(kv, key, value):
    kv.key = key
    v = kv.value
    if isinstance(value, str):
        v.string_value = value
    elif isinstance(value, bool):
        v.bool_value = value
    elif isinstance(value, int):
        v.int_value = value
    elif isinstance(value, float):
        v.double_value = value
    elif isinstance(value, bytes):
        v.bytes_value = value


def _request_with_span():
    req = trace_service_pb2.ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.schema_url = "https://schema/r"
    _set(rs.resource.attributes.add(), "host.name", "h1")
    _set(rs.resource.attributes.add(), "service.name", "checkout")
    rs.resource.dropped_attributes_count = 2
    ss = rs.scope_spans.add()
    ss.schema_url = "https://schema/s"
    ss.scope.name = "io.lib"
    ss.scope.version = "1.0"
    _set(ss.scope.attributes.add(), "scope.attr", 5)
    ss.scope.dropped_attributes_count = 1
    s = ss.spans.add()
    s.trace_id = TID.to_bytes(16, "big")
    s.span_id = (2).to_bytes(8, "big")
    s.parent_span_id = (1).to_bytes(8, "big")
    s.trace_state = "vendor=x"
    s.flags = 0x301
    s.name = "charge"
    s.kind = trace_pb2.Span.SPAN_KIND_PRODUCER
    s.start_time_unix_nano = START
    s.end_time_unix_nano = START + 1500
    _set(s.attributes.add(), "s", "text")
    _set(s.attributes.add(), "b", True)
    _set(s.attributes.add(), "i", -9)
    _set(s.attributes.add(), "d", 1.25)
    _set(s.attributes.add(), "raw", b"\x00\x01")
    arr = s.attributes.add()
    arr.key = "arr"
    arr.value.array_value.values.add().string_value = "a"
    arr.value.array_value.values.add().int_value = 1
    nested = arr.value.array_value.values.add().kvlist_value.values.add()
    nested.key = "deep"
    nested.value.bool_value = False
    kvl = s.attributes.add()
    kvl.key = "map"
    _set(kvl.value.kvlist_value.values.add(), "x", 1.5)
    kvl.value.kvlist_value.values.add().key = "empty"
    s.attributes.add().key = "none"
    empty_arr = s.attributes.add()
    empty_arr.key = "emptyarr"
    empty_arr.value.array_value.SetInParent()
    s.dropped_attributes_count = 3
    e = s.events.add()
    e.time_unix_nano = START + 10
    e.name = "exception"
    _set(e.attributes.add(), "exception.message", "oops")
    e.dropped_attributes_count = 4
    s.dropped_events_count = 5
    lk = s.links.add()
    lk.trace_id = (7).to_bytes(16, "big")
    lk.span_id = (8).to_bytes(8, "big")
    lk.trace_state = "l=1"
    _set(lk.attributes.add(), "opentracing.ref_type", "child_of")
    _set(lk.attributes.add(), "why", "batch")
    lk.dropped_attributes_count = 6
    lk.flags = 0x100
    lk2 = s.links.add()
    lk2.trace_id = (7).to_bytes(16, "big")
    lk2.span_id = (9).to_bytes(8, "big")
    _set(lk2.attributes.add(), "opentracing.ref_type", "follows_from")
    lk3 = s.links.add()
    lk3.trace_id = (7).to_bytes(16, "big")
    lk3.span_id = (10).to_bytes(8, "big")
    s.dropped_links_count = 7
    s.status.code = trace_pb2.Status.STATUS_CODE_ERROR
    s.status.message = "card declined"
    return req


EXPECTED = Span(
    trace_id=TID,
    span_id=2,
    name="charge",
    start_time_ns=START,
    duration_ns=1500,
    resource=Resource("checkout", [KeyValue("host.name", "h1")], 2, "https://schema/r"),
    parent_span_id=1,
    kind=SpanKind.PRODUCER,
    status=Status(StatusCode.ERROR, "card declined"),
    attributes=[
        KeyValue("s", "text"),
        KeyValue("b", True),
        KeyValue("i", -9),
        KeyValue("d", 1.25),
        KeyValue("raw", b"\x00\x01"),
        KeyValue("arr", ["a", 1, {"deep": False}]),
        KeyValue("map", {"x": 1.5, "empty": None}),
        KeyValue("none", None),
        KeyValue("emptyarr", []),
    ],
    events=[Event(START + 10, "exception", [KeyValue("exception.message", "oops")], 4)],
    links=[
        Link(7, 8, RefType.CHILD_OF, "l=1", [KeyValue("why", "batch")], 0x100, 6),
        Link(7, 9, RefType.FOLLOWS_FROM),
        Link(7, 10, RefType.FOLLOWS_FROM),
    ],
    flags=0x301,
    trace_state="vendor=x",
    scope=Scope("io.lib", "1.0", [KeyValue("scope.attr", 5)], 1, "https://schema/s"),
    dropped_attributes_count=3,
    dropped_events_count=5,
    dropped_links_count=7,
)


def test_decode_every_field():
    req = _request_with_span()
    assert otlp_proto.decode_export_request(req.SerializeToString()) == [EXPECTED]
    assert otlp_proto.spans_from_request(req) == [EXPECTED]


def test_round_trip_every_field():
    data = otlp_proto.encode_export_request([EXPECTED])
    assert otlp_proto.decode_export_request(data) == [EXPECTED]
    td = otlp_proto.encode_traces_data([EXPECTED])
    assert isinstance(td, trace_pb2.TracesData)
    assert otlp_proto.decode_export_request(td.SerializeToString()) == [EXPECTED]
    # link ref types: only CHILD_OF is written back, as the first link attribute
    link_attrs = [[kv.key for kv in lk.attributes] for lk in td.resource_spans[0].scope_spans[0].spans[0].links]
    assert link_attrs == [["opentracing.ref_type", "why"], [], []]
    assert td.resource_spans[0].resource.attributes[0].key == "service.name"


def test_tracesdata_fits_api_v3_wrapper():
    wrapper = query_service_pb2.GRPCGatewayWrapper()
    wrapper.result.CopyFrom(otlp_proto.encode_traces_data([EXPECTED]))
    assert otlp_proto.decode_export_request(wrapper.result.SerializeToString()) == [EXPECTED]


def test_missing_service_name_and_empty_scope():
    req = trace_service_pb2.ExportTraceServiceRequest()
    s = req.resource_spans.add().scope_spans.add().spans.add()
    s.trace_id = TID.to_bytes(16, "big")
    s.span_id = (1).to_bytes(8, "big")
    [span] = otlp_proto.decode_export_request(req.SerializeToString())
    assert span.service_name == "OTLPResourceNoServiceName"
    assert span.scope is EMPTY_SCOPE and span.status == Status() and span.parent_span_id == 0


def test_end_before_start_is_zero_duration_and_unknown_enums():
    req = trace_service_pb2.ExportTraceServiceRequest()
    s = req.resource_spans.add().scope_spans.add().spans.add()
    s.trace_id = TID.to_bytes(16, "big")
    s.span_id = (1).to_bytes(8, "big")
    s.start_time_unix_nano = 100
    s.end_time_unix_nano = 50
    s.kind = 42  # proto3 enums are open
    s.status.code = 9
    [span] = otlp_proto.decode_export_request(req.SerializeToString())
    assert span.duration_ns == 0 and span.kind is SpanKind.UNSPECIFIED and span.status.code is StatusCode.UNSET


def test_grouping_by_resource_and_scope():
    r1, r2 = Resource("a", [KeyValue("k", 1)]), Resource("b")
    s1, s2 = Scope("x"), Scope("y", "1")
    spans = [
        Span(TID, i + 1, f"op{i}", START, 1, res, scope=sc)
        for i, (res, sc) in enumerate([(r1, s1), (r2, s1), (r1, s2), (r1, s1), (r2, EMPTY_SCOPE)])
    ]
    # an equal copy of r1 (as storage hands out clones) joins r1's group
    spans.append(Span(TID, 9, "op9", START, 1, Resource("a", [KeyValue("k", 1)]), scope=Scope("x")))
    td = otlp_proto.encode_traces_data(spans)
    layout = [
        (rs.resource.attributes[0].value.string_value, [(ss.scope.name, [s.name for s in ss.spans]) for ss in rs.scope_spans])
        for rs in td.resource_spans
    ]
    assert layout == [("a", [("x", ["op0", "op3", "op9"]), ("y", ["op2"])]), ("b", [("x", ["op1"]), ("", ["op4"])])]
    decoded = otlp_proto.decode_export_request(td.SerializeToString())
    assert sorted(decoded, key=lambda s: s.span_id) == spans


def _span_bytes(trace_id: bytes, span_id: bytes, parent: bytes = b"", link: tuple[bytes, bytes] | None = None) -> trace_pb2.Span:
    s = trace_pb2.Span(name="x")
    s.trace_id = trace_id
    s.span_id = span_id
    s.parent_span_id = parent
    if link:
        lk = s.links.add()
        lk.trace_id, lk.span_id = link
    return s


def test_partial_success_for_invalid_ids():
    good_t, good_s = TID.to_bytes(16, "big"), (1).to_bytes(8, "big")
    req = trace_service_pb2.ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    ss.spans.append(_span_bytes(good_t, good_s))
    ss.spans.append(_span_bytes(bytes(16), good_s))  # zero trace ID
    ss.spans.append(_span_bytes(good_t, bytes(8)))  # zero span ID
    ss.spans.append(_span_bytes(good_t[:8], good_s))  # 8-byte trace ID
    ss.spans.append(_span_bytes(good_t, good_s[:4]))  # short span ID
    ss.spans.append(_span_bytes(good_t, good_s, parent=b"\x01\x02"))  # bad parent
    ss.spans.append(_span_bytes(good_t, good_s, link=(b"\x01", good_s)))  # bad link
    ss.spans.append(_span_bytes(good_t, (2).to_bytes(8, "big"), parent=bytes(8)))  # zero parent = root
    data = req.SerializeToString()
    spans, rejected, message = otlp_proto.decode_export_request_partial(data)
    assert [s.span_id for s in spans] == [1, 2] and spans[1].parent_span_id == 0
    assert rejected == 6
    assert message.startswith("6 span(s) rejected: ") and "trace ID is all zeros" in message
    with pytest.raises(DecodeError, match="rejected"):
        otlp_proto.decode_export_request(data)


@pytest.mark.parametrize("payload", [b"\xff\xff\xff\xff", b"not protobuf at all", b"\x0a\xff\x01"])
def test_garbage_is_decode_error(payload):
    with pytest.raises(DecodeError):
        otlp_proto.decode_export_request_partial(payload)


def test_truncated_is_decode_error():
    data = _request_with_span().SerializeToString()
    for cut in (len(data) - 1, len(data) - 20, len(data) // 2, 2):
        with pytest.raises(DecodeError):
            otlp_proto.decode_export_request(data[:cut])


def test_empty_request_is_no_spans():
    assert otlp_proto.decode_export_request_partial(b"") == ([], 0, "")


def test_invalid_utf8_attribute_is_decode_error():
    req = trace_service_pb2.ExportTraceServiceRequest()
    s = req.resource_spans.add().scope_spans.add().spans.add()
    s.trace_id, s.span_id = TID.to_bytes(16, "big"), (1).to_bytes(8, "big")
    _set(s.attributes.add(), "key", "qqqq")
    with pytest.raises(DecodeError):
        otlp_proto.decode_export_request(req.SerializeToString().replace(b"qqqq", b"\xc3\x28\xa0\xa1"))


@pytest.mark.parametrize(
    "value",
    ["", "v", "é" * 100, "y" * 1000, True, False, 0, 5, -1, 2**63 - 1, -(2**63), 0.0, 3.5, -0.0, b"", b"\xff" * 300],
)
def test_attribute_fast_path_agrees_with_protobuf(value):
    for key in ("k", "", "key-" * 50):
        req = trace_service_pb2.ExportTraceServiceRequest()
        s = req.resource_spans.add().scope_spans.add().spans.add()
        s.trace_id, s.span_id = TID.to_bytes(16, "big"), (1).to_bytes(8, "big")
        _set(s.attributes.add(), key, value)
        data = req.SerializeToString()
        for _ in range(2):  # miss, then cache hit
            [span] = otlp_proto.decode_export_request(data)
            assert span.attributes == [KeyValue(key, value)]
            assert type(span.attributes[0].value) is type(value)


def _ld(field: int, data: bytes) -> bytes:
    assert len(data) < 128
    return bytes([field << 3 | 2, len(data)]) + data


def test_attribute_fields_out_of_order_and_repeated():
    key = _ld(1, b"k")
    cases = {
        _ld(2, _ld(1, b"v")) + key: KeyValue("k", "v"),  # value before key
        key + _ld(2, b"\x18\x01\x18\x02"): KeyValue("k", 2),  # last value wins
        key + _ld(2, b"\x21" + struct.pack("<d", 2.5)): KeyValue("k", 2.5),
        key + _ld(2, _ld(1, b"a") + b"\x18\x07"): KeyValue("k", 7),  # oneof: last one set wins
        key: KeyValue("k", None),
    }
    for raw, expected in cases.items():
        span = _ld(1, TID.to_bytes(16, "big")) + _ld(2, (1).to_bytes(8, "big")) + _ld(9, raw)
        data = _ld(1, _ld(2, _ld(2, span)))
        assert otlp_proto.decode_export_request(data)[0].attributes == [expected], raw


def test_cached_attributes_cannot_leak_between_spans():
    data = _request_with_span().SerializeToString()
    first = otlp_proto.decode_export_request(data)[0]
    first.attributes.clear()
    first.attributes.append(KeyValue("changed", 1))
    first.links[0].attributes.clear()
    arr = next(v for k, v in otlp_proto.decode_export_request(data)[0].attributes if k == "arr")
    arr.append("mutated")  # lists are never cached
    second = otlp_proto.decode_export_request(data)[0]
    assert second == EXPECTED


def test_export_response():
    resp = trace_service_pb2.ExportTraceServiceResponse.FromString(otlp_proto.export_response(3, "bad ids"))
    assert resp.partial_success.rejected_spans == 3 and resp.partial_success.error_message == "bad ids"
    assert otlp_proto.export_response() == b""


# -- the same operation through OTLP and through Jaeger protobuf ------------------------


def test_otlp_and_jaeger_proto_describe_the_same_span_equally():
    tid = TID.to_bytes(16, "big")
    req = trace_service_pb2.ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    _set(rs.resource.attributes.add(), "service.name", "billing")
    _set(rs.resource.attributes.add(), "host.name", "box")
    ss = rs.scope_spans.add()
    ss.scope.name = "billing.lib"
    ss.scope.version = "3.1"
    s = ss.spans.add()
    s.trace_id, s.span_id, s.parent_span_id = tid, (2).to_bytes(8, "big"), (1).to_bytes(8, "big")
    s.name = "charge"
    s.kind = trace_pb2.Span.SPAN_KIND_SERVER
    s.flags = 1
    s.start_time_unix_nano = START
    s.end_time_unix_nano = START + 2_000_000
    s.trace_state = "t=1"
    _set(s.attributes.add(), "http.method", "POST")
    _set(s.attributes.add(), "retries", 2)
    e = s.events.add()
    e.time_unix_nano = START + 5
    e.name = "charged"
    _set(e.attributes.add(), "amount", 9.5)
    lk = s.links.add()
    lk.trace_id, lk.span_id = (5).to_bytes(16, "big"), (6).to_bytes(8, "big")
    s.status.code = trace_pb2.Status.STATUS_CODE_ERROR
    s.status.message = "declined"

    batch = model_pb2.Batch()
    batch.process.service_name = "billing"
    t = batch.process.tags.add()
    t.key, t.v_str = "host.name", "box"
    js = batch.spans.add()
    js.trace_id, js.span_id, js.operation_name, js.flags = tid, (2).to_bytes(8, "big"), "charge", 1
    js.start_time.seconds, js.start_time.nanos = divmod(START, 1_000_000_000)
    js.duration.nanos = 2_000_000
    ref = js.references.add()
    ref.trace_id, ref.span_id = tid, (1).to_bytes(8, "big")
    ref = js.references.add()
    ref.trace_id, ref.span_id, ref.ref_type = (5).to_bytes(16, "big"), (6).to_bytes(8, "big"), model_pb2.FOLLOWS_FROM
    for key, vtype, field, value in [
        ("http.method", 0, "v_str", "POST"),
        ("retries", 2, "v_int64", 2),
        ("span.kind", 0, "v_str", "server"),
        ("error", 1, "v_bool", True),
        ("otel.status_description", 0, "v_str", "declined"),
        ("w3c.tracestate", 0, "v_str", "t=1"),
        ("otel.scope.name", 0, "v_str", "billing.lib"),
        ("otel.scope.version", 0, "v_str", "3.1"),
    ]:
        kv = js.tags.add()
        kv.key, kv.v_type = key, vtype
        setattr(kv, field, value)
    log = js.logs.add()
    log.timestamp.seconds, log.timestamp.nanos = divmod(START + 5, 1_000_000_000)
    for key, vtype, field, value in [("event", 0, "v_str", "charged"), ("amount", 3, "v_float64", 9.5)]:
        kv = log.fields.add()
        kv.key, kv.v_type = key, vtype
        setattr(kv, field, value)
    post = collector_pb2.PostSpansRequest()
    post.batch.CopyFrom(batch)

    from_otlp = otlp_proto.decode_export_request(req.SerializeToString())
    from_jaeger = jaeger_proto.decode_post_spans(post.SerializeToString())
    assert from_otlp == from_jaeger
    assert from_otlp[0].status == Status(StatusCode.ERROR, "declined")


def _wire_type(field) -> int:
    """Protobuf wire type of a field descriptor (enums and messages included)."""
    from google.protobuf.descriptor import FieldDescriptor as F

    if field.type in (F.TYPE_MESSAGE, F.TYPE_BYTES, F.TYPE_STRING):
        return 2
    if field.type in (F.TYPE_FIXED64, F.TYPE_SFIXED64, F.TYPE_DOUBLE):
        return 1
    if field.type in (F.TYPE_FIXED32, F.TYPE_SFIXED32, F.TYPE_FLOAT):
        return 5
    return 0


def test_fastpath_view_matches_the_otlp_schema():
    """proto/fastpath/otlp_trace.proto must keep OTLP's field numbers and wire types."""
    from opentelemetry.proto.trace.v1 import trace_pb2 as real

    from spyglass.codecs.proto.fastpath import otlp_trace_pb2 as fast

    pairs = [
        (fast.TracesData, real.TracesData),
        (fast.ResourceSpans, real.ResourceSpans),
        (fast.ScopeSpans, real.ScopeSpans),
        (fast.Span, real.Span),
        (fast.Event, real.Span.Event),
        (fast.Link, real.Span.Link),
        (fast.Status, real.Status),
    ]
    for fast_cls, real_cls in pairs:
        real_fields = {f.name: f for f in real_cls.DESCRIPTOR.fields}
        for f in fast_cls.DESCRIPTOR.fields:
            r = real_fields.pop(f.name)
            assert (f.number, _wire_type(f), f.is_repeated) == (r.number, _wire_type(r), r.is_repeated), (fast_cls, f.name)
        assert not real_fields, (real_cls, sorted(real_fields))  # nothing left out


def test_overlong_varint_attribute_stays_within_64_bits():
    """Found by bench/fuzz.py: the attribute fast path read a ten-byte varint's extra bits
    (a value past 2^64, unstorable); protobuf drops them, and so does the fast path now."""
    key = b"\x0a\x01k"
    value = b"\x18" + b"\xff" * 9 + b"\x7f"  # int_value, the tenth byte with bits above 63
    kv = key + b"\x12" + bytes([len(value)]) + value
    span = (b"\x0a\x10" + b"\x01" * 16 + b"\x12\x08" + b"\x02" * 8 + b"\x2a\x01x"
            + b"\x39" + (1).to_bytes(8, "little") + b"\x41" + (2).to_bytes(8, "little")
            + b"\x4a" + bytes([len(kv)]) + kv)
    scope_spans = b"\x12" + bytes([len(span)]) + span
    rs = b"\x12" + bytes([len(scope_spans)]) + scope_spans
    req = b"\x0a" + bytes([len(rs)]) + rs
    spans, rejected, _ = otlp_proto.decode_export_request_partial(req)
    assert rejected == 0
    assert spans[0].attributes == [KeyValue("k", -1)]
    assert trace_service_pb2.ExportTraceServiceRequest.FromString(req).resource_spans[0].scope_spans[0].spans[0].attributes[0].value.int_value == -1
