"""Rules shared by every Zipkin format: model -> Zipkin, Zipkin -> model, IP handling."""

from __future__ import annotations

from spyglass.codecs.zipkin_model import (
    NO_SERVICE_NAME,
    Annotation,
    Endpoint,
    ZipkinSpan,
    from_model,
    ip_bytes,
    ip_text,
    make_endpoint,
    normalize_ip,
    to_model,
)
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


def _span(**kw) -> Span:
    base = {
        "trace_id": 0xAB,
        "span_id": 0xCD,
        "name": "op",
        "start_time_ns": 1_000_000_600,
        "duration_ns": 2_499,
        "resource": Resource("svc"),
    }
    base.update(kw)
    return Span(**base)


def test_model_span_as_zipkin() -> None:
    span = _span(
        parent_span_id=0xEF,
        kind=SpanKind.PRODUCER,
        resource=Resource(
            "svc",
            [
                KeyValue("net.host.ip", "10.0.0.1"),
                KeyValue("net.host.ip", "fe80::1"),
                KeyValue("net.host.port", "8080"),
                KeyValue("host.name", "box"),
                KeyValue("custom", 5),
            ],
        ),
        attributes=[
            KeyValue("peer.service", "kafka"),
            KeyValue("net.peer.ip", "10.9.9.9"),
            KeyValue("net.peer.port", 9092),
            KeyValue("zipkin.shared", True),
            KeyValue("k", "v"),
        ],
        status=Status(StatusCode.ERROR, "boom"),
        trace_state="a=b",
        scope=Scope("lib", "2"),
        events=[Event(1_000_001_499, "e1"), Event(5_000, "e2", [KeyValue("x", 1)], 3)],
        links=[Link(0x1, 0x2, RefType.CHILD_OF, "s", [KeyValue("y", True)], 0, 4)],
        flags=3,
    )
    (z,) = from_model([span])
    assert z == ZipkinSpan(
        trace_id=0xAB,
        id=0xCD,
        parent_id=0xEF,
        kind="PRODUCER",
        name="op",
        timestamp=1_000_001,  # ns rounded to the nearest µs
        duration=2,
        local_endpoint=Endpoint("svc", "10.0.0.1", "fe80::1", 8080),
        remote_endpoint=Endpoint("kafka", "10.9.9.9", "", 9092),
        annotations=[Annotation(1_000_001, "e1"), Annotation(5, 'e2|{"x":1}|3')],
        tags={
            "k": "v",
            "host.name": "box",
            "custom": 5,
            "error": "boom",
            "w3c.tracestate": "a=b",
            "otel.scope.name": "lib",
            "otel.scope.version": "2",
            "otlp.link.0": '00000000000000000000000000000001|0000000000000002|s|{"y":true}|4',
        },
        debug=True,
        shared=True,
    )
    # Back: convention resource keys return to the resource, the rest stay on the span.
    (back,) = to_model([z])
    assert back.resource == Resource(
        "svc",
        [
            KeyValue("net.host.ip", "10.0.0.1"),
            KeyValue("net.host.ip", "fe80::1"),
            KeyValue("net.host.port", 8080),
            KeyValue("host.name", "box"),
        ],
    )
    assert KeyValue("custom", 5) in back.attributes
    assert back.links == [Link(0x1, 0x2, RefType.FOLLOWS_FROM, "s", [KeyValue("y", True)], 0, 4)]
    assert back.events == [Event(1_000_001_000, "e1"), Event(5_000, "e2", [KeyValue("x", 1)], 3)]
    assert (back.status, back.trace_state, back.scope, back.kind, back.flags) == (
        span.status,
        "a=b",
        Scope("lib", "2"),
        SpanKind.PRODUCER,
        3,
    )


def test_internal_kind_and_missing_service() -> None:
    (z,) = from_model([_span(kind=SpanKind.INTERNAL, resource=Resource(NO_SERVICE_NAME), flags=0)])
    assert z.kind == "" and z.tags == {"span.kind": "internal"}
    assert z.local_endpoint is None and z.debug is False
    assert to_model([z])[0].kind is SpanKind.INTERNAL


def test_values_that_are_not_endpoint_fields_stay_tags() -> None:
    (z,) = from_model(
        [
            _span(
                attributes=[
                    KeyValue("net.peer.ip", "nope"),
                    KeyValue("net.peer.port", 70000),
                    KeyValue("zipkin.shared", "yes"),
                    KeyValue("peer.service", 7),
                ]
            )
        ]
    )
    assert z.remote_endpoint is None and z.shared is False
    assert z.tags == {"net.peer.ip": "nope", "net.peer.port": 70000, "zipkin.shared": "yes", "peer.service": 7}


def test_malformed_otel_texts_stay_plain() -> None:
    z = ZipkinSpan(
        trace_id=1,
        id=2,
        annotations=[Annotation(1, "a|b"), Annotation(2, "a|{bad|1"), Annotation(3, "a|[1]|0"), Annotation(4, "a|{}|x")],
        tags={"otlp.link.0": "junk", "otlp.link.1": "0" * 32 + "|" + "0" * 15 + "1|s|{}|0", "otlp.link.5": "later"},
    )
    (span,) = to_model([z])
    assert [e.name for e in span.events] == ["a|b", "a|{bad|1", "a|[1]|0", "a|{}|x"]
    assert span.links == [Link(0, 1, RefType.FOLLOWS_FROM, "s", [], 0, 0)]
    assert sorted(span.attributes) == [KeyValue("otlp.link.0", "junk"), KeyValue("otlp.link.5", "later")]


def test_ip_helpers() -> None:
    assert normalize_ip("10.0.0.1") == (4, "10.0.0.1")
    assert normalize_ip("::FFFF:10.0.0.1") == (4, "10.0.0.1")
    assert normalize_ip("2001:0db8::0001") == (6, "2001:db8::1")
    assert normalize_ip("999.1.1.1") == (0, "")
    assert ip_text(b"\x0a\x00\x00\x01") == (4, "10.0.0.1")
    assert ip_text(b"\x00" * 15 + b"\x01") == (6, "::1")
    assert ip_text(b"\x01\x02") == (0, "")
    assert ip_bytes("10.0.0.1") == b"\x0a\x00\x00\x01" and ip_bytes("x") == b""
    assert make_endpoint(None, [None, ""], None) is None
    assert make_endpoint("a", ["::1", "1.2.3.4"], -2) == Endpoint("a", "1.2.3.4", "::1", 65534)


def test_otel_texts_with_counts_or_values_no_storage_holds_stay_plain() -> None:
    """Found by bench/fuzz.py: a dropped count past 64 bits (or "²", which str.isdigit
    takes and int() refuses) and an attribute past int64 were acknowledged but unstorable."""
    big = "9" * 25
    z = ZipkinSpan(
        trace_id=1,
        id=2,
        annotations=[Annotation(1, f"a|{{}}|{big}"), Annotation(2, "b|{}|\u00b2"),
                     Annotation(3, 'c|{"n":' + big + ',"m":1,"s":"x\\ud800"}|0')],
        tags={"otlp.link.0": "0" * 32 + "|" + "0" * 15 + f"1|s|{{}}|{big}"},
    )
    (span,) = to_model([z])
    assert [e.name for e in span.events] == [f"a|{{}}|{big}", "b|{}|\u00b2", "c"]
    assert span.events[2].attributes == [KeyValue("m", 1), KeyValue("s", "x\ufffd")]
    assert span.links == []
