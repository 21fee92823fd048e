"""Jaeger's api_v2 query gRPC service (``jaeger.api_v2.QueryService``, port 16685; spec B.3).

Clients written against Jaeger v1's query service read traces through this API. Every
RPC is a thin layer over ``QueryService`` so it answers exactly like the HTTP APIs; what
is specific here is Jaeger's gRPC contract:

* ``GetTrace`` and ``FindTraces`` stream ``SpansResponseChunk`` messages of at most
  ``MAX_SPANS_PER_CHUNK`` (10) spans, each span with its process embedded; a trace is
  never split across two chunks with another trace's spans. A search that finds nothing
  sends no message at all.
* Errors use Jaeger's codes and texts: ``NOT_FOUND`` "trace not found: trace not found",
  ``INVALID_ARGUMENT`` for an uninitialized (all-zero or absent) trace ID, a request
  without a query and dependency times that are not set, ``INTERNAL`` for everything the
  storage raises; ``DEADLINE_EXCEEDED`` past ``--query.timeout`` and ``RESOURCE_EXHAUSTED``
  when ``--query.max-queued`` requests already wait. A trace ID of a length other than 16 (or 8, a 64-bit ID) bytes is
  ``INVALID_ARGUMENT`` too (Jaeger fails to unmarshal such a request).
* ``GetOperations`` fills both the deprecated ``operationNames`` (unique names, sorted
  here; Jaeger's order is a Go map's) and ``operations`` (name and span kind).

Span chunks are encoded one at a time as gRPC asks for the next message, so a 10,000-span
trace never sits in memory twice and does not stall other requests on the same server.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

import grpc

from spyglass.codecs.jaeger_proto import spans_to_proto
from spyglass.codecs.proto.jaeger.api_v2 import query_pb2, query_pb2_grpc
from spyglass.model import Span
from spyglass.query.limits import QueryBusy, QueryTimeout
from spyglass.query.service import QueryService, TraceNotFoundError
from spyglass.storage.api import TraceQuery
from spyglass.storage.api.health import StorageUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

SERVICE = "jaeger.api_v2.QueryService"
SERVICE_NAMES = (SERVICE,)

MAX_SPANS_PER_CHUNK = 10  # Jaeger's maxSpanCountInChunk
MSG_TRACE_NOT_FOUND = "trace not found"

# Go's zero time.Time (0001-01-01T00:00:00Z) as a protobuf Timestamp: what a Go client sends
# for a time it never set, so it counts as "not set" just like an absent field.
_GO_ZERO_TIME_SECONDS = -62_135_596_800
_NS = 1_000_000_000


# -- protobuf well-known types -> nanoseconds (shared with grpc_api_v3) ---------------------


def timestamp_ns(parent: object, field: str) -> int:
    """The Timestamp ``parent.field`` in Unix nanoseconds; 0 when it is absent or Go's zero
    time (Jaeger treats both as "not set")."""
    if not parent.HasField(field):  # type: ignore[attr-defined]
        return 0
    ts = getattr(parent, field)
    if ts.seconds == _GO_ZERO_TIME_SECONDS and ts.nanos == 0:
        return 0
    return ts.seconds * _NS + ts.nanos


def duration_ns(parent: object, field: str) -> int:
    """The Duration ``parent.field`` in nanoseconds; 0 (unbounded) when absent."""
    if not parent.HasField(field):  # type: ignore[attr-defined]
        return 0
    d = getattr(parent, field)
    return d.seconds * _NS + d.nanos


async def abort_if_limited(context: grpc.aio.ServicerContext, e: Exception) -> None:
    """End the call with ``DEADLINE_EXCEEDED`` for a query past its deadline, with
    ``RESOURCE_EXHAUSTED`` when the query limit refused it (``spyglass.query.limits``) and
    with ``UNAVAILABLE`` when storage is (a ClickHouse server or shard down: the client may
    retry); return for any other error."""
    if isinstance(e, QueryTimeout):
        await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, str(e))
    if isinstance(e, QueryBusy):
        await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(e))
    if isinstance(e, StorageUnavailable):
        log.error("gRPC handler, storage unavailable: %s", e)
        await context.abort(grpc.StatusCode.UNAVAILABLE, str(e))


async def answer(context: grpc.aio.ServicerContext, call: Awaitable[T], failure: str,
                 not_found: Callable[[TraceNotFoundError], str] | None = None) -> T:
    """``await call``, or end the RPC for its error, the same way in every handler of both
    query APIs: ``NOT_FOUND`` with ``not_found(error)`` for a missing trace (when given),
    the codes of ``abort_if_limited`` for what a client can act on (deadline, query limit,
    storage down), else ``INTERNAL`` with ``failure`` and the error, logged with its traceback."""
    try:
        return await call
    except Exception as e:
        if not_found is not None and isinstance(e, TraceNotFoundError):
            await context.abort(grpc.StatusCode.NOT_FOUND, not_found(e))
        await abort_if_limited(context, e)
        log.error(failure, exc_info=e)
        await context.abort(grpc.StatusCode.INTERNAL, f"{failure}: {e}")
    raise AssertionError("context.abort returned")  # it raises; this tells type checkers


def _not_found(error: TraceNotFoundError) -> str:
    """api_v2's NOT_FOUND message: Jaeger's words and the storage's reason."""
    return f"{MSG_TRACE_NOT_FOUND}: {error}"


