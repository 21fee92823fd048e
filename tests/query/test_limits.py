"""Query limits (issue 17, items 2, 3 and 7): caps on traces and spans per answer, streamed
large answers, the request deadline, the admission limit, and clamped time windows, over
real HTTP and gRPC servers and both storage backends."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from support import storage_backends

from spyglass.codecs import go_json
from spyglass.codecs.jaeger_ui_json import traces_to_ui
from spyglass.codecs.proto.jaeger.api_v2 import query_pb2, query_pb2_grpc
from spyglass.codecs.proto.jaeger.api_v3 import query_service_pb2 as v3pb, query_service_pb2_grpc as v3grpc
from spyglass.model import KeyValue, Resource, Span
from spyglass.query import grpc_api_v2, grpc_api_v3, http_api_v1, http_api_v3
from spyglass.query.http_api import build_app
from spyglass.query.limits import QueryLimits
from spyglass.query.service import QueryService, truncation_warning
from spyglass.server import GrpcServer, HttpServer
from spyglass.storage.api import TraceQuery
from spyglass.storage.api.deadline import Deadline, QueryTimeout, running_under
from spyglass.storage.memory import MemoryStore

MS = 1_000_000
T0 = 1_700_000_000_000 * MS
TRACES, SPANS_PER_TRACE = 2_000, 10  # 20,000 spans
WINDOW = f"&start={T0 // 1000 - 3_600_000_000}&end={T0 // 1000 + 3_600_000_000}"  # µs, around the data


def trace_spans(i: int) -> list[Span]:
    r = Resource("svc", [KeyValue("host", f"h{i % 7}")])
    return [
        Span(i + 1, j + 1, f"op{j}", T0 + i * MS + j, MS, r, parent_span_id=j and 1,
             attributes=[KeyValue("i", i), KeyValue("payload", "x" * 40)])
        for j in range(SPANS_PER_TRACE)
    ]


def fill(writer: Any) -> None:
    batch: list[Span] = []
    for i in range(TRACES):
        batch.extend(trace_spans(i))
        if len(batch) >= 5_000:
            writer.write_spans(batch)
            batch = []
    writer.write_spans(batch)


@pytest.fixture(scope="module")
def sqlite_filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    factory = storage_backends()["sqlite"](tmp_path_factory.mktemp("sqlite"))
    fill(factory.span_writer())
    yield factory
    factory.close()


@pytest.fixture(scope="module", params=sorted(storage_backends()))
def filled(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    factory = storage_backends()[request.param](tmp_path_factory.mktemp(request.param))
    fill(factory.span_writer())
    yield factory
    factory.close()


async def serve(service: QueryService) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    server = HttpServer("query", "127.0.0.1", 0, build_app(service))
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield session, f"http://127.0.0.1:{server.port}"
    finally:
        await server.stop()
        service.close()


def spans_in(body: dict[str, Any]) -> int:
    return sum(len(t["spans"]) for t in body["data"])


# -- item 2: caps on one answer ----------------------------------------------------------


async def test_a_huge_limit_is_clamped_to_max_traces(filled: Any) -> None:
    service = QueryService(filled.trace_reader(), filled.dependency_reader(), limits=QueryLimits(max_traces=150))
    async for session, base in serve(service):
        async with session.get(f"{base}/api/traces?service=svc&limit=10000000" + WINDOW) as r:
            assert r.status == 200
            body = await r.json()
        assert len(body["data"]) == 150 and spans_in(body) == 150 * SPANS_PER_TRACE
        newest = {format(TRACES - i, "016x") for i in range(150)}
        assert {t["traceID"] for t in body["data"]} == newest
        q = {"query.serviceName": "svc", "query.startTimeMin": "2023-01-01T00:00:00Z",
             "query.startTimeMax": "2024-01-01T00:00:00Z", "query.searchDepth": "4000000000"}
        async with session.get(f"{base}/api/v3/traces", params=q) as r:
            assert r.status == 200, await r.text()
            spans = [s for rs in (await r.json())["result"]["resourceSpans"]
                     for ss in rs["scopeSpans"] for s in ss["spans"]]
        assert len({s["traceId"] for s in spans}) == 150


async def test_spans_per_response_bound_the_answer_and_its_memory(sqlite_filled: Any) -> None:
    """20,000 stored spans, ``limit=10000000``: the answer holds at most the span budget,
    and the request allocates a few MB (the whole answer, uncapped, peaks at ~60 MB)."""
    limits = QueryLimits(max_traces=0, max_spans_per_response=1_000)
    service = QueryService(sqlite_filled.trace_reader(), sqlite_filled.dependency_reader(), limits=limits)
    async for session, base in serve(service):
        tracemalloc.start()
        try:
            async with session.get(f"{base}/api/traces?service=svc&limit=10000000" + WINDOW) as r:
                assert r.status == 200
                count = spans_in(await r.json())
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert count == 1_000
    assert peak < 15_000_000, peak


async def test_one_trace_larger_than_the_budget_is_cut_with_jaegers_warning() -> None:
    store = MemoryStore()
    store.write_spans([Span(7, j + 1, "op", T0 + j, MS, Resource("svc")) for j in range(50)])
    service = QueryService(store, store, limits=QueryLimits(max_spans_per_response=20))
    trace = await service.get_trace(7)
    assert len(trace.spans) == 20
    assert truncation_warning(20) == "trace has more than 20 spans, showing first 20 spans only"
    assert truncation_warning(20) in [w for s in trace.spans for w in s.warnings]
    service.close()


@pytest.mark.parametrize("pretty", [False, True])
async def test_streamed_answers_are_byte_for_byte_the_whole_answer(monkeypatch: pytest.MonkeyPatch, pretty: bool) -> None:
    store = MemoryStore()
    for i in range(30):
        store.write_spans(trace_spans(i))
    monkeypatch.setattr(http_api_v1, "STREAM_MIN_SPANS", 1)
    monkeypatch.setattr(http_api_v3, "STREAM_MIN_SPANS", 1)
    service = QueryService(store, store)
    traces = await service.find_traces(TraceQuery(service_name="svc", num_traces=30))
    indent = "    " if pretty else ""
    expected_v1 = go_json.dumps(http_api_v1.envelope(traces_to_ui(traces)), indent)
    expected_v3 = go_json.dumps(http_api_v3.traces_result(traces))
    async for session, base in serve(service):
        async with session.get(f"{base}/api/traces?service=svc&limit=30" + WINDOW + ("&prettyPrint=true" if pretty else "")) as r:
            assert r.status == 200 and "Content-Length" not in r.headers  # streamed
            assert await r.read() == expected_v1
        q = {"query.serviceName": "svc", "query.startTimeMin": "2023-01-01T00:00:00Z",
             "query.startTimeMax": "2024-01-01T00:00:00Z", "query.searchDepth": "30"}
        async with session.get(f"{base}/api/v3/traces", params=q) as r:
            assert r.status == 200 and "Content-Length" not in r.headers
            assert await r.read() == expected_v3


# -- item 2: the deadline ------------------------------------------------------------------


class SlowStore(MemoryStore):
    """A store on a slow disk: every trace lookup takes ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.lookups = 0

    def get_trace(self, trace_id: int, start_time_ns: int = 0, end_time_ns: int = 0) -> list[Span]:
        self.lookups += 1
        time.sleep(self.delay)
        return super().get_trace(trace_id, start_time_ns, end_time_ns)


