"""Jaeger's api_v3 query gRPC service (``jaeger.api_v3.QueryService``, port 16685; spec B.1).

The OTLP-native query API: traces come back as ``opentelemetry.proto.trace.v1.TracesData``,
one message per trace, so a client can process a large search result as it streams in.
Like every query API it is a thin layer over ``QueryService``; the contract kept here is
Jaeger's ``grpc_handler.go`` as the spec's semantics table gives it:

=============================================  =============================================
case                                           answer
=============================================  =============================================
GetTrace, ID not 1-32 hex digits               ``UNKNOWN`` "malform trace ID: ..." (Jaeger
                                               returns a plain Go error, hence UNKNOWN)
GetTrace, no such trace                        ``NOT_FOUND`` "trace not found"
FindTraces/FindTraceSummaries without query    ``INVALID_ARGUMENT`` "missing query"
... start_time_min or start_time_max unset     ``INVALID_ARGUMENT``
... start_time_min after start_time_max        ``INVALID_ARGUMENT``
... search_depth <= 0                          searches ``DEFAULT_SEARCH_DEPTH`` (100) traces
GetDependencies without both times, or with    ``INVALID_ARGUMENT``; lookback = end - start
end before start
storage failures                               ``INTERNAL``
past ``--query.timeout``                       ``DEADLINE_EXCEEDED``
query slots and waiting line full              ``RESOURCE_EXHAUSTED``
=============================================  =============================================

A search that finds nothing ends the stream without a message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from spyglass.codecs.otlp_proto import encode_traces_data
from spyglass.codecs.proto.jaeger.api_v3 import query_service_pb2 as pb, query_service_pb2_grpc as pb_grpc
from spyglass.model import Span, parse_trace_id
from spyglass.query.grpc_api_v2 import answer, duration_ns, timestamp_ns
from spyglass.query.service import DEFAULT_SEARCH_DEPTH, QueryService
from spyglass.query.summaries import TraceSummary
from spyglass.storage.api import TraceQuery


SERVICE = "jaeger.api_v3.QueryService"
SERVICE_NAMES = (SERVICE,)

MSG_TRACE_NOT_FOUND = "trace not found"
SUMMARIES_PER_RESPONSE = 100
# Traces larger than this are encoded in a worker thread so the event loop keeps serving.
_THREAD_ENCODE_SPANS = 1_000


async def _traces_data(service: QueryService, spans: list[Span]) -> Any:
    if len(spans) > _THREAD_ENCODE_SPANS:
        return await service.render(encode_traces_data, spans)
    return encode_traces_data(spans)


def _fill_summary(target: Any, summary: TraceSummary) -> None:
    target.trace_id = format(summary.trace_id, "032x")
    target.root_service_name = summary.root_service_name
    target.root_operation_name = summary.root_operation_name
    target.min_start_time_unix_nano = summary.min_start_time_ns
    target.max_end_time_unix_nano = summary.max_end_time_ns
    target.span_count = summary.span_count
    target.error_span_count = summary.error_span_count
    target.orphan_span_count = summary.orphan_span_count
    for s in summary.services:  # already sorted by name
        item = target.services.add()
        item.name = s.name
        item.span_count = s.span_count
        item.error_span_count = s.error_span_count


class QueryServicer(pb_grpc.QueryServiceServicer):
    """``jaeger.api_v3.QueryService`` over a ``QueryService``."""

    def __init__(self, service: QueryService) -> None:
        self.service = service

    async def _service_for(self, context: grpc.aio.ServicerContext) -> QueryService:
        """The service over the stores of the call's tenant (metadata, ``spyglass.tenancy``)."""
        from spyglass.tenancy import rpc as tenancy_rpc

        return self.service.for_tenant(await tenancy_rpc.tenant_of(self.service.tenancy, context, "query_grpc_v3"))

    async def _trace_query(self, request: Any, context: grpc.aio.ServicerContext) -> tuple[TraceQuery, bool]:
        """The storage query of a FindTraces/FindTraceSummaries request and its raw flag;
        aborts the call when the request is invalid."""
        if not request.HasField("query"):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "missing query")
        q = request.query
        start_min = timestamp_ns(q, "start_time_min")
        start_max = timestamp_ns(q, "start_time_max")
        if not start_min or not start_max:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "start time min and max are required parameters"
            )
        if start_min > start_max:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "start_time_min must be before start_time_max")
        query = TraceQuery(
            service_name=q.service_name,
            operation_name=q.operation_name,
            attributes=dict(q.attributes),
            start_time_min_ns=start_min,
            start_time_max_ns=start_max,
            duration_min_ns=duration_ns(q, "duration_min"),
            duration_max_ns=duration_ns(q, "duration_max"),
            num_traces=q.search_depth if q.search_depth > 0 else DEFAULT_SEARCH_DEPTH,
        )
        return query, q.raw_traces

    async def GetTrace(self, request: pb.GetTraceRequest, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        service = await self._service_for(context)
        try:
            trace_id = parse_trace_id(request.trace_id)
        except ValueError as e:
            await context.abort(grpc.StatusCode.UNKNOWN, f"malform trace ID: {e}")
        trace = await answer(context, service.get_trace(trace_id, raw=request.raw_traces,
                                                        start_ns=timestamp_ns(request, "start_time"),
                                                        end_ns=timestamp_ns(request, "end_time")),
                             "failed to fetch trace", lambda _: MSG_TRACE_NOT_FOUND)
        yield await _traces_data(service, trace.spans)

    async def FindTraces(self, request: pb.FindTracesRequest, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        service = await self._service_for(context)
        query, raw = await self._trace_query(request, context)
        traces = await answer(context, service.find_traces(query, raw=raw), "failed when searching for traces")
        for trace in traces:
            yield await _traces_data(service, trace.spans)

    async def FindTraceSummaries(
        self, request: pb.FindTraceSummariesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.FindTraceSummariesResponse]:
        service = await self._service_for(context)
        query, _ = await self._trace_query(request, context)  # summaries are of adjusted traces
        summaries = await answer(context, service.find_trace_summaries(query), "failed when searching for traces")
        for i in range(0, len(summaries), SUMMARIES_PER_RESPONSE):
            response = pb.FindTraceSummariesResponse()
            for summary in summaries[i : i + SUMMARIES_PER_RESPONSE]:
                _fill_summary(response.summaries.add(), summary)
            yield response

    async def GetServices(
        self, request: pb.GetServicesRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetServicesResponse:
        service = await self._service_for(context)
        services = await answer(context, service.get_services(), "failed to fetch services")
        response = pb.GetServicesResponse()
        response.services.extend(services)
        return response

    async def GetOperations(
        self, request: pb.GetOperationsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetOperationsResponse:
        service = await self._service_for(context)
        operations = await answer(context, service.get_operations(request.service, request.span_kind),
                                  "failed to fetch operations")
        response = pb.GetOperationsResponse()
        for op in operations:
            item = response.operations.add()
            item.name = op.name
            item.span_kind = op.span_kind
        return response

    async def GetDependencies(
        self, request: pb.GetDependenciesRequest, context: grpc.aio.ServicerContext
    ) -> pb.DependenciesResponse:
        service = await self._service_for(context)
        start = timestamp_ns(request, "start_time")
        end = timestamp_ns(request, "end_time")
        if not start or not end:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "start_time and end_time are required")
        if end < start:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "end_time must be after start_time")
        links = await answer(context, service.get_dependencies(end, end - start), "failed to fetch dependencies")
        response = pb.DependenciesResponse()
        for link in links:
            dep = response.dependencies.add()
            dep.parent = link.parent
            dep.child = link.child
            dep.call_count = link.call_count
        return response


def register(server: grpc.aio.Server, service: QueryService) -> None:
    """Add ``jaeger.api_v3.QueryService`` to ``server`` (before it starts)."""
    pb_grpc.add_QueryServiceServicer_to_server(QueryServicer(service), server)
