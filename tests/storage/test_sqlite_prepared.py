"""Batches prepared by a collector worker (``storage.sqlite.prepared``) store exactly what
``write_spans`` stores: the same traces, searches, services, dependencies and rollups."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from spyglass.collector.buffer.encoding import decode_batch, encode_batch
from spyglass.model import Event, KeyValue, Resource
from spyglass.storage.api import TraceQuery
from spyglass.storage.api.metrics import RedQuery
from spyglass.storage.sqlite import SqliteConfig, SqliteFactory
from spyglass.storage.sqlite.prepared import MAGIC, PreparedDecodeError, Preparer, PreparedSpans
from tests.storage.test_analytics_suite import MINUTE_NS, S, T0, Clock, random_traces


def tagged_traces(rng: random.Random, with_ratio: bool = False) -> list:
    """Random traces with tags, events and peer services for the index, peers and rollups
    (``with_ratio``: a float attribute too). Shared with the clickhouse prepared tests."""
    traces = random_traces(rng, 200)
    for trace in traces:
        for s in trace:
            s.attributes = [KeyValue("http.status_code", rng.choice([200, 404])), KeyValue("peer.service", "db"),
                            KeyValue("user", f"u{rng.randrange(5)}")]
            if with_ratio:
                s.attributes.append(KeyValue("ratio", rng.random()))
            s.events = [Event(s.start_time_ns + 1, "retry", [KeyValue("attempt", 2)])]
            s.resource = Resource(s.resource.service_name, [KeyValue("host", "h1")])
    return traces


def worker_batches(traces: list, rng: random.Random) -> list:
    """The traces' spans shuffled into batches of 41, decoded as a collector worker decodes."""
    spans = [s for t in traces for s in t]
    rng.shuffle(spans)
    return [decode_batch(encode_batch(spans[i:i + 41])) for i in range(0, len(spans), 41)]


def assert_same_answers(plain: Any, ready: Any, traces: list) -> None:
    """Services, operations, every trace, the searches and the dependencies of two stores."""
    a, b = plain.trace_reader(), ready.trace_reader()
    assert sorted(a.get_services()) == sorted(b.get_services()) and a.get_services()
    for service in a.get_services():
        assert sorted(map(repr, a.get_operations(service))) == sorted(map(repr, b.get_operations(service)))

    def key(ss: list) -> list:
        return sorted((s.span_id, s.name, s.start_time_ns, repr(s)) for s in ss)

    for trace in traces:
        got = b.get_trace(trace[0].trace_id)
        assert got and key(a.get_trace(trace[0].trace_id)) == key(got)
    for query in (TraceQuery(service_name="api", num_traces=1000),
                  TraceQuery(service_name="db", attributes={"user": "u3"}, num_traces=1000),
                  TraceQuery(service_name="front", attributes={"attempt": "2"}, num_traces=1000),
                  TraceQuery(service_name="worker", duration_min_ns=10**6, num_traces=1000)):
        found_a = sorted(t[0].trace_id for t in a.find_traces(query))
        assert found_a and found_a == sorted(t[0].trace_id for t in b.find_traces(query))
    end = T0 + 200 * MINUTE_NS
    deps = lambda f: sorted(map(repr, f.dependency_reader().get_dependencies(end, 300 * MINUTE_NS)))  # noqa: E731
    assert deps(plain) and deps(plain) == deps(ready)


def _write(tmp_path: Path, name: str, batches: list, prepared: bool) -> SqliteFactory:
    clock = Clock()
    factory = SqliteFactory(SqliteConfig(data_dir=str(tmp_path / name)), clock=clock)
    writer = factory.span_writer()
    preparer = Preparer()
    for i, batch in enumerate(batches):
        clock.now = (T0 + i * 40 * 60 * S // len(batches)) / S  # across midnight: two day files
        if prepared:
            writer.write_prepared([PreparedSpans(preparer.prepare(batch))])  # type: ignore[attr-defined]
        else:
            writer.write_spans(batch)
    return factory


def test_prepared_batches_store_what_write_spans_stores(tmp_path: Path) -> None:
    rng = random.Random(7)
    traces = tagged_traces(rng)
    batches = worker_batches(traces, rng)
    plain = _write(tmp_path, "plain", batches, prepared=False)
    ready = _write(tmp_path, "prepared", batches, prepared=True)
    try:
        assert_same_answers(plain, ready, traces)
        lo, hi = T0 // MINUTE_NS - 5, T0 // MINUTE_NS + 200
        red = lambda f: sorted(map(repr, f.metrics_reader().read_red(  # noqa: E731
            RedQuery("", [], [], lo, hi, group_by_operation=True))))
        assert red(plain) and red(plain) == red(ready)
        edges = lambda f: sorted(map(repr, f.metrics_reader().read_edges("", lo, hi)))  # noqa: E731
        assert edges(plain) and edges(plain) == edges(ready)
    finally:
        plain.close()
        ready.close()


def test_prepared_batch_counts_and_refuses_foreign_bytes() -> None:
    spans = [s for t in random_traces(random.Random(3), 10) for s in t]
    prepared = PreparedSpans(Preparer().prepare(spans))
    assert len(prepared) == len(spans)
    assert sorted(prepared.services()) == sorted(s.resource.service_name for s in spans)
    counts: dict[str, int] = {"api": 1}
    prepared.service_counts(counts)
    expected = Counter(s.resource.service_name for s in spans)
    expected["api"] += 1
    assert counts == expected
    with pytest.raises(PreparedDecodeError):
        PreparedSpans(encode_batch(spans))
    with pytest.raises(PreparedDecodeError):
        PreparedSpans(MAGIC + b"\xc1garbage")
