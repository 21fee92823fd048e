"""A check shared by the clickhouse test modules: random spans against the memory backend."""

from __future__ import annotations

import random

from spyglass.model import Event, KeyValue, Link, Resource, Scope, Span, SpanKind, Status, StatusCode, attr_as_string
from spyglass.storage.api import StorageFactory, TraceQuery
from spyglass.storage.memory import MemoryFactory

S = 1_000_000_000
T0 = 1_700_000_000 * S


def _kvs(rng: random.Random, n: int) -> list[KeyValue]:
    values = [["x", "500", "true", ""], [True, False], [500, -3], [1.5, 72.5], [b"\x00\x01"], [[1, "a"]], [{"k": 2}]]
    return [KeyValue(rng.choice(["k1", "k2", "http.status_code", "error", "span.kind"]), rng.choice(rng.choice(values)))
            for _ in range(n)]


def _random_spans(rng: random.Random, n: int = 500) -> list[Span]:
    spans = []
    starts = rng.sample(range(1, 10_000), n)
    ids: dict[int, list[int]] = {}
    for i in range(n):
        trace = rng.randrange(1, 100) | (rng.choice([0, 1]) << 100)
        earlier = ids.setdefault(trace, [])
        parent = rng.choice(earlier) if earlier and rng.random() < 0.8 else 0
        earlier.append(i + 1)
        spans.append(Span(
            trace, i + 1, rng.choice(["get", "put", "del"]), T0 + starts[i] * S, rng.randrange(1, 5) * S,
            Resource(rng.choice(["a", "b", "c"]), _kvs(rng, rng.randrange(3))),
            parent_span_id=parent, kind=rng.choice(list(SpanKind)),
            status=rng.choice([Status(), Status(StatusCode.ERROR, "bad"), Status(StatusCode.OK)]),
            attributes=_kvs(rng, rng.randrange(4)),
            events=[Event(T0, rng.choice(["", "retry"]), _kvs(rng, rng.randrange(2)))] if rng.random() < 0.3 else [],
            links=[Link(5, 6, attributes=_kvs(rng, 1))] if rng.random() < 0.1 else [],
            scope=Scope("lib", "1.0", _kvs(rng, 1)) if rng.random() < 0.1 else Scope(),
        ))
    return spans


def check_against_memory(factory: StorageFactory, seed: int = 7) -> None:
    """Random spans in batches into ``factory`` and the memory backend: every search, every
    trace and the dependencies over all of them answer the same (also run on the clusters)."""
    rng = random.Random(seed)
    spans = _random_spans(rng)
    memory = MemoryFactory()
    for i in range(0, len(spans), 37):
        for store in (memory, factory):
            store.span_writer().write_spans(spans[i:i + 37])
    pairs = sorted({(kv.key, attr_as_string(kv.value)) for sp in spans for kv in sp.attributes + sp.resource.attributes})
    pairs += [("error", "true"), ("error", "false"), ("span.kind", "client"), ("span.status", "ok"),
              ("otel.scope.name", "lib"), ("event", "retry"), ("k1", "nope")]
    checked = 0
    for _ in range(150):
        q = TraceQuery(
            service_name=rng.choice(["", "a", "b", "c"]),
            operation_name=rng.choice(["", "", "get"]),
            attributes=dict(rng.sample(pairs, rng.choice([0, 1, 1, 2]))),
            start_time_min_ns=rng.choice([0, T0 + 2000 * S]),
            start_time_max_ns=rng.choice([0, T0 + 8000 * S]),
            duration_min_ns=rng.choice([0, 2 * S]),
            duration_max_ns=rng.choice([0, 3 * S]),
            num_traces=rng.choice([3, 20, 100]),
        )
        if not q.service_name and not q.attributes:
            continue
        expected = memory.trace_reader().find_trace_ids(q)
        assert factory.trace_reader().find_trace_ids(q) == expected, q
        checked += bool(expected)
    assert checked > 30
    for trace in {s.trace_id for s in spans}:
        got = factory.trace_reader().get_trace(trace)
        assert sorted(got, key=lambda s: s.span_id) == sorted(memory.trace_reader().get_trace(trace), key=lambda s: s.span_id)
    everything = memory.dependency_reader().get_dependencies(T0 + 20_000 * S, 20_000 * S)
    assert sum(d.call_count for d in everything) > 20
    assert factory.dependency_reader().get_dependencies(T0 + 20_000 * S, 20_000 * S) == everything
