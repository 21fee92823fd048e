"""Jaeger's classic UI API under ``/api`` (spec A): handlers over ``QueryService``.

Answers use Jaeger's envelope ``{"data", "total", "limit", "offset", "errors"}``; errors
go out as that envelope through Go's ``http.Error`` (text/plain, trailing newline). The
parameter rules are in ``http_params``, the trace JSON in ``codecs.jaeger_ui_json``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from spyglass.analytics.series import MIN_STEP_MS, TooManyPoints
from spyglass.codecs import go_json
from spyglass.codecs.errors import DecodeError
from spyglass.codecs.jaeger_ui_json import dependencies_to_ui, operations_to_ui, trace_to_ui, traces_to_ui
from spyglass.model import DependencyLink, Trace, format_trace_id
from spyglass.query import http_params as hp
from spyglass.query.http_api import (
    PRETTY_INDENT,
    ApiContext,
    ApiRouter,
    Params,
    go_http_error,
    go_unescape,
    json_bytes_response,
    json_response,
    storage_error,
)
from spyglass.query.service import ArchiveNotConfiguredError, QueryService, TraceNotFoundError, aggregate
from spyglass.query.streaming import STREAM_MIN_SPANS, stream_list


MSG_METRICS_DISABLED = "metrics querying is currently disabled"
MSG_TRACE_NOT_FOUND = "trace not found"

# The UI's quality-metrics view reads this shape (TQualityMetrics). Jaeger serves made-up
# sample scores here; Spyglass computes none, so it says so instead of inventing numbers.
QUALITY_METRICS = {
    "traceQualityDocumentationLink": "",
    "bannerText": {"value": "Trace quality metrics are not computed by this server."},
    "scores": [],
    "metrics": [],
}


def envelope(data: Any, total: int = 0, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Jaeger's ``structuredResponse``."""
    return {"data": data, "total": total, "limit": 0, "offset": 0, "errors": errors}


def error_response(status: int, message: str) -> web.Response:
    """Jaeger's ``handleError``: the envelope with one ``{code, msg}``, via ``http.Error``."""
    body = go_json.dumps(envelope(None, errors=[{"code": status, "msg": message}])).decode()
    return go_http_error(status, body)


def _storage_error(e: Exception) -> web.Response:
    return storage_error(e, error_response)


async def _traces_response(
    request: web.Request, service: QueryService, traces: list[Trace], errors: list[dict[str, Any]] | None
) -> web.StreamResponse:
    """The search/get-trace answer, rendered on the query's render pool (big traces take
    time); large answers are streamed one trace at a time (``spyglass.query.streaming``)."""
    indent = PRETTY_INDENT if hp.pretty_print(request.query) else ""
    if sum(len(t.spans) for t in traces) >= STREAM_MIN_SPANS:
        return await stream_list(
            request, lambda data: envelope(data, errors=errors), traces, lambda t: [trace_to_ui(t)], service.render, indent
        )

    def render() -> bytes:
        return go_json.dumps(envelope(traces_to_ui(traces), errors=errors), indent)

    return json_bytes_response(await service.render(render))


