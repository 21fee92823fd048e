"""jaeger.api_v2.QueryService over gRPC: the generated client stub against a real
``GrpcServer`` on an OS-chosen port, serving a ``QueryService`` over a ``MemoryStore``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from spyglass.codecs.proto.jaeger.api_v2 import query_pb2, query_pb2_grpc
from spyglass.model import Event, KeyValue, Resource, Span, SpanKind, Status, StatusCode
from spyglass.query import grpc_api_v2
from spyglass.query.service import QueryService
from spyglass.server import GrpcServer
from spyglass.storage.memory import MemoryStore

MS = 1_000_000
S = 1000 * MS
T0 = 1_700_000_000 * S
BIG = 25  # spans in the big trace: chunks of 10, 10 and 5


def make_store() -> MemoryStore:
    store = MemoryStore()
    front = Resource("frontend", [KeyValue("host", "web-1")])
    back = Resource("backend", [KeyValue("host", "db-1")])
    store.write_spans(
        [
            Span(0xA, 1, "GET /", T0, 100 * MS, front, kind=SpanKind.SERVER,
                 attributes=[KeyValue("b", 1), KeyValue("a", "x")]),
            Span(0xA, 2, "query", T0 + MS, 50 * MS, back, parent_span_id=1, kind=SpanKind.CLIENT,
                 status=Status(StatusCode.ERROR), events=[Event(T0 + 2 * MS, "retry", [KeyValue("n", 2)])]),
            Span(0xB, 1, "GET /login", T0 + S, 5 * MS, front, kind=SpanKind.SERVER,
                 attributes=[KeyValue("user", "bob")]),
            # a 128-bit trace
            Span((0x1234 << 64) | 0xC, 7, "cron", T0 + 2 * S, 1 * MS, back),
        ]
    )
    store.write_spans(
        [Span(0xBB, i + 1, f"op-{i}", T0 + 3 * S + i * MS, MS, back, parent_span_id=i) for i in range(BIG)]
    )
    return store


@dataclass
class Env:
    store: MemoryStore
    archive: MemoryStore | None
    server: GrpcServer
    channel: grpc.aio.Channel
    stub: query_pb2_grpc.QueryServiceStub


@pytest.fixture
async def env_factory() -> AsyncIterator:
    made: list[Env] = []

    async def make(store: MemoryStore | None = None, with_archive: bool = True) -> Env:
        store = store if store is not None else make_store()
        archive = MemoryStore() if with_archive else None
        service = QueryService(store, store, archive_reader=archive, archive_writer=archive)
        server = GrpcServer(
            "query_grpc", "127.0.0.1", 0, [lambda srv: grpc_api_v2.register(srv, service)], grpc_api_v2.SERVICE_NAMES
        )
        await server.start()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
        env = Env(store, archive, server, channel, query_pb2_grpc.QueryServiceStub(channel))
        made.append(env)
        return env

    yield make
    for env in made:
        await env.channel.close()
        await env.server.stop()


@pytest.fixture
async def env(env_factory) -> Env:
    return await env_factory()


def tid(trace_id: int) -> bytes:
    return trace_id.to_bytes(16, "big")


def span_ids(chunk: query_pb2.SpansResponseChunk) -> list[int]:
    return [int.from_bytes(s.span_id, "big") for s in chunk.spans]


async def collect(call) -> list[query_pb2.SpansResponseChunk]:
    return [chunk async for chunk in call]


async def expect_error(call, code: grpc.StatusCode, message: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        result = await call if not hasattr(call, "__aiter__") else await collect(call)
        pytest.fail(f"expected {code}, got {result}")
    assert info.value.code() == code, info.value.details()
    assert info.value.details() == message


# -- GetTrace -------------------------------------------------------------------------------


async def test_get_trace_chunks_of_ten(env: Env) -> None:
    chunks = await collect(env.stub.GetTrace(query_pb2.GetTraceRequest(trace_id=tid(0xBB))))
    assert [len(c.spans) for c in chunks] == [10, 10, 5]
    assert [i for c in chunks for i in span_ids(c)] == list(range(1, BIG + 1))
    first = chunks[0].spans[0]
    assert first.trace_id == tid(0xBB)
    assert first.operation_name == "op-0"
    assert first.process.service_name == "backend"  # every span carries its process
    assert chunks[2].spans[-1].process.service_name == "backend"


async def test_get_trace_content(env: Env) -> None:
    (chunk,) = await collect(env.stub.GetTrace(query_pb2.GetTraceRequest(trace_id=tid(0xA))))
    root, child = chunk.spans
    assert root.operation_name == "GET /"
    assert root.start_time.seconds * S + root.start_time.nanos == T0
    assert root.duration.ToNanoseconds() == 100 * MS
    assert root.process.service_name == "frontend"
    assert [(t.key, t.v_str) for t in root.process.tags] == [("host", "web-1")]
    # adjusted: tags sorted by key (Jaeger's sort adjuster); span.kind carried as a tag
    assert [t.key for t in root.tags] == ["a", "b", "span.kind"]
    assert child.references[0].span_id == (1).to_bytes(8, "big")
    assert child.references[0].ref_type == 0  # CHILD_OF
    assert {t.key: t for t in child.tags}["error"].v_bool is True
    assert [f.key for f in child.logs[0].fields] == ["event", "n"]


async def test_get_trace_raw_skips_adjusters(env: Env) -> None:
    (chunk,) = await collect(env.stub.GetTrace(query_pb2.GetTraceRequest(trace_id=tid(0xA), raw_traces=True)))
    assert [t.key for t in chunk.spans[0].tags] == ["b", "a", "span.kind"]


async def test_get_trace_128_bit_and_64_bit_ids(env: Env) -> None:
    (chunk,) = await collect(env.stub.GetTrace(query_pb2.GetTraceRequest(trace_id=tid((0x1234 << 64) | 0xC))))
    assert chunk.spans[0].operation_name == "cron"
    # an 8-byte ID is the low half of a 64-bit trace ID
    (chunk,) = await collect(env.stub.GetTrace(query_pb2.GetTraceRequest(trace_id=(0xB).to_bytes(8, "big"))))
    assert chunk.spans[0].operation_name == "GET /login"


async def test_get_trace_with_time_window(env: Env) -> None:
    req = query_pb2.GetTraceRequest(trace_id=tid(0xB))
    req.start_time.FromNanoseconds(T0)
    req.end_time.FromNanoseconds(T0 + 10 * S)
    (chunk,) = await collect(env.stub.GetTrace(req))
    assert span_ids(chunk) == [1]


async def test_get_trace_errors(env: Env) -> None:
    await expect_error(env.stub.GetTrace(query_pb2.GetTraceRequest(trace_id=tid(0x999))),
                       grpc.StatusCode.NOT_FOUND, "trace not found: trace not found")
    await expect_error(env.stub.GetTrace(query_pb2.GetTraceRequest()),
                       grpc.StatusCode.INVALID_ARGUMENT, "uninitialized TraceID is not allowed")
    await expect_error(env.stub.GetTrace(query_pb2.GetTraceRequest(trace_id=bytes(16))),
                       grpc.StatusCode.INVALID_ARGUMENT, "uninitialized TraceID is not allowed")
    await expect_error(env.stub.GetTrace(query_pb2.GetTraceRequest(trace_id=b"\x01\x02\x03")),
                       grpc.StatusCode.INVALID_ARGUMENT, "trace ID must be 16 bytes (or 8 for a 64-bit ID), got 3")


# -- FindTraces -----------------------------------------------------------------------------


def find(**query) -> query_pb2.FindTracesRequest:
    req = query_pb2.FindTracesRequest()
    q = req.query
    q.SetInParent()
    for key, value in query.items():
        if key in ("start_time_min", "start_time_max", "duration_min", "duration_max"):
            getattr(q, key).FromNanoseconds(value)
        elif key == "tags":
            q.tags.update(value)
        else:
            setattr(q, key, value)
    return req


def traces_of(chunks: list[query_pb2.SpansResponseChunk]) -> list[tuple[int, list[int]]]:
    """(trace ID, span IDs) per chunk; every chunk holds spans of one trace."""
    out = []
    for c in chunks:
        ids = {int.from_bytes(s.trace_id, "big") for s in c.spans}
        assert len(ids) == 1, "a chunk mixes traces"
        out.append((ids.pop(), span_ids(c)))
    return out


async def test_find_traces_by_service(env: Env) -> None:
    chunks = await collect(env.stub.FindTraces(find(service_name="frontend")))
    # newest first; the whole trace comes back, backend span included
    assert traces_of(chunks) == [(0xB, [1]), (0xA, [1, 2])]


async def test_find_traces_streams_each_trace_in_chunks(env: Env) -> None:
    chunks = await collect(env.stub.FindTraces(find(service_name="backend")))
    got = traces_of(chunks)
    assert [t for t, _ in got] == [0xBB, 0xBB, 0xBB, (0x1234 << 64) | 0xC, 0xA]
    assert [len(ids) for _, ids in got] == [10, 10, 5, 1, 2]


async def test_find_traces_filters(env: Env) -> None:
    async def ids(**query) -> list[int]:
        # one entry per trace (a trace of more than 10 spans comes in several chunks)
        return list(dict.fromkeys(t for t, _ in traces_of(await collect(env.stub.FindTraces(find(**query))))))

    assert await ids(service_name="frontend", operation_name="GET /login") == [0xB]
    assert await ids(service_name="frontend", tags={"user": "bob"}) == [0xB]
    assert await ids(service_name="frontend", tags={"user": "alice"}) == []
    assert await ids(tags={"error": "true"}) == [0xA]  # no service: a cross-service search
    assert await ids(service_name="frontend", duration_min=50 * MS) == [0xA]
    assert await ids(service_name="frontend", duration_max=50 * MS) == [0xB]
    assert await ids(service_name="frontend", start_time_min=T0 + S // 2) == [0xB]
    assert await ids(service_name="frontend", start_time_min=T0, start_time_max=T0 + S // 2) == [0xA]
    assert await ids(service_name="backend", search_depth=2) == [0xBB, (0x1234 << 64) | 0xC]
    assert await ids(service_name="nobody") == []  # nothing found: an empty stream


async def test_find_traces_raw(env: Env) -> None:
    adjusted = await collect(env.stub.FindTraces(find(service_name="frontend", operation_name="GET /")))
    raw = await collect(env.stub.FindTraces(find(service_name="frontend", operation_name="GET /", raw_traces=True)))
    assert [t.key for t in adjusted[0].spans[0].tags] == ["a", "b", "span.kind"]
    assert [t.key for t in raw[0].spans[0].tags] == ["b", "a", "span.kind"]


async def test_find_traces_missing_query(env: Env) -> None:
    await expect_error(env.stub.FindTraces(query_pb2.FindTracesRequest()),
                       grpc.StatusCode.INVALID_ARGUMENT, "missing query")


# -- ArchiveTrace ---------------------------------------------------------------------------


async def test_archive_trace(env: Env) -> None:
    await env.stub.ArchiveTrace(query_pb2.ArchiveTraceRequest(trace_id=tid(0xA)))
    assert env.archive is not None
    assert [s.span_id for s in env.archive.get_trace(0xA)] == [1, 2]
    await expect_error(env.stub.ArchiveTrace(query_pb2.ArchiveTraceRequest(trace_id=tid(0x999))),
                       grpc.StatusCode.NOT_FOUND, "trace not found: trace not found")
    await expect_error(env.stub.ArchiveTrace(query_pb2.ArchiveTraceRequest()),
                       grpc.StatusCode.INVALID_ARGUMENT, "uninitialized TraceID is not allowed")


async def test_archived_trace_outlives_eviction(env_factory) -> None:
    store = MemoryStore(max_traces=1)
    store.write_spans([Span(0x77, 1, "old", T0, MS, Resource("svc"))])
    env = await env_factory(store)
    await env.stub.ArchiveTrace(query_pb2.ArchiveTraceRequest(trace_id=tid(0x77)))
    store.write_spans([Span(0x78, 1, "new", T0, MS, Resource("svc"))])  # evicts 0x77
    assert store.get_trace(0x77) == []
    (chunk,) = await collect(env.stub.GetTrace(query_pb2.GetTraceRequest(trace_id=tid(0x77))))
    assert chunk.spans[0].operation_name == "old"


async def test_archive_not_configured(env_factory) -> None:
    env = await env_factory(with_archive=False)
    await expect_error(env.stub.ArchiveTrace(query_pb2.ArchiveTraceRequest(trace_id=tid(0xA))),
                       grpc.StatusCode.INTERNAL, "failed to archive trace: archive span storage was not configured")


# -- services, operations, dependencies ----------------------------------------------------


async def test_get_services(env: Env) -> None:
    response = await env.stub.GetServices(query_pb2.GetServicesRequest())
    assert list(response.services) == ["backend", "frontend"]


async def test_get_operations(env: Env) -> None:
    env.store.write_spans([Span(0xD, 1, "GET /", T0, MS, Resource("frontend"), kind=SpanKind.CLIENT)])
    response = await env.stub.GetOperations(query_pb2.GetOperationsRequest(service="frontend"))
    assert [(op.name, op.span_kind) for op in response.operations] == [
        ("GET /", "client"), ("GET /", "server"), ("GET /login", "server")
    ]
    assert list(response.operationNames) == ["GET /", "GET /login"]  # unique names
    response = await env.stub.GetOperations(query_pb2.GetOperationsRequest(service="frontend", span_kind="client"))
    assert [(op.name, op.span_kind) for op in response.operations] == [("GET /", "client")]
    assert list(response.operationNames) == ["GET /"]
    response = await env.stub.GetOperations(query_pb2.GetOperationsRequest(service="backend", span_kind="client"))
    assert [(op.name, op.span_kind) for op in response.operations] == [("query", "client")]
    response = await env.stub.GetOperations(query_pb2.GetOperationsRequest(service="nobody"))
    assert list(response.operations) == [] and list(response.operationNames) == []


def deps_request(start_ns: int | None, end_ns: int | None) -> query_pb2.GetDependenciesRequest:
    req = query_pb2.GetDependenciesRequest()
    if start_ns is not None:
        req.start_time.FromNanoseconds(start_ns)
    if end_ns is not None:
        req.end_time.FromNanoseconds(end_ns)
    return req


async def test_get_dependencies(env: Env) -> None:
    response = await env.stub.GetDependencies(deps_request(T0 - S, T0 + 10 * S))
    assert [(d.parent, d.child, d.call_count) for d in response.dependencies] == [("frontend", "backend", 1)]
    # the window is [end - (end - start), end]: a window before the trace finds nothing
    response = await env.stub.GetDependencies(deps_request(T0 - 10 * S, T0 - S))
    assert list(response.dependencies) == []


async def test_get_dependencies_needs_both_times(env: Env) -> None:
    message = "StartTime and EndTime must be initialized."
    for req in (deps_request(None, T0), deps_request(T0, None), query_pb2.GetDependenciesRequest()):
        await expect_error(env.stub.GetDependencies(req), grpc.StatusCode.INVALID_ARGUMENT, message)
    go_zero = -62_135_596_800 * S  # Go's time.Time{} counts as unset
    await expect_error(env.stub.GetDependencies(deps_request(go_zero, T0)), grpc.StatusCode.INVALID_ARGUMENT, message)


# -- storage failures -----------------------------------------------------------------------


class BrokenStore(MemoryStore):
    """A store whose disk is gone: every read fails."""

    def _fail(self, *args: object) -> list:
        raise OSError("disk on fire")

    get_trace = find_traces = find_trace_ids = get_services = get_operations = get_dependencies = _fail


async def test_storage_errors_are_internal(env_factory) -> None:
    env = await env_factory(BrokenStore())
    cases = [
        (env.stub.GetTrace(query_pb2.GetTraceRequest(trace_id=tid(1))), "failed to fetch spans from the backend"),
        (env.stub.FindTraces(find(service_name="x")), "failed when searching for traces"),
        (env.stub.GetServices(query_pb2.GetServicesRequest()), "failed to fetch services"),
        (env.stub.GetOperations(query_pb2.GetOperationsRequest(service="x")), "failed to fetch operations"),
        (env.stub.GetDependencies(deps_request(T0, T0 + S)), "failed to fetch dependencies"),
        (env.stub.ArchiveTrace(query_pb2.ArchiveTraceRequest(trace_id=tid(1))), "failed to archive trace"),
    ]
    for call, prefix in cases:
        await expect_error(call, grpc.StatusCode.INTERNAL, f"{prefix}: disk on fire")


# -- health and reflection ------------------------------------------------------------------


async def test_health_and_reflection(env: Env) -> None:
    health = health_pb2_grpc.HealthStub(env.channel)
    reply = await health.Check(health_pb2.HealthCheckRequest(service=grpc_api_v2.SERVICE))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING

    reflection = reflection_pb2_grpc.ServerReflectionStub(env.channel)

    async def ask(**kw) -> reflection_pb2.ServerReflectionResponse:
        call = reflection.ServerReflectionInfo()
        await call.write(reflection_pb2.ServerReflectionRequest(**kw))
        await call.done_writing()
        return await call.read()

    listed = await ask(list_services="")
    assert grpc_api_v2.SERVICE in {s.name for s in listed.list_services_response.service}
    found = await ask(file_containing_symbol=grpc_api_v2.SERVICE)
    files = [descriptor_pb2.FileDescriptorProto.FromString(b) for b in found.file_descriptor_response.file_descriptor_proto]
    methods = {m.name for f in files for s in f.service if s.name == "QueryService" for m in s.method}
    assert methods == {"GetTrace", "ArchiveTrace", "FindTraces", "GetServices", "GetOperations", "GetDependencies"}
