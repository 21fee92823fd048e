"""Each adjuster and Jaeger's exact warning texts (spec F.2, F.3)."""

from __future__ import annotations

import pytest

from spyglass.model import Event, KeyValue, Link, RefType, Resource, Span, SpanKind, Trace
from spyglass.query.adjusters import (
    ClockSkewAdjuster,
    apply_adjusters,
    dedupe_spans,
    move_library_tags,
    normalize_ip_tags,
    parent_reference_first,
    remove_invalid_references,
    sort_tags_and_log_fields,
    standard_adjusters,
    uniquify_span_ids,
)
from spyglass.query.adjusters.clock_skew import host_key

MS = 1_000_000
S = 1000 * MS


def span(span_id: int, parent: int = 0, start: int = 0, dur: int = 10 * MS, host: str = "", **kw: object) -> Span:
    attrs = [KeyValue("ip", host)] if host else []
    resource = kw.pop("resource", None) or Resource("svc", attrs)
    return Span(1, span_id, f"op{span_id}", start, dur, resource, parent_span_id=parent, **kw)  # type: ignore[arg-type]


# -- span ID uniquifier ------------------------------------------------------------------


def test_zipkin_shared_span_id_gets_unique_server_id() -> None:
    client = span(0x10, parent=0x5, kind=SpanKind.CLIENT)
    server = span(0x10, parent=0x5, kind=SpanKind.SERVER)
    server_child = span(0x20, parent=0x10)
    root = span(0x5)
    taken = span(0x1)  # ID 1 is in use, so the fresh ID is 2
    trace = Trace(1, [root, client, server, server_child, taken])
    uniquify_span_ids(trace)
    assert (client.span_id, client.parent_span_id) == (0x10, 0x5)
    assert (server.span_id, server.parent_span_id) == (0x2, 0x10)
    assert server_child.parent_span_id == 0x2
    assert all(not s.warnings for s in trace.spans)


def test_uniquifier_leaves_unshared_ids_alone() -> None:
    a = span(1, kind=SpanKind.SERVER)
    b = span(2, parent=1, kind=SpanKind.CLIENT)
    c = span(2, parent=1, kind=SpanKind.CLIENT)  # duplicate client spans: not a Zipkin pair
    trace = Trace(1, [a, b, c])
    uniquify_span_ids(trace)
    assert [s.span_id for s in trace.spans] == [1, 2, 2]


def test_uniquifier_counts_up_for_each_server_span() -> None:
    spans = []
    for shared in (0x100, 0x200):
        spans += [span(shared, kind=SpanKind.CLIENT), span(shared, kind=SpanKind.SERVER)]
    trace = Trace(1, spans)
    uniquify_span_ids(trace)
    assert [s.span_id for s in trace.spans] == [0x100, 1, 0x200, 2]


# -- sorting ------------------------------------------------------------------------------


def test_sort_tags_process_tags_and_log_fields_stably() -> None:
    s = span(
        1,
        resource=Resource("svc", [KeyValue("z", 1), KeyValue("a", 2)]),
        attributes=[KeyValue("b", 1), KeyValue("a", "x"), KeyValue("b", 0), KeyValue("A", 3)],
        events=[Event(0, "evt", [KeyValue("y", 1), KeyValue("event", 5), KeyValue("x", 2)])],
    )
    sort_tags_and_log_fields(Trace(1, [s]))
    assert [kv.key for kv in s.attributes] == ["A", "a", "b", "b"]
    assert [kv.value for kv in s.attributes if kv.key == "b"] == [1, 0]
    assert [kv.key for kv in s.resource.attributes] == ["a", "z"]
    assert s.events[0].name == "evt"
    assert [kv.key for kv in s.events[0].attributes] == ["event", "x", "y"]


# -- dedupe -------------------------------------------------------------------------------


def test_dedupe_drops_exact_copies_only_and_keeps_order() -> None:
    a = span(1)
    a_copy = span(1)
    b = span(2, attributes=[KeyValue("k", "v")])
    b_variant = span(2, attributes=[KeyValue("k", "other")])
    c = span(3)
    trace = Trace(1, [a, b, a_copy, b_variant, c, span(3)])
    dedupe_spans(trace)
    assert trace.spans == [a, b, b_variant, c]
    assert trace.spans[0] is a


