"""Jaeger's api_v3 HTTP gateway under ``/api/v3`` (spec B.2): handlers over ``QueryService``.

Only the GET routes Jaeger registers are served (no POST, no ``/api/v3/dependencies``).
Traces come back as OTLP JSON wrapped in ``{"result": ...}``, all found traces merged into
one ``TracesData``; errors as ``{"error": {"httpCode", "message"}}`` through Go's
``http.Error``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from spyglass.codecs import go_json
from spyglass.model import Trace
from spyglass.query import http_params as hp
from spyglass.query.http_api import (
    ApiContext,
    ApiRouter,
    Params,
    go_http_error,
    json_bytes_response,
    json_response,
    storage_error,
)
from spyglass.query.service import QueryService, TraceNotFoundError
from spyglass.query.streaming import STREAM_MIN_SPANS, stream_list
from spyglass.query.summaries import TraceSummary


MSG_NO_TRACES = "No traces found"


def error_response(status: int, message: str) -> web.Response:
    """Jaeger's ``GRPCGatewayError`` JSON sent with ``http.Error``."""
    return go_http_error(status, go_json.dumps({"error": {"httpCode": status, "message": message}}).decode())


def _storage_error(e: Exception) -> web.Response:
    return storage_error(e, error_response)


def traces_result(traces: list[Trace]) -> dict[str, Any]:
    """``{"result": TracesData}`` with every trace's resource spans, in trace order."""
    resource_spans: list[Any] = []
    for trace in traces:
        resource_spans.extend(trace_resource_spans(trace))
    return _result(resource_spans)


def _result(resource_spans: list[Any]) -> dict[str, Any]:
    return {"result": {"resourceSpans": resource_spans}}


def trace_resource_spans(trace: Trace) -> list[Any]:
    """One trace's OTLP JSON ``resourceSpans``, doubles written as Go writes them."""
    from spyglass.codecs.otlp_json import encode_traces_data

    resource_spans: list[Any] = encode_traces_data(trace.spans).get("resourceSpans", [])
    for rs in resource_spans:
        _go_doubles(rs.get("resource", {}).get("attributes"))
        for ss in rs.get("scopeSpans", ()):
            _go_doubles(ss.get("scope", {}).get("attributes"))
            for span in ss.get("spans", ()):
                _go_doubles(span.get("attributes"))
                for item in (*span.get("events", ()), *span.get("links", ())):
                    _go_doubles(item.get("attributes"))
    return resource_spans


def _go_doubles(attributes: list[dict[str, Any]] | None) -> None:
    """Mark ``doubleValue`` floats so they are written as Go writes them (``1``, not
    ``1.0``), nested arrays and maps included."""
    for kv in attributes or ():
        _go_double_value(kv.get("value"))


def _go_double_value(value: dict[str, Any] | None) -> None:
    if not value:
        return
    double = value.get("doubleValue")
    if double.__class__ is float:
        value["doubleValue"] = go_json.GoFloat(double)
    elif "arrayValue" in value:
        for item in value["arrayValue"].get("values", ()):
            _go_double_value(item)
    elif "kvlistValue" in value:
        _go_doubles(value["kvlistValue"].get("values"))


def summary_to_json(summary: TraceSummary) -> dict[str, Any]:
    """One trace summary as the gateway writes it (times as decimal strings)."""
    out: dict[str, Any] = {
        "traceId": format(summary.trace_id, "032x"),
        "rootServiceName": summary.root_service_name,
        "rootOperationName": summary.root_operation_name,
    }
    if summary.min_start_time_ns:
        out["minStartTimeUnixNano"] = str(summary.min_start_time_ns)
    if summary.max_end_time_ns:
        out["maxEndTimeUnixNano"] = str(summary.max_end_time_ns)
    out["spanCount"] = summary.span_count
    out["errorSpanCount"] = summary.error_span_count
    if summary.orphan_span_count:
        out["orphanSpanCount"] = summary.orphan_span_count
    out["services"] = [
        {"name": s.name, "spanCount": s.span_count, "errorSpanCount": s.error_span_count} for s in summary.services
    ]
    return out


async def _traces_response(request: web.Request, service: QueryService, traces: list[Trace]) -> web.StreamResponse:
    """The traces as one ``TracesData``, rendered on the query's render pool; large answers
    are streamed one trace at a time (``spyglass.query.streaming``)."""
    if not traces:
        return error_response(404, MSG_NO_TRACES)
    try:
        import spyglass.codecs.otlp_json  # noqa: F401
    except ImportError:  # the OTLP JSON codec ships separately
        return error_response(500, "OTLP JSON support is not installed")
    if sum(len(t.spans) for t in traces) >= STREAM_MIN_SPANS:
        return await stream_list(request, _result, traces, trace_resource_spans, service.render)
    body = await service.render(lambda: go_json.dumps(traces_result(traces)))
    return json_bytes_response(body)


def register(router: ApiRouter, ctx: ApiContext) -> None:
    """Add the ``/api/v3`` routes Jaeger's HTTP gateway serves to ``router``."""

    async def get_trace(request: web.Request, params: Params) -> web.StreamResponse:
        service = ctx.service_for(request)
        try:
            p = hp.parse_v3_get_trace(params["trace_id"], request.query)
        except hp.ParamError as e:
            return error_response(400, str(e))
        try:
            trace = await service.get_trace(p.trace_id, p.raw, p.start_ns, p.end_ns)
        except TraceNotFoundError:
            return error_response(404, MSG_NO_TRACES)
        except Exception as e:
            return _storage_error(e)
        return await _traces_response(request, service, [trace])

    async def find_traces(request: web.Request, params: Params) -> web.StreamResponse:
        service = ctx.service_for(request)
        try:
            p = hp.parse_v3_search(request.query)
        except hp.ParamError as e:
            return error_response(400, str(e))
        try:
            traces = await service.find_traces(p.query, p.raw)
        except Exception as e:
            return _storage_error(e)
        return await _traces_response(request, service, traces)

    async def trace_summaries(request: web.Request, params: Params) -> web.StreamResponse:
        service = ctx.service_for(request)
        try:
            p = hp.parse_v3_search(request.query)
        except hp.ParamError as e:
            return error_response(400, str(e))
        try:
            summaries = await service.find_trace_summaries(p.query)
        except Exception as e:
            return _storage_error(e)
        return json_response({"summaries": [summary_to_json(s) for s in summaries]})

    async def services(request: web.Request, params: Params) -> web.StreamResponse:
        service = ctx.service_for(request)
        try:
            names = await service.get_services()
        except Exception as e:
            return _storage_error(e)
        return json_response({"services": list(names)})

    async def operations(request: web.Request, params: Params) -> web.StreamResponse:
        service = ctx.service_for(request)
        name, kind = hp.parse_v3_operations(request.query)
        try:
            ops = await service.get_operations(name, kind)
        except Exception as e:
            return _storage_error(e)
        out = []
        for op in ops:
            item: dict[str, str] = {}
            if op.name:  # protobuf JSON leaves empty strings out
                item["name"] = op.name
            item["spanKind"] = op.span_kind or "internal"
            out.append(item)
        return json_response({"operations": out})

    router.add("GET", "api/v3/traces/{trace_id}", get_trace)
    router.add("GET", "api/v3/traces", find_traces)
    router.add("GET", "api/v3/trace-summaries", trace_summaries)
    router.add("GET", "api/v3/services", services)
    router.add("GET", "api/v3/operations", operations)