def slow_store(delay: float = 0.02, traces: int = 400) -> SlowStore:
    store = SlowStore(delay)
    for i in range(traces):
        store.write_spans(trace_spans(i)[:1])
    return store


async def test_a_slow_search_answers_503_at_the_deadline_and_its_work_stops() -> None:
    store = slow_store()  # 400 lookups x 20 ms: 8 s without a deadline
    service = QueryService(store, store, limits=QueryLimits(timeout_s=0.3))
    async for session, base in serve(service):
        started = time.monotonic()
        async with session.get(f"{base}/api/traces?service=svc&limit=400" + WINDOW) as r:
            text = await r.text()
            assert r.status == 503, text
        assert time.monotonic() - started < 3
        assert json.loads(text)["errors"][0] == {"code": 503, "msg": "query exceeded the deadline of 0.3s (--query.timeout)"}
        q = {"query.serviceName": "svc", "query.startTimeMin": "2023-01-01T00:00:00Z",
             "query.startTimeMax": "2024-01-01T00:00:00Z", "query.searchDepth": "400"}
        async with session.get(f"{base}/api/v3/traces", params=q) as r:  # Jaeger's gateway error shape
            assert r.status == 503
            assert json.loads(await r.text())["error"]["httpCode"] == 503
        await asyncio.sleep(0.3)
        stopped_at = store.lookups
        await asyncio.sleep(0.3)
        assert store.lookups == stopped_at < 100  # the worker gave up, not just the request
        assert service.runner.metrics.refused.labels("timeout")._value.get() == 2


async def test_grpc_answers_deadline_exceeded() -> None:
    store = slow_store()
    service = QueryService(store, store, limits=QueryLimits(timeout_s=0.3))
    server = GrpcServer("query", "127.0.0.1", 0, [lambda s: grpc_api_v2.register(s, service),
                                                  lambda s: grpc_api_v3.register(s, service)],
                        [*grpc_api_v2.SERVICE_NAMES, *grpc_api_v3.SERVICE_NAMES])
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            request = query_pb2.FindTracesRequest(query=query_pb2.TraceQueryParameters(service_name="svc", search_depth=400))
            with pytest.raises(grpc.aio.AioRpcError) as info:
                async for _ in query_pb2_grpc.QueryServiceStub(channel).FindTraces(request, timeout=10):
                    pass
            assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert "--query.timeout" in info.value.details()
    finally:
        await server.stop()
        service.close()


