"""jaeger.api_v3.QueryService over gRPC: the generated client stub against a real
``GrpcServer`` on an OS-chosen port, serving a ``QueryService`` over a ``MemoryStore``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from spyglass.codecs.proto.jaeger.api_v3 import query_service_pb2 as pb, query_service_pb2_grpc as pb_grpc
from spyglass.model import KeyValue, Resource, Span, SpanKind, Status, StatusCode
from spyglass.query import grpc_api_v2, grpc_api_v3
from spyglass.query.service import QueryService
from spyglass.server import GrpcServer
from spyglass.storage.memory import MemoryStore

MS = 1_000_000
S = 1000 * MS
T0 = 1_700_000_000 * S
BIG_ID = (0xFEED << 64) | 0xBB  # a 128-bit trace with 25 spans


def make_store() -> MemoryStore:
    store = MemoryStore()
    front = Resource("frontend", [KeyValue("host", "web-1")])
    back = Resource("backend", [KeyValue("host", "db-1")])
    store.write_spans(
        [
            Span(0xA, 1, "GET /", T0, 100 * MS, front, kind=SpanKind.SERVER,
                 attributes=[KeyValue("b", 1), KeyValue("a", "x")]),
            Span(0xA, 2, "query", T0 + MS, 150 * MS, back, parent_span_id=1, kind=SpanKind.CLIENT,
                 status=Status(StatusCode.ERROR, "boom")),
            Span(0xA, 3, "cache", T0 + 2 * MS, MS, back, parent_span_id=99),  # orphan: parent 99 missing
            Span(0xB, 1, "GET /login", T0 + S, 5 * MS, front, kind=SpanKind.SERVER,
                 attributes=[KeyValue("user", "bob")]),
        ]
    )
    store.write_spans([Span(BIG_ID, i + 1, f"op-{i}", T0 + 3 * S + i * MS, MS, back, parent_span_id=i) for i in range(25)])
    return store


@dataclass
class Env:
    store: MemoryStore
    server: GrpcServer
    channel: grpc.aio.Channel
    stub: pb_grpc.QueryServiceStub


@pytest.fixture
async def env_factory() -> AsyncIterator:
    made: list[Env] = []

    async def make(store: MemoryStore | None = None) -> Env:
        store = store if store is not None else make_store()
        service = QueryService(store, store)
        # Both APIs on one server, as the all-in-one serves them on port 16685.
        server = GrpcServer(
            "query_grpc", "127.0.0.1", 0,
            [lambda srv: grpc_api_v2.register(srv, service), lambda srv: grpc_api_v3.register(srv, service)],
            [*grpc_api_v2.SERVICE_NAMES, *grpc_api_v3.SERVICE_NAMES],
        )
        await server.start()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
        env = Env(store, server, channel, pb_grpc.QueryServiceStub(channel))
        made.append(env)
        return env

    yield make
    for env in made:
        await env.channel.close()
        await env.server.stop()


@pytest.fixture
async def env(env_factory) -> Env:
    return await env_factory()


async def collect(call) -> list:
    return [msg async for msg in call]


async def expect_error(call, code: grpc.StatusCode, message: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        result = await call if not hasattr(call, "__aiter__") else await collect(call)
        pytest.fail(f"expected {code}, got {result}")
    assert info.value.code() == code, info.value.details()
    assert info.value.details() == message


def spans_of(traces_data) -> list:
    return [s for rs in traces_data.resource_spans for ss in rs.scope_spans for s in ss.spans]


def trace_id_of(traces_data) -> int:
    ids = {s.trace_id for s in spans_of(traces_data)}
    assert len(ids) == 1, "one TracesData per trace"
    return int.from_bytes(ids.pop(), "big")


# -- GetTrace -------------------------------------------------------------------------------


async def test_get_trace(env: Env) -> None:
    (td,) = await collect(env.stub.GetTrace(pb.GetTraceRequest(trace_id="a")))
    services = {rs.resource.attributes[0].value.string_value: rs for rs in td.resource_spans}
    assert set(services) == {"frontend", "backend"}
    spans = {s.span_id: s for s in spans_of(td)}
    assert set(spans) == {(i).to_bytes(8, "big") for i in (1, 2, 3)}
    root = spans[(1).to_bytes(8, "big")]
    assert root.trace_id == (0xA).to_bytes(16, "big")
    assert root.name == "GET /"
    assert root.kind == SpanKind.SERVER
    assert root.start_time_unix_nano == T0 and root.end_time_unix_nano == T0 + 100 * MS
    assert [a.key for a in root.attributes] == ["a", "b"]  # adjusted: sorted
    child = spans[(2).to_bytes(8, "big")]
    assert child.parent_span_id == (1).to_bytes(8, "big")
    assert (child.status.code, child.status.message) == (StatusCode.ERROR, "boom")


async def test_get_trace_raw_and_ids(env: Env) -> None:
    (td,) = await collect(env.stub.GetTrace(pb.GetTraceRequest(trace_id="000000000000000a", raw_traces=True)))
    root = next(s for s in spans_of(td) if s.name == "GET /")
    assert [a.key for a in root.attributes] == ["b", "a"]
    # a 128-bit ID, in full and with leading zeros; all 25 spans in one message
    for text in (format(BIG_ID, "032x"), format(BIG_ID, "x")):
        (td,) = await collect(env.stub.GetTrace(pb.GetTraceRequest(trace_id=text)))
        assert trace_id_of(td) == BIG_ID
        assert len(spans_of(td)) == 25


async def test_get_trace_with_time_window(env: Env) -> None:
    req = pb.GetTraceRequest(trace_id="b")
    req.start_time.FromNanoseconds(T0)
    req.end_time.FromNanoseconds(T0 + 10 * S)
    (td,) = await collect(env.stub.GetTrace(req))
    assert [s.name for s in spans_of(td)] == ["GET /login"]


async def test_get_trace_errors(env: Env) -> None:
    await expect_error(env.stub.GetTrace(pb.GetTraceRequest(trace_id="999")), grpc.StatusCode.NOT_FOUND, "trace not found")
    await expect_error(env.stub.GetTrace(pb.GetTraceRequest(trace_id="0")), grpc.StatusCode.NOT_FOUND, "trace not found")
    for bad in ("", "xyz", "0x1a", "1" * 33, "+1a", "1_0"):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await collect(env.stub.GetTrace(pb.GetTraceRequest(trace_id=bad)))
        assert info.value.code() == grpc.StatusCode.UNKNOWN, bad
        assert info.value.details().startswith("malform trace ID: "), info.value.details()


# -- FindTraces and FindTraceSummaries ------------------------------------------------------


def query(**fields) -> pb.TraceQueryParameters:
    q = pb.TraceQueryParameters()
    fields.setdefault("start_time_min", T0 - 10 * S)
    fields.setdefault("start_time_max", T0 + 10 * S)
    for key, value in fields.items():
        if key in ("start_time_min", "start_time_max", "duration_min", "duration_max"):
            if value is not None:
                getattr(q, key).FromNanoseconds(value)
        elif key == "attributes":
            q.attributes.update(value)
        else:
            setattr(q, key, value)
    return q


async def found(env: Env, **fields) -> list[int]:
    return [trace_id_of(td) for td in await collect(env.stub.FindTraces(pb.FindTracesRequest(query=query(**fields))))]


async def test_find_traces(env: Env) -> None:
    assert await found(env, service_name="frontend") == [0xB, 0xA]  # newest first, one message per trace
    assert await found(env, service_name="backend") == [BIG_ID, 0xA]
    assert await found(env, service_name="frontend", operation_name="GET /login") == [0xB]
    assert await found(env, service_name="frontend", attributes={"user": "bob"}) == [0xB]
    assert await found(env, attributes={"error": "true"}) == [0xA]  # no service: cross-service
    assert await found(env, service_name="backend", duration_min=100 * MS) == [0xA]
    assert await found(env, service_name="frontend", duration_max=50 * MS) == [0xB]
    assert await found(env, service_name="frontend", start_time_min=T0 + S // 2) == [0xB]
    assert await found(env, service_name="backend", search_depth=1) == [BIG_ID]
    assert await found(env, service_name="nobody") == []  # an empty stream, not an error


async def test_find_traces_whole_trace_and_raw(env: Env) -> None:
    (td,) = await collect(env.stub.FindTraces(pb.FindTracesRequest(query=query(service_name="backend", search_depth=1))))
    assert len(spans_of(td)) == 25
    (td,) = await collect(env.stub.FindTraces(pb.FindTracesRequest(query=query(operation_name="GET /", raw_traces=True))))
    root = next(s for s in spans_of(td) if s.name == "GET /")
    assert [a.key for a in root.attributes] == ["b", "a"]


async def test_search_depth_defaults_to_100(env_factory) -> None:
    store = MemoryStore()
    store.write_spans([Span(i + 1, 1, "op", T0 + i, MS, Resource("many")) for i in range(120)])
    env = await env_factory(store)
    for depth in (0, -5):
        assert len(await found(env, service_name="many", search_depth=depth)) == 100
    assert len(await found(env, service_name="many", search_depth=110)) == 110


@pytest.mark.parametrize("rpc", ["FindTraces", "FindTraceSummaries"])
async def test_search_errors(env: Env, rpc: str) -> None:
    call = getattr(env.stub, rpc)
    request = pb.FindTracesRequest if rpc == "FindTraces" else pb.FindTraceSummariesRequest
    await expect_error(call(request()), grpc.StatusCode.INVALID_ARGUMENT, "missing query")
    required = "start time min and max are required parameters"
    await expect_error(call(request(query=query(start_time_min=None))), grpc.StatusCode.INVALID_ARGUMENT, required)
    await expect_error(call(request(query=query(start_time_max=None))), grpc.StatusCode.INVALID_ARGUMENT, required)
    await expect_error(
        call(request(query=query(start_time_min=T0 + S, start_time_max=T0))),
        grpc.StatusCode.INVALID_ARGUMENT, "start_time_min must be before start_time_max",
    )


async def test_find_trace_summaries(env: Env) -> None:
    responses = await collect(env.stub.FindTraceSummaries(pb.FindTraceSummariesRequest(query=query(service_name="backend"))))
    summaries = [s for r in responses for s in r.summaries]
    assert [s.trace_id for s in summaries] == [format(BIG_ID, "032x"), format(0xA, "032x")]
    big, a = summaries
    assert (big.root_service_name, big.root_operation_name, big.span_count) == ("backend", "op-0", 25)
    assert big.min_start_time_unix_nano == T0 + 3 * S
    assert big.max_end_time_unix_nano == T0 + 3 * S + 25 * MS
    assert (a.root_service_name, a.root_operation_name) == ("frontend", "GET /")
    assert a.min_start_time_unix_nano == T0
    assert a.max_end_time_unix_nano == T0 + 151 * MS
    assert (a.span_count, a.error_span_count, a.orphan_span_count) == (3, 1, 1)
    assert [(s.name, s.span_count, s.error_span_count) for s in a.services] == [("backend", 2, 1), ("frontend", 1, 0)]
    assert await collect(env.stub.FindTraceSummaries(pb.FindTraceSummariesRequest(query=query(service_name="x")))) == []


async def test_find_trace_summaries_come_in_batches(env_factory) -> None:
    store = MemoryStore()
    store.write_spans([Span(i + 1, 1, "op", T0 + i, MS, Resource("many")) for i in range(150)])
    env = await env_factory(store)
    req = pb.FindTraceSummariesRequest(query=query(service_name="many", search_depth=150))
    responses = await collect(env.stub.FindTraceSummaries(req))
    assert [len(r.summaries) for r in responses] == [100, 50]
    assert [int(s.trace_id, 16) for r in responses for s in r.summaries] == list(range(150, 0, -1))


# -- services, operations, dependencies ----------------------------------------------------


async def test_get_services(env: Env) -> None:
    assert list((await env.stub.GetServices(pb.GetServicesRequest())).services) == ["backend", "frontend"]


async def test_get_operations(env: Env) -> None:
    ops = (await env.stub.GetOperations(pb.GetOperationsRequest(service="backend"))).operations
    # over gRPC an unspecified kind stays "" (the HTTP gateway reports it as "internal")
    op_names = sorted(f"op-{i}" for i in range(25))  # sorted as text: op-0, op-1, op-10, ...
    assert [(o.name, o.span_kind) for o in ops] == [("cache", ""), *[(n, "") for n in op_names], ("query", "client")]
    ops = (await env.stub.GetOperations(pb.GetOperationsRequest(service="backend", span_kind="client"))).operations
    assert [(o.name, o.span_kind) for o in ops] == [("query", "client")]
    assert list((await env.stub.GetOperations(pb.GetOperationsRequest(service="nobody"))).operations) == []


def deps_request(start_ns: int | None, end_ns: int | None) -> pb.GetDependenciesRequest:
    req = pb.GetDependenciesRequest()
    if start_ns is not None:
        req.start_time.FromNanoseconds(start_ns)
    if end_ns is not None:
        req.end_time.FromNanoseconds(end_ns)
    return req


async def test_get_dependencies(env: Env) -> None:
    deps = (await env.stub.GetDependencies(deps_request(T0 - S, T0 + S // 2))).dependencies
    assert [(d.parent, d.child, d.call_count) for d in deps] == [("frontend", "backend", 1)]
    assert list((await env.stub.GetDependencies(deps_request(T0 - 10 * S, T0 - S))).dependencies) == []


async def test_get_dependencies_errors(env: Env) -> None:
    required = "start_time and end_time are required"
    for req in (deps_request(None, T0), deps_request(T0, None), pb.GetDependenciesRequest()):
        await expect_error(env.stub.GetDependencies(req), grpc.StatusCode.INVALID_ARGUMENT, required)
    await expect_error(env.stub.GetDependencies(deps_request(T0 + S, T0)),
                       grpc.StatusCode.INVALID_ARGUMENT, "end_time must be after start_time")


# -- storage failures -----------------------------------------------------------------------


class BrokenStore(MemoryStore):
    """A store whose disk is gone: every read fails."""

    def _fail(self, *args: object) -> list:
        raise OSError("disk on fire")

    get_trace = find_traces = find_trace_ids = get_services = get_operations = get_dependencies = _fail


async def test_storage_errors_are_internal(env_factory) -> None:
    env = await env_factory(BrokenStore())
    cases = [
        (env.stub.GetTrace(pb.GetTraceRequest(trace_id="1")), "failed to fetch trace"),
        (env.stub.FindTraces(pb.FindTracesRequest(query=query())), "failed when searching for traces"),
        (env.stub.FindTraceSummaries(pb.FindTraceSummariesRequest(query=query())), "failed when searching for traces"),
        (env.stub.GetServices(pb.GetServicesRequest()), "failed to fetch services"),
        (env.stub.GetOperations(pb.GetOperationsRequest(service="x")), "failed to fetch operations"),
        (env.stub.GetDependencies(deps_request(T0, T0 + S)), "failed to fetch dependencies"),
    ]
    for call, prefix in cases:
        await expect_error(call, grpc.StatusCode.INTERNAL, f"{prefix}: disk on fire")


# -- health and reflection ------------------------------------------------------------------


async def test_health_and_reflection(env: Env) -> None:
    health = health_pb2_grpc.HealthStub(env.channel)
    for name in (grpc_api_v3.SERVICE, grpc_api_v2.SERVICE, ""):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=name))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING

    call = reflection_pb2_grpc.ServerReflectionStub(env.channel).ServerReflectionInfo()
    await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
    await call.write(reflection_pb2.ServerReflectionRequest(file_containing_symbol=grpc_api_v3.SERVICE))
    await call.done_writing()
    listed = await call.read()
    assert {grpc_api_v2.SERVICE, grpc_api_v3.SERVICE} <= {s.name for s in listed.list_services_response.service}
    found = await call.read()
    files = [descriptor_pb2.FileDescriptorProto.FromString(b) for b in found.file_descriptor_response.file_descriptor_proto]
    methods = {m.name for f in files if f.package == "jaeger.api_v3" for s in f.service for m in s.method}
    assert methods == {"GetTrace", "FindTraces", "GetServices", "GetOperations", "GetDependencies", "FindTraceSummaries"}
    # the OTLP trace proto the responses use is served too (a client needs it to decode them)
    assert "opentelemetry/proto/trace/v1/trace.proto" in {f.name for f in files}
