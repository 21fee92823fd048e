"""QueryService over the memory store: aggregation, archive, adjusters, summaries."""

from __future__ import annotations

import threading

import pytest

from spyglass.model import DependencyLink, KeyValue, Resource, Span, SpanKind, Status, StatusCode
from spyglass.query import ArchiveNotConfiguredError, QueryService, TraceNotFoundError
from spyglass.storage.api import Operation, TraceQuery
from spyglass.storage.memory import MemoryStore

MS = 1_000_000
S = 1000 * MS
T0 = 1_700_000_000 * S


def make_trace(trace_id: int, service: str = "frontend", start: int = T0) -> list[Span]:
    front = Resource(service, [KeyValue("ip", "10.0.0.1")])
    back = Resource("backend", [KeyValue("ip", "10.0.0.2")])
    return [
        Span(trace_id, 1, "GET /", start, 100 * MS, front, kind=SpanKind.SERVER, attributes=[KeyValue("b", 1), KeyValue("a", 2)]),
        # starts before its parent on another host: clock skew would move it
        Span(trace_id, 2, "query", start - S, 50 * MS, back, parent_span_id=1, kind=SpanKind.CLIENT, status=Status(StatusCode.ERROR)),
    ]


@pytest.fixture
def store() -> MemoryStore:
    s = MemoryStore()
    s.write_spans(make_trace(1))
    s.write_spans(make_trace(2, "other", start=T0 + S))
    return s


async def test_get_trace_adjusted_and_raw(store: MemoryStore) -> None:
    service = QueryService(store, store)
    trace = await service.get_trace(1)
    assert [kv.key for kv in trace.spans[0].attributes] == ["a", "b"]
    assert trace.spans[1].warnings == ["clock skew adjustment disabled; not applying calculated delta of 1.025s"]
    raw = await service.get_trace(1, raw=True)
    assert [kv.key for kv in raw.spans[0].attributes] == ["b", "a"]
    assert raw.spans[1].warnings == []
    # Storage keeps its own copy untouched.
    assert store.get_trace(1)[1].warnings == []


async def test_clock_skew_max_is_applied(store: MemoryStore) -> None:
    service = QueryService(store, store, max_clock_skew_ns=2 * S)
    trace = await service.get_trace(1)
    assert trace.spans[1].start_time_ns == T0 + 25 * MS
    assert trace.spans[1].warnings == ["This span's timestamps were adjusted by 1.025s"]


async def test_unknown_trace_raises(store: MemoryStore) -> None:
    with pytest.raises(TraceNotFoundError, match="^trace not found$"):
        await QueryService(store, store).get_trace(99)


async def test_archive_reader_is_the_fallback(store: MemoryStore) -> None:
    archive = MemoryStore()
    archive.write_spans(make_trace(42))
    service = QueryService(store, store, archive_reader=archive)
    assert len((await service.get_trace(42)).spans) == 2
    assert [t.trace_id for t in await service.get_traces([1, 42, 7, 1])] == [1, 42]


async def test_archive_trace(store: MemoryStore) -> None:
    no_archive = QueryService(store, store)
    assert not no_archive.archive_enabled
    with pytest.raises(ArchiveNotConfiguredError, match="^archive span storage was not configured$"):
        await no_archive.archive_trace(1)
    with pytest.raises(ArchiveNotConfiguredError):
        await no_archive.archive_trace(12345)  # checked before the lookup, as Jaeger does

    archive = MemoryStore()
    service = QueryService(store, store, archive_reader=archive, archive_writer=archive)
    assert service.archive_enabled
    await service.archive_trace(1)
    archived = archive.get_trace(1)
    assert len(archived) == 2
    assert archived[1].warnings == []  # archived as stored, not adjusted
    with pytest.raises(TraceNotFoundError):
        await service.archive_trace(12345)


