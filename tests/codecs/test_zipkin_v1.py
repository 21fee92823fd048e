"""v1 <-> v2 span conversion (Zipkin's converter rules) and the way back."""

from __future__ import annotations

import pytest

from spyglass.codecs.zipkin_model import Annotation, Endpoint, ZipkinSpan
from spyglass.codecs.zipkin_v1 import V1Annotation, V1BinaryAnnotation, V1Span, v1_to_v2, v2_to_v1

FRONT = Endpoint("frontend", "127.0.0.1", "", 8080)
BACK = Endpoint("backend", "192.168.99.101", "", 9000)
KAFKA = Endpoint("kafka", "10.0.0.9", "", 9092)


def _v1(annotations=(), binary=(), **kw) -> V1Span:
    base = {"trace_id": 1, "id": 2, "name": "get", "parent_id": 3}
    base.update(kw)
    return V1Span(
        annotations=[V1Annotation(*a) for a in annotations],
        binary_annotations=[V1BinaryAnnotation(*b) for b in binary],
        **base,
    )


def _v2(**kw) -> ZipkinSpan:
    base = {"trace_id": 1, "id": 2, "name": "get", "parent_id": 3}
    base.update(kw)
    return ZipkinSpan(**base)


def test_client_span() -> None:
    got = v1_to_v2(
        _v1([(100, "cs", FRONT), (250, "cr", FRONT)], [("http.path", "/", FRONT), ("sa", None, BACK)], timestamp=100, duration=150)
    )
    assert got == [
        _v2(kind="CLIENT", timestamp=100, duration=150, local_endpoint=FRONT, remote_endpoint=BACK, tags={"http.path": "/"})
    ]


def test_client_times_from_annotations_when_the_span_has_none() -> None:
    assert v1_to_v2(_v1([(50, "cs", FRONT), (150, "cr", FRONT)])) == [
        _v2(kind="CLIENT", timestamp=50, duration=100, local_endpoint=FRONT)
    ]


def test_server_only_without_span_timestamp_is_shared() -> None:
    got = v1_to_v2(_v1([(70, "sr", BACK), (80, "ss", BACK)], [("ca", None, FRONT)]))
    assert got == [_v2(kind="SERVER", timestamp=70, duration=10, local_endpoint=BACK, remote_endpoint=FRONT, shared=True)]


def test_server_with_its_own_timestamp_is_not_shared() -> None:
    got = v1_to_v2(_v1([(70, "sr", BACK), (80, "ss", BACK)], timestamp=70, duration=10))
    assert got == [_v2(kind="SERVER", timestamp=70, duration=10, local_endpoint=BACK)]


def test_both_sides_in_one_span_split_into_client_and_shared_server() -> None:
    got = v1_to_v2(
        _v1(
            [(100, "cs", FRONT), (120, "sr", BACK), (180, "ss", BACK), (200, "cr", FRONT), (150, "db.query", BACK)],
            [("sa", None, BACK), ("ca", None, FRONT), ("http.path", "/", FRONT), ("sql", "select", BACK)],
            timestamp=100,
            duration=100,
            debug=True,
        )
    )
    assert got == [
        _v2(
            kind="CLIENT", timestamp=100, duration=100, local_endpoint=FRONT, remote_endpoint=BACK,
            tags={"http.path": "/"}, debug=True,
        ),
        _v2(
            kind="SERVER", timestamp=120, duration=60, local_endpoint=BACK, remote_endpoint=FRONT, shared=True,
            annotations=[Annotation(150, "db.query")], tags={"sql": "select"}, debug=True,
        ),
    ]


def test_loopback_still_gives_two_spans() -> None:
    got = v1_to_v2(_v1([(100, "cs", FRONT), (120, "sr", FRONT), (180, "ss", FRONT), (200, "cr", FRONT)]))
    assert [(s.kind, s.timestamp, s.duration, s.shared, s.local_endpoint) for s in got] == [
        ("CLIENT", 100, 100, False, FRONT),
        ("SERVER", 120, 60, True, FRONT),
    ]


