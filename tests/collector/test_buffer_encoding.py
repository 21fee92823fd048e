"""The buffer's batch encoding is lossless for the canonical model (the dedupe adjuster
compares redelivered copies field by field) and refuses what it did not write."""

from __future__ import annotations

import pytest

from spyglass.collector.buffer.encoding import BatchDecodeError, decode_batch, encode_batch
from spyglass.model import (Event, KeyValue, Link, RefType, Resource, Scope, Span, SpanKind, Status,
                            StatusCode)


def rich_spans() -> list[Span]:
    r1 = Resource("api", [KeyValue("host.name", "h1"), KeyValue("pid", 42)], 2, "https://schema/1")
    r2 = Resource("db", [KeyValue("ratio", 0.5), KeyValue("ok", True), KeyValue("raw", b"\x00\xff")])
    scope = Scope("lib", "1.2", [KeyValue("s", "v")], 1, "https://schema/s")
    big = (1 << 128) - 1
    return [
        Span(big, (1 << 64) - 1, "root", 1_700_000_000_123_456_789, 10**9, r1, kind=SpanKind.SERVER,
             status=Status(StatusCode.ERROR, "boom"), attributes=[KeyValue("list", ["a", 1])],
             events=[Event(1_700_000_000_200_000_000, "log", [KeyValue("m", "x")], 3)],
             links=[Link(5, 6, RefType.CHILD_OF, "ts=1", [KeyValue("l", 1)], 1, 2)],
             flags=1, trace_state="k=v", scope=scope, warnings=["w"], dropped_attributes_count=1,
             dropped_events_count=2, dropped_links_count=3),
        Span(big, 2, "child", 1_700_000_000_200_000_000, 5, r1, parent_span_id=(1 << 64) - 1),
        Span(7, 1, "other trace", 0, 0, r2),
        Span(7, 1, "other trace", 0, 0, r2),  # a duplicate is kept: storage dedupes, not the buffer
    ]


def test_round_trip_is_exact() -> None:
    original = rich_spans()
    decoded = decode_batch(encode_batch(original))
    assert sorted(map(repr, decoded)) == sorted(map(repr, original))


def test_empty_batch() -> None:
    assert decode_batch(encode_batch([])) == []


@pytest.mark.parametrize("data", [b"", b"SGB", b"XXXX\x90", b"SGB1\xc1", b"SGB1\x91\x93\x01\x02\xc4\x01\xff"])
def test_foreign_or_corrupt_bytes_are_a_clear_error(data: bytes) -> None:
    with pytest.raises(BatchDecodeError):
        decode_batch(data)