async def test_find_traces_aggregates_and_adjusts(store: MemoryStore) -> None:
    service = QueryService(store, store)
    traces = await service.find_traces(TraceQuery(service_name="frontend"))
    assert [t.trace_id for t in traces] == [1]
    assert len(traces[0].spans) == 2
    assert traces[0].spans[1].warnings
    everything = await service.find_traces(TraceQuery(service_name="backend", num_traces=0))
    assert sorted(t.trace_id for t in everything) == [1, 2]
    one = await service.find_traces(TraceQuery(service_name="backend", num_traces=1), raw=True)
    assert [t.trace_id for t in one] == [2]  # the newest
    assert one[0].spans[1].warnings == []


async def test_chunked_storage_results_are_merged() -> None:
    class ChunkingStore(MemoryStore):
        def find_traces(self, query: TraceQuery) -> list[list[Span]]:
            out = []
            for spans in super().find_traces(query):
                out.extend([s] for s in spans)  # one chunk per span
            return out

    s = ChunkingStore()
    s.write_spans(make_trace(1))
    traces = await QueryService(s, s).find_traces(TraceQuery(service_name="frontend"))
    assert len(traces) == 1 and len(traces[0].spans) == 2


async def test_services_operations_dependencies(store: MemoryStore) -> None:
    service = QueryService(store, store)
    assert await service.get_services() == ["backend", "frontend", "other"]
    assert await service.get_operations("frontend") == [Operation("GET /", "server")]
    assert await service.get_operations("backend", "server") == []
    deps = await service.get_dependencies(T0 + 10 * S, 60 * S)
    assert deps == [DependencyLink("frontend", "backend", 1), DependencyLink("other", "backend", 1)]


async def test_trace_summaries(store: MemoryStore) -> None:
    extra = [
        Span(3, 1, "root", T0, 10 * MS, Resource("a")),
        Span(3, 2, "orphan", T0 + MS, 30 * MS, Resource("b"), parent_span_id=0x77, status=Status(StatusCode.ERROR)),
        Span(3, 3, "child", T0 + 2 * MS, MS, Resource("a"), parent_span_id=1),
    ]
    store.write_spans(extra)
    (summary,) = await QueryService(store, store).find_trace_summaries(TraceQuery(service_name="a"))
    assert summary.trace_id == 3
    assert (summary.root_service_name, summary.root_operation_name) == ("a", "root")
    assert (summary.min_start_time_ns, summary.max_end_time_ns) == (T0, T0 + 31 * MS)
    assert (summary.span_count, summary.error_span_count, summary.orphan_span_count) == (3, 1, 1)
    assert [(s.name, s.span_count, s.error_span_count) for s in summary.services] == [("a", 2, 0), ("b", 1, 1)]


async def test_equal_processes_are_shared_while_adjusting() -> None:
    s = MemoryStore()
    r = Resource("svc")
    s.write_spans(
        [
            Span(5, 1, "a", T0, MS, r, attributes=[KeyValue("telemetry.sdk.name", "otel")]),
            Span(5, 2, "b", T0, MS, r, parent_span_id=1),
        ]
    )
    trace = await QueryService(s, s).get_trace(5)
    assert trace.spans[0].resource is trace.spans[1].resource
    assert trace.spans[1].resource.attributes == [KeyValue("telemetry.sdk.name", "otel")]


async def test_storage_runs_off_the_event_loop(store: MemoryStore) -> None:
    seen: list[int] = []

    class Recording(MemoryStore):
        def get_services(self) -> list[str]:
            seen.append(threading.get_ident())
            return super().get_services()

    r = Recording()
    await QueryService(r, r).get_services()
    assert seen and seen[0] != threading.get_ident()


async def test_custom_adjusters() -> None:
    calls: list[int] = []
    s = MemoryStore()
    s.write_spans(make_trace(1))
    service = QueryService(s, s, adjusters=[lambda t: calls.append(t.trace_id)])
    await service.get_trace(1)
    await service.get_trace(1, raw=True)
    assert calls == [1]