def test_dedupe_sees_resource_differences() -> None:
    trace = Trace(1, [span(1, host="10.0.0.1"), span(1, host="10.0.0.2")])
    dedupe_spans(trace)
    assert len(trace.spans) == 2


# -- IP tags -------------------------------------------------------------------------------


def test_ip_tags_become_dotted_strings() -> None:
    s = span(
        1,
        resource=Resource("svc", [KeyValue("z", 1), KeyValue("ip", 0x0A000001)]),
        attributes=[KeyValue("peer.ipv4", 0x7F000001), KeyValue("ip", "1.2.3.4"), KeyValue("other", 5), KeyValue("ip", True)],
    )
    normalize_ip_tags(Trace(1, [s]))
    assert s.attributes == [KeyValue("peer.ipv4", "127.0.0.1"), KeyValue("ip", "1.2.3.4"), KeyValue("other", 5), KeyValue("ip", True)]
    assert s.resource.attributes == [KeyValue("ip", "10.0.0.1"), KeyValue("z", 1)]
    neg = span(2, attributes=[KeyValue("ip", -1)])
    normalize_ip_tags(Trace(1, [neg]))
    assert neg.attributes == [KeyValue("ip", "255.255.255.255")]


# -- OTel library tags ---------------------------------------------------------------------


def test_library_tags_move_to_process() -> None:
    s = span(
        1,
        resource=Resource("svc", [KeyValue("telemetry.sdk.name", "opentelemetry"), KeyValue("a", 1)]),
        attributes=[
            KeyValue("http.method", "GET"),
            KeyValue("telemetry.sdk.language", "python"),
            KeyValue("telemetry.sdk.name", "opentelemetry"),
            KeyValue("telemetry.sdk.version", "1.0"),
        ],
    )
    move_library_tags(Trace(1, [s]))
    assert s.attributes == [KeyValue("http.method", "GET")]
    assert [kv.key for kv in s.resource.attributes] == [
        "a",
        "telemetry.sdk.language",
        "telemetry.sdk.name",
        "telemetry.sdk.version",
    ]
    assert s.warnings == []


def test_library_tag_conflict_stays_with_warning() -> None:
    s = span(
        1,
        resource=Resource("svc", [KeyValue("telemetry.sdk.language", "go")]),
        attributes=[KeyValue("telemetry.sdk.language", "python"), KeyValue("telemetry.distro.name", "d")],
    )
    move_library_tags(Trace(1, [s]))
    assert s.attributes == [KeyValue("telemetry.sdk.language", "python")]
    assert s.warnings == ["conflicting values between Span and Resource for attribute telemetry.sdk.language"]
    assert KeyValue("telemetry.distro.name", "d") in s.resource.attributes


# -- invalid references -------------------------------------------------------------------


def test_zero_trace_id_references_removed_with_warning() -> None:
    s = span(1, links=[Link(0, 0xAB, RefType.CHILD_OF), Link(5, 6), Link(0, 1, RefType.FOLLOWS_FROM)])
    remove_invalid_references(Trace(1, [s]))
    assert s.links == [Link(5, 6)]
    assert s.warnings == [
        "Invalid span reference removed {TraceID:0000000000000000 SpanID:00000000000000ab RefType:CHILD_OF}",
        "Invalid span reference removed {TraceID:0000000000000000 SpanID:0000000000000001 RefType:FOLLOWS_FROM}",
    ]


# -- parent reference ---------------------------------------------------------------------


def test_parent_reference_moves_same_trace_child_of_first() -> None:
    s = span(1, links=[Link(9, 1, RefType.CHILD_OF), Link(1, 2, RefType.FOLLOWS_FROM), Link(1, 3, RefType.CHILD_OF)])
    parent_reference_first(Trace(1, [s]))
    assert [(l.trace_id, l.span_id) for l in s.links] == [(1, 3), (1, 2), (9, 1)]


