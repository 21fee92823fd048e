"""Query-side metrics: requests, errors and latency per endpoint, for HTTP and gRPC.

Every answered request is recorded once, by ``QueryMetrics.record``, under two sets of
names: Spyglass's (``spyglass_query_requests_total{api,endpoint,code}``,
``spyglass_query_request_seconds{api,endpoint}``) and Jaeger v1's
(``jaeger_query_requests_total{operation,result}``, ``jaeger_query_latency{operation,result}``),
which the jaeger-mixin dashboard and its ``JaegerQueryReqsFailing`` alert query. Jaeger's
``operation`` is the storage call an endpoint makes (``get_trace``, ``find_traces``,
``get_services``, ``get_operations``, ``get_dependencies``); endpoints that make none have
only the Spyglass names. ``result`` is ``err`` for a server-side failure (HTTP 5xx, gRPC
INTERNAL/UNKNOWN/UNAVAILABLE/DATA_LOSS), ``ok`` otherwise, as Jaeger counts storage errors.

Wiring: ``http_app.middlewares.append(metrics.middleware)`` (the query HTTP app's
dispatcher stores the matched route template in ``request[ROUTE]``) and
``GrpcServer(..., interceptors=[metrics.interceptor()])``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram

# aiohttp >= 3.11 wants typed request keys; older ones take a plain string.
ROUTE: Any = web.RequestKey("spyglass_route", str) if hasattr(web, "RequestKey") else "spyglass_route"
"""``request[ROUTE]``: the route template the query API matched (``/api/traces/{traceID}``)."""

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

_JAEGER_OPERATIONS = {
    "/api/traces/{traceID}": "get_trace",
    "/api/v3/traces/{trace_id}": "get_trace",
    "/api/traces": "find_traces",
    "/api/v3/traces": "find_traces",
    "/api/v3/trace-summaries": "find_traces",
    "/api/services": "get_services",
    "/api/v3/services": "get_services",
    "/api/operations": "get_operations",
    "/api/services/{service}/operations": "get_operations",
    "/api/v3/operations": "get_operations",
    "/api/dependencies": "get_dependencies",
    # gRPC methods
    "/jaeger.api_v2.QueryService/GetTrace": "get_trace",
    "/jaeger.api_v2.QueryService/FindTraces": "find_traces",
    "/jaeger.api_v2.QueryService/GetServices": "get_services",
    "/jaeger.api_v2.QueryService/GetOperations": "get_operations",
    "/jaeger.api_v2.QueryService/GetDependencies": "get_dependencies",
    "/jaeger.api_v3.QueryService/GetTrace": "get_trace",
    "/jaeger.api_v3.QueryService/FindTraces": "find_traces",
    "/jaeger.api_v3.QueryService/GetServices": "get_services",
    "/jaeger.api_v3.QueryService/GetOperations": "get_operations",
}
_GRPC_ERRORS = frozenset({
    grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DATA_LOSS,
})


def route_template(segments: list[str], params: dict[str, str]) -> str:
    """The route pattern of a matched request: path segments with the parameters' names."""
    names = {value: name for name, value in params.items()}
    return "/" + "/".join("{%s}" % names[s] if s in names else s for s in segments)


class QueryMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.requests = Counter("spyglass_query_requests", "Query API requests answered, by endpoint and status",
                                ["api", "endpoint", "code"], registry=r)
        self.seconds = Histogram("spyglass_query_request_seconds", "Query API request latency", ["api", "endpoint"],
                                 buckets=_BUCKETS, registry=r)
        self.jaeger_requests = Counter("jaeger_query_requests", "Query requests by storage operation (Jaeger v1)",
                                       ["operation", "result"], registry=r)
        self.jaeger_latency = Histogram("jaeger_query_latency", "Query latency by storage operation (Jaeger v1)",
                                        ["operation", "result"], buckets=_BUCKETS, registry=r)

    def record(self, api: str, endpoint: str, code: str, failed: bool, seconds: float) -> None:
        """One answered request, under both names."""
        self.requests.labels(api, endpoint, code).inc()
        self.seconds.labels(api, endpoint).observe(seconds)
        operation = _JAEGER_OPERATIONS.get(endpoint)
        if operation is not None:
            result = "err" if failed else "ok"
            self.jaeger_requests.labels(operation, result).inc()
            self.jaeger_latency.labels(operation, result).observe(seconds)

    # -- HTTP --------------------------------------------------------------------------------
    @web.middleware
    async def middleware(self, request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        """Times API requests (those the dispatcher matched to a route; UI files and 404s
        are not recorded, so unknown paths cannot grow the label set)."""
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            route = request.get(ROUTE)
            if route is not None:
                self.record("http", route, f"{status // 100}xx", status >= 500, time.perf_counter() - started)

    # -- gRPC --------------------------------------------------------------------------------
    def interceptor(self) -> grpc.aio.ServerInterceptor:
        return _Interceptor(self)


class _Interceptor(grpc.aio.ServerInterceptor):
    """Times every unary and server-streaming RPC of the servers it is given to."""

    def __init__(self, metrics: QueryMetrics) -> None:
        self.metrics = metrics

    async def intercept_service(self, continuation: Callable[[Any], Awaitable[Any]],
                                details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        if handler is None or details.method.startswith(("/grpc.health", "/grpc.reflection")):
            return handler
        method, record = details.method, self.metrics.record

        def done(context: grpc.aio.ServicerContext, started: float, exc: BaseException | None) -> None:
            code = context.code() if hasattr(context, "code") else None
            if code is None:
                code = grpc.StatusCode.OK if exc is None else grpc.StatusCode.UNKNOWN
            if isinstance(code, int):
                code = next((c for c in grpc.StatusCode if c.value[0] == code), grpc.StatusCode.UNKNOWN)
            record("grpc", method, code.name, code in _GRPC_ERRORS, time.perf_counter() - started)

        if handler.unary_unary is not None:
            inner = handler.unary_unary

            async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                started = time.perf_counter()
                try:
                    response = await inner(request, context)
                except BaseException as exc:
                    done(context, started, exc)
                    raise
                done(context, started, None)
                return response

            return grpc.unary_unary_rpc_method_handler(unary, handler.request_deserializer,
                                                       handler.response_serializer)
        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream

            async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                started = time.perf_counter()
                try:
                    async for message in inner_stream(request, context):
                        yield message
                except BaseException as exc:
                    done(context, started, exc)
                    raise
                done(context, started, None)

            return grpc.unary_stream_rpc_method_handler(stream, handler.request_deserializer,
                                                        handler.response_serializer)
        return handler
