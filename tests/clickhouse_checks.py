"""Checks shared by the clickhouse test modules: random spans against the memory backend, and
the cases of the widening search (spans around the cuts of a window, and queries over them)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

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


# The widening search's cases (``test_clickhouse_widening.py``, ``test_clickhouse_chdb.py``):
# spans placed around the cuts of a 6,400 s window.
LO, HI = T0, T0 + 6400 * S
CUT0, CUT1 = HI - 100 * S, HI - 800 * S  # the window's cuts: newest 1/64, then 1/8


def _at(trace: int, sid: int, start: int, *, op: str = "a", svc: str = "api", duration: int = S,
        status: int = 200) -> Span:
    return Span(trace, sid, op, start, duration, Resource(svc, []), kind=SpanKind.SERVER,
                attributes=[KeyValue("http.status_code", status)])


def widening_spans() -> list[Span]:
    """Fewer traces than most limits in the first slice; ties on and next to each cut; traces
    matching on both sides of a cut, or newer only through a span another filter rejects."""
    spans = [
        _at(1, 1, HI),  # on the window's upper edge
        _at(2, 1, HI - 10 * S, status=500),
        _at(3, 1, CUT0 + 1, duration=3 * S),
        _at(4, 1, CUT0), _at(5, 1, CUT0, status=500),  # tied exactly on the first cut
        _at(6, 1, CUT0 - 1),  # one nanosecond into the second slice
        # matching "a" only below the cut, a newer span of another operation above it
        _at(7, 1, CUT0 - 200 * S), _at(7, 2, HI - 5 * S, op="b"),
        # matching on both sides of both cuts: ranks by the newest one
        _at(8, 1, LO + 100 * S, status=500), _at(8, 2, CUT1 - 3, status=500), _at(8, 3, HI - 50 * S),
        _at(9, 1, CUT1), _at(10, 1, CUT1, status=500), _at(11, 1, CUT1 - 1),  # on the second cut
        _at(12, 1, LO - 1), _at(12, 2, HI + 1),  # outside the window only
        _at(13, 1, LO),  # on the window's lower edge
        _at(14, 1, LO + 3000 * S, duration=3 * S), _at(15, 1, LO + 3000 * S, duration=3 * S),  # tied inside
        _at(16, 1, CUT0 + 2 * S, svc="other"), _at(16, 2, LO + 10 * S),
    ]
    rng = random.Random(5)
    for t in range(100, 140):  # spread over the older part of the window
        for sid in range(1, rng.randrange(2, 4)):
            spans.append(_at((t << 64) | t, sid, LO + rng.randrange(0, 5600) * S, op=rng.choice("ab"),
                             duration=rng.randrange(1, 5) * S, status=rng.choice([200, 500])))
    return spans


def widening_queries() -> Iterator[TraceQuery]:
    """Every filter form over the window, unbounded on either side, a slice, one instant,
    an inner edge and an empty window, at limits that stop in each slice."""
    filters: list[dict[str, Any]] = [
        {"service_name": "api"}, {"service_name": "api", "operation_name": "a"},
        {"service_name": "api", "operation_name": "b"}, {"service_name": "other"},
        {"service_name": "api", "attributes": {"http.status_code": "500"}},
        {"attributes": {"http.status_code": "500"}},
        {"service_name": "api", "duration_min_ns": 2 * S, "duration_max_ns": 3 * S},
        {"service_name": "api", "operation_name": "a", "attributes": {"http.status_code": "500"},
         "duration_min_ns": 2 * S},
    ]
    windows = [(LO, HI), (0, HI), (LO, 0), (CUT1, CUT0), (CUT0, CUT0), (LO + 1, HI - 1), (HI, LO)]
    for f, (lo, hi), limit in itertools.product(filters, windows, (1, 2, 3, 4, 5, 6, 8, 12, 20, 0)):
        yield TraceQuery(**f, start_time_min_ns=lo, start_time_max_ns=hi, num_traces=limit)