def test_parent_reference_falls_back_to_first_same_trace_link() -> None:
    s = span(1, links=[Link(9, 1, RefType.CHILD_OF), Link(1, 2, RefType.FOLLOWS_FROM)])
    parent_reference_first(Trace(1, [s]))
    assert [(l.trace_id, l.span_id) for l in s.links] == [(1, 2), (9, 1)]
    with_parent = span(2, parent=1, links=[Link(9, 1), Link(1, 2)])
    parent_reference_first(Trace(1, [with_parent]))
    assert [l.span_id for l in with_parent.links] == [1, 2]


# -- clock skew (F.3) ----------------------------------------------------------------------


def test_clock_skew_centres_a_child_from_another_host() -> None:
    parent = span(1, start=10 * S, dur=100 * MS, host="10.0.0.1")
    child = span(2, parent=1, start=9 * S, dur=50 * MS, host="10.0.0.2", events=[Event(9 * S + 10 * MS, "e")])
    ClockSkewAdjuster(5 * S)(Trace(1, [parent, child]))
    # latency = (100ms - 50ms) / 2 = 25ms; delta = 10s + 25ms - 9s = 1.025s
    assert child.start_time_ns == 10 * S + 25 * MS
    assert child.events[0].time_ns == 10 * S + 35 * MS
    assert child.warnings == ["This span's timestamps were adjusted by 1.025s"]
    assert parent.warnings == []


def test_clock_skew_disabled_by_default_only_warns() -> None:
    parent = span(1, start=10 * S, dur=100 * MS, host="a")
    child = span(2, parent=1, start=9 * S, dur=50 * MS, host="b")
    ClockSkewAdjuster(0)(Trace(1, [parent, child]))
    assert child.start_time_ns == 9 * S
    assert child.warnings == ["clock skew adjustment disabled; not applying calculated delta of 1.025s"]


def test_clock_skew_max_delta_exceeded() -> None:
    parent = span(1, start=10 * S, dur=100 * MS, host="a")
    child = span(2, parent=1, start=9 * S, dur=50 * MS, host="b")
    ClockSkewAdjuster(500 * MS)(Trace(1, [parent, child]))
    assert child.start_time_ns == 9 * S
    assert child.warnings == [
        "max clock skew adjustment delta of 500ms exceeded; not applying calculated delta of 1.025s"
    ]


def test_clock_skew_longer_child_only_kept_from_starting_early() -> None:
    parent = span(1, start=10 * S, dur=10 * MS, host="a")
    early = span(2, parent=1, start=10 * S - 3 * MS, dur=60 * MS, host="b")
    late = span(3, parent=1, start=10 * S + 2 * MS, dur=60 * MS, host="c")
    ClockSkewAdjuster(S)(Trace(1, [parent, early, late]))
    assert early.start_time_ns == 10 * S
    assert early.warnings == ["This span's timestamps were adjusted by 3ms"]
    assert late.start_time_ns == 10 * S + 2 * MS
    assert late.warnings == []


def test_clock_skew_child_inside_parent_untouched_and_negative_delta() -> None:
    parent = span(1, start=10 * S, dur=100 * MS, host="a")
    inside = span(2, parent=1, start=10 * S + 10 * MS, dur=20 * MS, host="b")
    after = span(3, parent=1, start=12 * S, dur=20 * MS, host="c")
    ClockSkewAdjuster(S * 10)(Trace(1, [parent, inside, after]))
    assert inside.warnings == []
    # latency 40ms: delta = 10s + 40ms - 12s = -1.96s
    assert after.start_time_ns == 10 * S + 40 * MS
    assert after.warnings == ["This span's timestamps were adjusted by -1.96s"]