def _trace_id(raw: bytes) -> int | None:
    """A trace ID from its 16 (or, for a 64-bit ID, 8) big-endian bytes; None when the
    length is wrong. Zero means uninitialized."""
    if len(raw) in (16, 8):
        return int.from_bytes(raw, "big")
    if not raw:
        return 0
    return None


async def _stream_chunks(spans: Sequence[Span]) -> AsyncIterator[query_pb2.SpansResponseChunk]:
    """``spans`` as chunks of at most ``MAX_SPANS_PER_CHUNK`` spans, encoded one at a time."""
    for i in range(0, len(spans), MAX_SPANS_PER_CHUNK):
        chunk = query_pb2.SpansResponseChunk()
        chunk.spans.extend(spans_to_proto(spans[i : i + MAX_SPANS_PER_CHUNK]))
        yield chunk


class QueryServicer(query_pb2_grpc.QueryServiceServicer):
    """``jaeger.api_v2.QueryService`` over a ``QueryService``."""

    def __init__(self, service: QueryService) -> None:
        self.service = service

    async def _service_for(self, context: grpc.aio.ServicerContext) -> QueryService:
        """The service over the stores of the call's tenant (metadata, ``spyglass.tenancy``)."""
        from spyglass.tenancy import rpc as tenancy_rpc

        return self.service.for_tenant(await tenancy_rpc.tenant_of(self.service.tenancy, context, "query_grpc_v2"))

    async def _trace_id_or_abort(self, raw: bytes, context: grpc.aio.ServicerContext) -> int:
        trace_id = _trace_id(raw)
        if trace_id is None:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"trace ID must be 16 bytes (or 8 for a 64-bit ID), got {len(raw)}"
            )
        if trace_id == 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "uninitialized TraceID is not allowed")
        return trace_id  # type: ignore[return-value]

    async def GetTrace(
        self, request: query_pb2.GetTraceRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[query_pb2.SpansResponseChunk]:
        service = await self._service_for(context)
        trace_id = await self._trace_id_or_abort(request.trace_id, context)
        trace = await answer(context, service.get_trace(trace_id, raw=request.raw_traces,
                                                        start_ns=timestamp_ns(request, "start_time"),
                                                        end_ns=timestamp_ns(request, "end_time")),
                             "failed to fetch spans from the backend", _not_found)
        async for chunk in _stream_chunks(trace.spans):
            yield chunk

    async def ArchiveTrace(
        self, request: query_pb2.ArchiveTraceRequest, context: grpc.aio.ServicerContext
    ) -> query_pb2.ArchiveTraceResponse:
        service = await self._service_for(context)
        trace_id = await self._trace_id_or_abort(request.trace_id, context)
        await answer(context, service.archive_trace(trace_id, timestamp_ns(request, "start_time"),
                                                    timestamp_ns(request, "end_time")),
                     "failed to archive trace", _not_found)
        return query_pb2.ArchiveTraceResponse()

    async def FindTraces(
        self, request: query_pb2.FindTracesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[query_pb2.SpansResponseChunk]:
        service = await self._service_for(context)
        if not request.HasField("query"):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "missing query")
        q = request.query
        query = TraceQuery(
            service_name=q.service_name,
            operation_name=q.operation_name,
            attributes=dict(q.tags),
            start_time_min_ns=timestamp_ns(q, "start_time_min"),
            start_time_max_ns=timestamp_ns(q, "start_time_max"),
            duration_min_ns=duration_ns(q, "duration_min"),
            duration_max_ns=duration_ns(q, "duration_max"),
            num_traces=q.search_depth,  # <= 0: the service's default depth
        )
        traces = await answer(context, service.find_traces(query, raw=q.raw_traces), "failed when searching for traces")
        for trace in traces:
            async for chunk in _stream_chunks(trace.spans):
                yield chunk

    async def GetServices(
        self, request: query_pb2.GetServicesRequest, context: grpc.aio.ServicerContext
    ) -> query_pb2.GetServicesResponse:
        service = await self._service_for(context)
        services = await answer(context, service.get_services(), "failed to fetch services")
        response = query_pb2.GetServicesResponse()
        response.services.extend(services)
        return response

    async def GetOperations(
        self, request: query_pb2.GetOperationsRequest, context: grpc.aio.ServicerContext
    ) -> query_pb2.GetOperationsResponse:
        service = await self._service_for(context)
        operations = await answer(context, service.get_operations(request.service, request.span_kind),
                                  "failed to fetch operations")
        response = query_pb2.GetOperationsResponse()
        response.operationNames.extend(sorted({op.name for op in operations}))
        for op in operations:
            item = response.operations.add()
            item.name = op.name
            item.span_kind = op.span_kind
        return response

    async def GetDependencies(
        self, request: query_pb2.GetDependenciesRequest, context: grpc.aio.ServicerContext
    ) -> query_pb2.GetDependenciesResponse:
        service = await self._service_for(context)
        start = timestamp_ns(request, "start_time")
        end = timestamp_ns(request, "end_time")
        if not start or not end:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "StartTime and EndTime must be initialized.")
        links = await answer(context, service.get_dependencies(end, end - start), "failed to fetch dependencies")
        response = query_pb2.GetDependenciesResponse()
        for link in links:
            dep = response.dependencies.add()
            dep.parent = link.parent
            dep.child = link.child
            dep.call_count = link.call_count
            if link.source:
                dep.source = link.source
        return response


def register(server: grpc.aio.Server, service: QueryService) -> None:
    """Add ``jaeger.api_v2.QueryService`` to ``server`` (before it starts)."""
    query_pb2_grpc.add_QueryServiceServicer_to_server(QueryServicer(service), server)