def test_one_way_client_has_no_duration() -> None:
    got = v1_to_v2(_v1([(100, "cs", FRONT), (120, "sr", BACK)]))
    assert [(s.kind, s.timestamp, s.duration, s.shared) for s in got] == [("CLIENT", 100, 0, False), ("SERVER", 120, 0, True)]


def test_missing_start_annotation_is_rebuilt_from_span_times() -> None:
    # cr at timestamp + duration: the client started at the span timestamp.
    got = v1_to_v2(_v1([(120, "sr", BACK), (180, "ss", BACK), (200, "cr", FRONT)], timestamp=100, duration=100))
    assert [(s.kind, s.timestamp, s.duration, s.shared, s.local_endpoint) for s in got] == [
        ("SERVER", 120, 60, True, BACK),
        ("CLIENT", 100, 100, False, FRONT),
    ]


def test_incomplete_rpc_keeps_the_end_annotation() -> None:
    assert v1_to_v2(_v1([(200, "cr", FRONT)])) == [_v2(kind="CLIENT", local_endpoint=FRONT, annotations=[Annotation(200, "cr")])]
    assert v1_to_v2(_v1([(100, "cs", FRONT)])) == [_v2(kind="CLIENT", timestamp=100, local_endpoint=FRONT)]
    assert v1_to_v2(_v1([(90, "ss", BACK)], timestamp=50, duration=40)) == [
        _v2(kind="SERVER", timestamp=50, duration=40, local_endpoint=BACK)
    ]


@pytest.mark.parametrize(
    ("annotations", "kind", "timestamp", "duration"),
    [
        ([(10, "ms", FRONT)], "PRODUCER", 10, 0),
        ([(10, "ms", FRONT), (15, "ws", FRONT)], "PRODUCER", 10, 5),
        ([(30, "mr", FRONT)], "CONSUMER", 30, 0),
        ([(25, "wr", FRONT), (30, "mr", FRONT)], "CONSUMER", 25, 5),
    ],
)
def test_messaging_spans(annotations, kind: str, timestamp: int, duration: int) -> None:
    got = v1_to_v2(_v1(annotations, [("ma", None, KAFKA)]))
    assert got == [_v2(kind=kind, timestamp=timestamp, duration=duration, local_endpoint=FRONT, remote_endpoint=KAFKA)]


def test_producer_and_consumer_in_one_span() -> None:
    got = v1_to_v2(_v1([(10, "ms", FRONT), (12, "ws", FRONT), (20, "wr", BACK), (30, "mr", BACK)], [("ma", None, KAFKA)]))
    assert got == [
        _v2(kind="PRODUCER", timestamp=10, duration=2, local_endpoint=FRONT, remote_endpoint=KAFKA),
        _v2(kind="CONSUMER", timestamp=20, duration=10, local_endpoint=BACK, remote_endpoint=KAFKA, shared=True),
    ]


def test_wire_annotations_without_messaging_stay_annotations() -> None:
    got = v1_to_v2(_v1([(5, "ws", FRONT), (6, "wr", FRONT)], timestamp=5, duration=1))
    assert got == [_v2(timestamp=5, duration=1, local_endpoint=FRONT, annotations=[Annotation(5, "ws"), Annotation(6, "wr")])]


def test_core_annotation_without_endpoint_is_an_ordinary_annotation() -> None:
    assert v1_to_v2(_v1([(5, "cs", None)])) == [_v2(annotations=[Annotation(5, "cs")])]


def test_local_component_marker_only_names_the_endpoint() -> None:
    assert v1_to_v2(_v1(binary=[("lc", "", FRONT)], timestamp=1, duration=2)) == [
        _v2(timestamp=1, duration=2, local_endpoint=FRONT)
    ]
    assert v1_to_v2(_v1(binary=[("lc", "worker", FRONT)])) == [_v2(local_endpoint=FRONT, tags={"lc": "worker"})]