def test_clock_skew_same_host_inherits_delta() -> None:
    root = span(1, start=10 * S, dur=100 * MS, host="a")
    remote = span(2, parent=1, start=9 * S, dur=50 * MS, host="b")
    remote_child = span(3, parent=2, start=9 * S + 5 * MS, dur=10 * MS, host="b")
    local_child = span(4, parent=1, start=5 * S, dur=10 * MS, host="a")  # same host as root: not moved
    ClockSkewAdjuster(10 * S)(Trace(1, [root, remote, remote_child, local_child]))
    assert remote_child.start_time_ns == 9 * S + 5 * MS + S + 25 * MS
    assert remote_child.warnings == ["This span's timestamps were adjusted by 1.025s"]
    assert local_child.start_time_ns == 5 * S
    assert local_child.warnings == []


def test_clock_skew_empty_host_key_is_always_compared() -> None:
    root = span(1, start=10 * S, dur=100 * MS)
    child = span(2, parent=1, start=9 * S, dur=50 * MS)
    ClockSkewAdjuster(10 * S)(Trace(1, [root, child]))
    assert child.start_time_ns == 10 * S + 25 * MS


def test_clock_skew_duplicate_ids_and_missing_parent() -> None:
    root = span(1, start=10 * S, host="a")
    dup = span(1, start=0, host="b")
    orphan = span(3, parent=0x99, start=0, host="c")
    ClockSkewAdjuster(S)(Trace(1, [root, dup, orphan]))
    assert dup.warnings == ["duplicate span IDs; skipping clock skew adjustment"]
    assert orphan.warnings == ["parent span ID=0000000000000099 is not in the trace; skipping clock skew adjustment"]
    assert (dup.start_time_ns, orphan.start_time_ns) == (0, 0)


def test_clock_skew_deep_trace_does_not_recurse() -> None:
    spans = [span(1, start=0, dur=10**9)]
    for i in range(2, 5002):
        spans.append(span(i, parent=i - 1, start=i, dur=10, host="h"))
    ClockSkewAdjuster(0)(Trace(1, spans))  # would hit the recursion limit if recursive


@pytest.mark.parametrize(
    ("attrs", "key"),
    [
        ([KeyValue("ip", "10.1.2.3")], "10.1.2.3"),
        ([KeyValue("ip", 0x0A010203)], "10.1.2.3"),
        ([KeyValue("ip", b"\x0a\x01\x02\x03")], "10.1.2.3"),
        ([KeyValue("ip", bytes(10) + b"\xff\xff\x0a\x01\x02\x03")], "10.1.2.3"),
        ([KeyValue("ip", b"\x20\x01" + bytes(13) + b"\x01")], "2001::1"),
        ([KeyValue("host.id", "i-123"), KeyValue("host.name", "n")], "i-123"),
        ([KeyValue("host.ip", ["192.168.0.1", "x"])], "192.168.0.1"),
        ([KeyValue("host.ip", "192.168.0.2")], "192.168.0.2"),
        ([KeyValue("host.name", "box")], "box"),
        ([KeyValue("ip", "1.1.1.1"), KeyValue("host.id", "x")], "1.1.1.1"),
        ([], ""),
    ],
)
def test_host_key(attrs: list[KeyValue], key: str) -> None:
    assert host_key(Span(1, 1, "x", 0, 0, Resource("s", attrs))) == key


# -- the standard sequence ---------------------------------------------------------------


def test_standard_sequence_order_and_effect() -> None:
    adjusters = standard_adjusters(0)
    assert [getattr(a, "__name__", type(a).__name__) for a in adjusters] == [
        "uniquify_span_ids",
        "sort_tags_and_log_fields",
        "dedupe_spans",
        "ClockSkewAdjuster",
        "normalize_ip_tags",
        "move_library_tags",
        "remove_invalid_references",
        "parent_reference_first",
    ]
    s = span(1, attributes=[KeyValue("b", 1), KeyValue("a", 2)], links=[Link(0, 5)])
    trace = apply_adjusters(Trace(1, [s, span(1, attributes=[KeyValue("a", 2), KeyValue("b", 1)], links=[Link(0, 5)])]), adjusters)
    assert len(trace.spans) == 1  # sorted first, so the two copies are equal
    assert [kv.key for kv in trace.spans[0].attributes] == ["a", "b"]
    assert trace.spans[0].links == []