def register(router: ApiRouter, ctx: ApiContext) -> None:
    """Add every ``/api`` route Jaeger v2.20 serves (spec A.1) to ``router``."""

    async def get_trace(request: web.Request, params: Params) -> web.StreamResponse:
        service = ctx.service_for(request)
        try:
            p = hp.parse_get_trace(params["traceID"], request.query)
        except hp.ParamError as e:
            return error_response(400, str(e))
        try:
            trace = await service.get_trace(p.trace_id, p.raw, p.start_ns, p.end_ns)
        except TraceNotFoundError:
            return error_response(404, MSG_TRACE_NOT_FOUND)
        except Exception as e:
            return _storage_error(e)
        return await _traces_response(request, service, [trace], None)

    async def archive_trace(request: web.Request, params: Params) -> web.StreamResponse:
        service = ctx.service_for(request)
        try:
            p = hp.parse_get_trace(params["traceID"], request.query)
        except hp.ParamError as e:
            return error_response(400, str(e))
        try:
            await service.archive_trace(p.trace_id, p.start_ns, p.end_ns)
        except TraceNotFoundError:
            return error_response(404, MSG_TRACE_NOT_FOUND)
        except ArchiveNotConfiguredError as e:
            return error_response(500, str(e))
        except Exception as e:
            return _storage_error(e)
        return json_response(envelope([], errors=[]), hp.pretty_print(request.query))

    async def search(request: web.Request, params: Params) -> web.StreamResponse:
        service = ctx.service_for(request)
        try:
            p = hp.parse_search(request.query, ctx.now_ns())
        except hp.ParamError as e:
            return error_response(400, str(e))
        errors: list[dict[str, Any]] | None = None
        try:
            if p.trace_ids:
                window = (p.query.start_time_min_ns, p.query.start_time_max_ns) if p.explicit_window else (0, 0)
                traces = await service.get_traces(p.trace_ids, p.raw, *window)
                found = {t.trace_id for t in traces}
                missing = [tid for tid in dict.fromkeys(p.trace_ids) if tid not in found]
                if missing:
                    errors = [{"msg": MSG_TRACE_NOT_FOUND, "traceID": format_trace_id(tid)} for tid in missing]
            else:
                traces = await service.find_traces(p.query, p.raw)
        except Exception as e:
            return _storage_error(e)
        return await _traces_response(request, service, traces, errors)

    async def services(request: web.Request, params: Params) -> web.StreamResponse:
        service = ctx.service_for(request)
        try:
            names = await service.get_services()
        except Exception as e:
            return _storage_error(e)
        return json_response(envelope(list(names), len(names)), hp.pretty_print(request.query))

    async def operations(request: web.Request, params: Params) -> web.StreamResponse:
        service = ctx.service_for(request)
        name = request.query.get("service", "")
        if not name:
            return error_response(400, hp.ERR_SERVICE_REQUIRED)
        try:
            ops = await service.get_operations(name, request.query.get("spanKind", ""))
        except Exception as e:
            return _storage_error(e)
        return json_response(envelope(operations_to_ui(ops), len(ops)), hp.pretty_print(request.query))

    async def operations_legacy(request: web.Request, params: Params) -> web.StreamResponse:
        service = ctx.service_for(request)
        # Jaeger unescapes the (already path-unescaped) segment once more, as a query value.
        name = go_unescape(params["service"], plus_is_space=True) or ""
        try:
            ops = await service.get_operations(name, "")
        except Exception as e:
            return _storage_error(e)
        names = sorted({op.name for op in ops})
        return json_response(envelope(names or None, len(names)), hp.pretty_print(request.query))

    async def transform(request: web.Request, params: Params) -> web.StreamResponse:
        service = ctx.service_for(request)
        body = await request.read()
        try:
            from spyglass.codecs.otlp_json import decode_export_request
        except ImportError:  # the codec ships separately; say so rather than crash
            return error_response(500, "OTLP JSON support is not installed")
        try:
            spans = await service.render(decode_export_request, body)
        except DecodeError as e:
            return error_response(400, f"cannot unmarshal OTLP : {e}")
        return await _traces_response(request, service, aggregate([spans]), None)

    async def dependencies(request: web.Request, params: Params) -> web.StreamResponse:
        service = ctx.service_for(request)
        try:
            end_ns, lookback_ns = hp.parse_dependencies(request.query, ctx.now_ns())
        except hp.ParamError as e:
            return error_response(400, str(e))
        try:
            links = await service.get_dependencies(end_ns, lookback_ns)
        except Exception as e:
            return _storage_error(e)
        focus = request.query.get("service", "")
        if focus:
            links = [l for l in links if l.parent == focus or l.child == focus]
        totals: dict[tuple[str, str], int] = {}
        for link in links:
            key = (link.parent, link.child)
            totals[key] = totals.get(key, 0) + link.call_count
        merged = [DependencyLink(p, c, n) for (p, c), n in sorted(totals.items())]
        return json_response(envelope(dependencies_to_ui(merged)), hp.pretty_print(request.query))

    async def deep_dependencies(request: web.Request, params: Params) -> web.StreamResponse:
        service = ctx.service_for(request)
        # Jaeger answers with made-up sample paths; Spyglass computes them from stored traces.
        from spyglass.query.deep_dependencies import deep_dependencies_response

        return await deep_dependencies_response(request, service, ctx.now_ns())

    def metrics(kind: str) -> Callable[[web.Request, Params], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request, params: Params) -> web.StreamResponse:
            service = ctx.service_for(request)
            try:
                p = hp.parse_metrics(request.query, ctx.now_ns(), kind == "latencies")
            except hp.ParamError as e:
                return error_response(400, str(e))
            if service.metrics is None:
                return error_response(501, MSG_METRICS_DISABLED)
            try:
                body = await service.get_metrics(kind, p)
            except TooManyPoints as e:
                return error_response(400, str(e))
            except Exception as e:
                return _storage_error(e)
            return json_response(body, hp.pretty_print(request.query))

        return handler

    async def min_step(request: web.Request, params: Params) -> web.StreamResponse:
        # Jaeger v1's route (removed in v2): the finest step the metrics store resolves.
        return json_response(envelope(MIN_STEP_MS), hp.pretty_print(request.query))

    async def quality_metrics(request: web.Request, params: Params) -> web.StreamResponse:
        return json_response(QUALITY_METRICS, hp.pretty_print(request.query))

    router.add("GET", "api/traces/{traceID}", get_trace)
    router.add("POST", "api/archive/{traceID}", archive_trace)
    router.add("GET", "api/traces", search)
    router.add("GET", "api/services", services)
    router.add("GET", "api/operations", operations)
    router.add("GET", "api/services/{service}/operations", operations_legacy)
    router.add("POST", "api/transform", transform)
    router.add("GET", "api/dependencies", dependencies)
    router.add("GET", "api/deep-dependencies", deep_dependencies)
    router.add("GET", "api/metrics/latencies", metrics("latencies"))
    router.add("GET", "api/metrics/calls", metrics("calls"))
    router.add("GET", "api/metrics/errors", metrics("errors"))
    if ctx.service.metrics is not None:  # v1's route; v2 (and Spyglass without a metrics store) answer 404
        router.add("GET", "api/metrics/minstep", min_step)
    router.add("GET", "api/quality-metrics", quality_metrics)