def test_address_annotations_without_core_annotations() -> None:
    assert v1_to_v2(_v1(binary=[("sa", None, BACK)])) == [_v2(remote_endpoint=BACK)]
    assert v1_to_v2(_v1(binary=[("ca", None, FRONT)])) == [_v2(kind="SERVER", remote_endpoint=FRONT)]
    assert v1_to_v2(_v1(binary=[("ca", None, FRONT), ("sa", None, BACK)])) == [
        _v2(local_endpoint=FRONT, remote_endpoint=BACK)
    ]


def test_client_address_with_the_servers_own_name_loses_its_name() -> None:
    finagle_ca = Endpoint("backend", "10.1.1.1", "", 51000)
    got = v1_to_v2(_v1([(70, "sr", BACK), (80, "ss", BACK)], [("ca", None, finagle_ca)]))
    assert got[0].remote_endpoint == Endpoint("", "10.1.1.1", "", 51000)


def test_typed_tag_values_are_kept() -> None:
    got = v1_to_v2(_v1(binary=[("b", True, FRONT), ("i", 5, FRONT), ("f", 1.5, FRONT), ("raw", b"\x00", FRONT)]))
    assert got[0].tags == {"b": True, "i": 5, "f": 1.5, "raw": b"\x00"}


def test_client_spans_are_never_shared() -> None:
    # cs and sr in one service with the span timestamp missing: the client side is not
    # marked shared even though the server-side rule fires.
    got = v1_to_v2(_v1([(100, "cs", FRONT), (200, "cr", FRONT)]))
    assert got[0].shared is False


ROUND_TRIPS = [
    _v2(kind="CLIENT", timestamp=100, duration=50, local_endpoint=FRONT, remote_endpoint=BACK, tags={"a": "b"}),
    _v2(kind="SERVER", timestamp=100, duration=50, local_endpoint=BACK, remote_endpoint=FRONT),
    _v2(kind="SERVER", timestamp=100, duration=50, local_endpoint=BACK, shared=True, annotations=[Annotation(120, "x")]),
    _v2(kind="SERVER", timestamp=100, local_endpoint=BACK),
    _v2(kind="PRODUCER", timestamp=100, duration=5, local_endpoint=FRONT, remote_endpoint=KAFKA),
    _v2(kind="PRODUCER", timestamp=100, local_endpoint=FRONT),
    _v2(kind="CONSUMER", timestamp=100, duration=5, local_endpoint=FRONT, remote_endpoint=KAFKA),
    _v2(kind="CONSUMER", timestamp=100, local_endpoint=FRONT),
    _v2(timestamp=100, duration=5, local_endpoint=FRONT),
    _v2(timestamp=100, duration=5, remote_endpoint=BACK),
    _v2(timestamp=100, duration=5, local_endpoint=FRONT, remote_endpoint=BACK, tags={"k": 7}, debug=True),
    _v2(timestamp=100, duration=5, local_endpoint=FRONT, annotations=[Annotation(101, "a"), Annotation(103, "b")]),
    _v2(),
]


@pytest.mark.parametrize("span", ROUND_TRIPS, ids=lambda s: f"{s.kind or 'none'}-{s.shared}-{s.duration}")
def test_v2_to_v1_and_back(span: ZipkinSpan) -> None:
    assert v1_to_v2(v2_to_v1(span)) == [span]


def test_v2_to_v1_writes_core_annotations_and_addresses() -> None:
    v1 = v2_to_v1(_v2(kind="CLIENT", timestamp=100, duration=50, local_endpoint=FRONT, remote_endpoint=BACK))
    assert (v1.timestamp, v1.duration) == (100, 50)
    assert v1.annotations == [V1Annotation(100, "cs", FRONT), V1Annotation(150, "cr", FRONT)]
    assert v1.binary_annotations == [V1BinaryAnnotation("sa", None, BACK)]
    shared = v2_to_v1(_v2(kind="SERVER", timestamp=100, duration=50, local_endpoint=BACK, shared=True))
    assert (shared.timestamp, shared.duration) == (0, 0)  # v1's mark of a shared span
    assert shared.annotations == [V1Annotation(100, "sr", BACK), V1Annotation(150, "ss", BACK)]