def expired() -> Deadline:
    deadline = Deadline(60)
    deadline.cancel()
    return deadline


def test_storage_readers_stop_at_an_expired_deadline(filled: Any) -> None:
    reader, deps = filled.trace_reader(), filled.dependency_reader()
    query = TraceQuery(service_name="svc", num_traces=1_000_000)
    assert len(reader.find_trace_ids(query)) == TRACES  # no deadline: not interrupted
    with running_under(expired()):
        with pytest.raises(QueryTimeout):
            reader.find_trace_ids(query)
        with pytest.raises(QueryTimeout):
            deps.get_dependencies(T0 + 10 * 1000 * MS, 10 * 1000 * MS)


def test_sqlite_dependencies_are_interrupted_inside_the_statement(tmp_path: Any) -> None:
    factory = storage_backends()["sqlite"](tmp_path)
    try:
        fill(factory.span_writer())

        class ExpiresWhenAsked(Deadline):
            """Not yet expired when the reader starts; expired at SQLite's first progress call."""

            asked = 0

            def expired(self) -> bool:
                ExpiresWhenAsked.asked += 1
                return ExpiresWhenAsked.asked > 1

        with running_under(ExpiresWhenAsked(60)):
            with pytest.raises(QueryTimeout):
                factory.dependency_reader().get_dependencies(T0 + 10 * 1000 * MS, 10 * 1000 * MS)
        assert ExpiresWhenAsked.asked >= 2
    finally:
        factory.close()


# -- item 3: admission -----------------------------------------------------------------------


async def test_beyond_the_waiting_line_requests_get_503_with_retry_after() -> None:
    store = slow_store(delay=0.5, traces=2)
    service = QueryService(store, store, limits=QueryLimits(max_concurrent=1, max_queued=1))
    async for session, base in serve(service):
        async def search() -> tuple[int, Any, str]:
            async with session.get(f"{base}/api/traces?service=svc&limit=1" + WINDOW) as r:
                return r.status, r.headers, await r.text()

        running = asyncio.ensure_future(search())
        await asyncio.sleep(0.1)
        waiting = asyncio.ensure_future(search())
        await asyncio.sleep(0.1)
        status, headers, text = await search()
        assert status == 503 and headers["Retry-After"] == "1" and "--query.max-queued" in text
        assert service.runner.metrics.refused.labels("busy")._value.get() == 1
        assert (await running)[0] == 200 and (await waiting)[0] == 200
        async with session.get(f"{base}/api/services") as r:  # cheap lookups skip the line
            assert r.status == 200


# -- item 7: time windows beyond the storable range ------------------------------------------


async def test_year_1_to_9999_windows_are_clamped_not_500(filled: Any) -> None:
    service = QueryService(filled.trace_reader(), filled.dependency_reader())
    async for session, base in serve(service):
        q = {"query.serviceName": "svc", "query.startTimeMin": "0001-01-01T00:00:00Z",
             "query.startTimeMax": "9999-12-31T23:59:59Z", "query.searchDepth": "5"}
        for path in ("/api/v3/traces", "/api/v3/trace-summaries"):
            async with session.get(base + path, params=q) as r:
                assert r.status == 200, await r.text()
        async with session.get(f"{base}/api/v3/traces/1", params={"startTime": "0001-01-01T00:00:00Z",
                                                                  "endTime": "9999-12-31T23:59:59Z"}) as r:
            assert r.status == 200, await r.text()
        big = str((1 << 63) - 1)
        for path in (f"/api/dependencies?endTs={big}&lookback={big}", f"/api/traces?service=svc&start=0&end={big[:-3]}&limit=1"):
            async with session.get(base + path) as r:
                assert r.status == 200, (path, await r.text())

    service = QueryService(filled.trace_reader(), filled.dependency_reader())
    server = GrpcServer("query", "127.0.0.1", 0, [lambda s: grpc_api_v3.register(s, service)], grpc_api_v3.SERVICE_NAMES)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = v3grpc.QueryServiceStub(channel)
            params = v3pb.TraceQueryParameters(service_name="svc", search_depth=3,
                                               start_time_min=Timestamp(seconds=-62_135_596_799),
                                               start_time_max=Timestamp(seconds=253_402_300_799))
            found = [m async for m in stub.FindTraces(v3pb.FindTracesRequest(query=params), timeout=30)]
            assert len(found) == 3
            deps = await stub.GetDependencies(v3pb.GetDependenciesRequest(
                start_time=Timestamp(seconds=-62_135_596_799), end_time=Timestamp(seconds=253_402_300_799)), timeout=30)
            assert deps is not None
    finally:
        await server.stop()
        service.close()
