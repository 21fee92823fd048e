"""Grafana Tempo's HTTP query API over any storage with the query-language ability.

Served on its own port (``--tempo-api.port``, 3200 as in Tempo), so Grafana's Tempo data
source can be pointed at Spyglass unchanged. Routes and answers follow Tempo's:

* ``GET /api/search?q=&start=&end=&limit=&spss=`` (or the older ``tags=`` logfmt form with
  ``minDuration``/``maxDuration``): ``{"traces": [...], "metrics": {...}}``, each trace with
  its root service and name, start, duration and its matching spans (``spanSet``: the first
  ``spss`` of them, ``matched``: how many).
* ``GET /api/traces/{id}`` (``{"batches": [...]}``) and ``/api/v2/traces/{id}``
  (``{"trace": {"resourceSpans": [...]}}``): OTLP/JSON resource spans; with ``Accept:
  application/protobuf`` the protobuf message instead (Tempo's ``Trace`` / ``TraceByIDResponse``,
  field-compatible with OTLP's ``TracesData``).
* ``GET /api/v2/search/tags`` (names per scope), ``/api/v2/search/tag/{name}/values``
  (typed values, ``q=`` narrows them with a query), and their v1 forms.
* ``GET /api/metrics/query_range?q=&start=&end=&step=``: Tempo's series JSON.
* ``GET /api/metrics/query?q=&start=&end=``: the instant form, one ``value`` per series over
  the whole window (Tempo's ``QueryInstantResponse``).
* ``GET /api/echo``, ``GET /api/status/buildinfo``.

Errors are plain text, as Tempo writes them: 400 with the parse error (line, column and a
caret), 404 for an unknown trace, 501 when the storage cannot run queries, 503 when busy.
Times are Unix seconds (nanoseconds are accepted too, as Tempo does).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from spyglass import __version__
from spyglass.gocompat.godur import parse_duration
from spyglass.model import Span
from spyglass.query.http_api import storage_error
from spyglass.query.service import QueryService, TraceNotFoundError
from spyglass.tenancy.web import refuse_or_bind, tenant_of
from spyglass.traceql import TraceQLError, ast, parse
from spyglass.traceql.engine import Series
from spyglass.traceql.evaluate import TraceMatch, field_value, fields_of

log = logging.getLogger(__name__)

SERVICE = web.AppKey("spyglass_tempo_query_service", QueryService)
TEMPO_COMPATIBLE_VERSION = "2.6.0"  # the Tempo release whose API this follows (Grafana reads it)
DEFAULT_LIMIT = 20
DEFAULT_SPSS = 3
MAX_POINTS_DEFAULT = 100
INTRINSIC_TAGS = sorted(ast.INTRINSICS)
OPTIONAL_SCOPES = ("event", "link", "instrumentation")  # listed by the tags API when seen


class BadRequest(ValueError):
    pass


def _text(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message + "\n", content_type="text/plain")


def _json(body: Any) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type="application/json")


# -- parameters --------------------------------------------------------------------------------


def _time_ns(params: Any, name: str) -> int:
    text = params.get(name, "").strip()
    if not text:
        return 0
    try:
        value = float(text)
    except ValueError:
        raise BadRequest(f"invalid {name}: {text!r} is not Unix seconds") from None
    if value < 0:
        raise BadRequest(f"invalid {name}: {text!r} is negative")
    return int(value) if value > 1e15 else int(value * 1e9)


def _int(params: Any, name: str, default: int) -> int:
    text = params.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"invalid {name}: {text!r} is not an integer") from None
    if value <= 0:
        raise BadRequest(f"invalid {name}: must be positive")
    return value


def _duration_ns(text: str, name: str) -> int:
    text = text.strip()
    try:
        return int(float(text) * 1e9)
    except ValueError:
        pass
    try:
        return parse_duration(text)
    except ValueError:
        raise BadRequest(f"invalid {name}: {text!r} is not a duration such as 30s") from None


def _logfmt(text: str) -> list[tuple[str, str]]:
    """``key=value key2="quoted value"`` pairs (Tempo's ``tags`` parameter)."""
    out, i, n = [], 0, len(text)
    while i < n:
        while i < n and text[i] == " ":
            i += 1
        if i >= n:
            break
        j = text.find("=", i)
        if j < 0:
            raise BadRequest(f"invalid tags: {text[i:]!r} has no '='")
        key = text[i:j].strip()
        i = j + 1
        if i < n and text[i] == '"':
            k = i + 1
            buf = []
            while k < n and text[k] != '"':
                if text[k] == "\\" and k + 1 < n:
                    k += 1
                buf.append(text[k])
                k += 1
            if k >= n:
                raise BadRequest("invalid tags: unterminated quote")
            value, i = "".join(buf), k + 1
        else:
            k = text.find(" ", i)
            k = n if k < 0 else k
            value, i = text[i:k], k
        out.append((key, value))
    return out


def _typed_literal(value: str) -> ast.Literal:
    for cast in (int, float):
        try:
            return ast.Literal("num", cast(value))
        except ValueError:
            pass
    if value in ("true", "false"):
        return ast.Literal("bool", value == "true")
    return ast.Literal("str", value)


def _tags_query(params: Any) -> ast.Query:
    """The ``tags=`` / ``minDuration`` / ``maxDuration`` search as a query."""
    terms: list[ast.Cond] = []
    for key, value in _logfmt(params.get("tags", "")):
        if key in ("service.name", "resource.service.name"):
            terms.append(ast.Compare(ast.Attribute("resource", "service.name"), "=", ast.Literal("str", value)))
        elif key == "name":
            terms.append(ast.Compare(ast.Intrinsic("name"), "=", ast.Literal("str", value)))
        elif key in ("status.code", "status") and value in ast.STATUS_VALUES:
            terms.append(ast.Compare(ast.Intrinsic("status"), "=", ast.Literal("status", value)))
        elif key == "error" and value == "true":
            terms.append(ast.Compare(ast.Intrinsic("status"), "=", ast.Literal("status", "error")))
        else:
            terms.append(ast.Compare(ast.Attribute("", key), "=", _typed_literal(value)))
    for name, op in (("minDuration", ">="), ("maxDuration", "<=")):
        if params.get(name):
            terms.append(ast.Compare(ast.Intrinsic("duration"), op, ast.Literal("dur", _duration_ns(params[name], name))))
    cond: ast.Cond = ast.TRUE
    for term in terms:
        cond = term if cond == ast.TRUE else ast.BoolOp("&&", cond, term)
    return ast.Query(ast.Filter(cond))


def _query(params: Any, name: str = "q") -> ast.Query:
    text = params.get(name, "")
    try:
        return parse(text)
    except TraceQLError as exc:
        raise BadRequest(f"invalid TraceQL query: {exc}") from None


def _scoped_field(name: str) -> ast.Field:
    if name in ast.INTRINSICS:
        return ast.Intrinsic(name)
    if name in ast.INTRINSIC_ALIASES:
        return ast.Intrinsic(ast.INTRINSIC_ALIASES[name], name)
    for scope in ast.ATTRIBUTE_SCOPES:
        if name.startswith(scope + ".") and len(name) > len(scope) + 1:
            return ast.Attribute(scope, name[len(scope) + 1:])
    return ast.Attribute("", name[1:] if name.startswith(".") else name)


def _trace_id(text: str) -> int:
    if not text or len(text) > 32:
        raise BadRequest(f"invalid trace id {text!r}: 1 to 32 hex digits")
    try:
        value = int(text, 16)
    except ValueError:
        raise BadRequest(f"invalid trace id {text!r}: 1 to 32 hex digits") from None
    if value == 0:
        raise BadRequest("invalid trace id: zero")
    return value


# -- answers --------------------------------------------------------------------------------------


def _tempo_value(fv: tuple[str, object]) -> dict[str, Any]:
    t, v = fv
    if t == "str" or t in ("status", "kind"):
        return {"stringValue": str(v)}
    if t == "bool":
        return {"boolValue": v}
    if t == "num":
        return {"intValue": str(v)} if isinstance(v, int) else {"doubleValue": v}
    if t == "dur":
        return {"intValue": str(v)}
    return {"stringValue": str(v)}


def _span_json(span: Span, fields: list[ast.Field]) -> dict[str, Any]:
    attrs = []
    for f in fields:
        try:
            fv = field_value(f, span, None)
        except LookupError:
            continue
        for one in (fv[1] if fv is not None and fv[0] == "many" else (fv,)):  # type: ignore[union-attr]
            if one is not None:
                attrs.append({"key": f.name, "value": _tempo_value(one)})
    out: dict[str, Any] = {"spanID": format(span.span_id, "016x"), "name": span.name,
                           "startTimeUnixNano": str(span.start_time_ns), "durationNanos": str(span.duration_ns)}
    if attrs:
        out["attributes"] = attrs
    return out


def _shown_fields(query: ast.Query) -> list[ast.Field]:
    """Attributes a search answer shows per span: those the query compares, then selects."""
    found: dict[ast.Field, None] = {}

    def walk(expr: ast.SpansetExpr) -> None:
        if isinstance(expr, ast.Filter):
            found.update(dict.fromkeys(sorted(fields_of(expr.cond), key=str)))
        else:
            walk(expr.left)
            walk(expr.right)

    walk(query.spans)
    found.update(dict.fromkeys(query.selected))
    return [f for f in found if isinstance(f, ast.Attribute)]


def search_json(matches: list[TraceMatch], query: ast.Query, spss: int) -> dict[str, Any]:
    fields = _shown_fields(query)
    traces = []
    for m in matches:
        spanset = {"spans": [_span_json(s, fields) for s in m.spans[:spss]], "matched": m.matched}
        traces.append({
            "traceID": format(m.trace_id, "x"),
            "rootServiceName": m.root_service or "<root span not yet received>",
            **({"rootTraceName": m.root_name} if m.root_name else {}),
            "startTimeUnixNano": str(m.start_ns),
            "durationMs": m.duration_ns // 1_000_000,
            "spanSet": spanset,
            "spanSets": [spanset],
        })
    return {"traces": traces, "metrics": {"inspectedTraces": len(matches), "inspectedBytes": "0",
                                          "completedJobs": 1, "totalJobs": 1}}


def _prom_value(v: object) -> str:
    return str(v).replace("\\", "\\\\").replace('"', '\\"')


def _labels_json(pairs: tuple[tuple[str, object], ...]) -> tuple[list[dict[str, Any]], str]:
    """Tempo's typed labels and their Prometheus text form."""
    labels, prom = [], []
    for name, value in pairs:
        if value is None:
            continue
        if isinstance(value, bool):
            typed: dict[str, Any] = {"boolValue": value}
        elif isinstance(value, int):
            typed = {"intValue": str(value)}
        elif isinstance(value, float):
            typed = {"doubleValue": value}
        else:
            typed = {"stringValue": str(value)}
        labels.append({"key": name, "value": typed})
        prom.append(f'{name}="{_prom_value(value)}"')
    if not labels:
        labels.append({"key": "__name__", "value": {"stringValue": "spans"}})
    return labels, "{" + ", ".join(prom) + "}"


def instant_json(values: list[tuple[tuple, float]]) -> dict[str, Any]:
    """Tempo's ``QueryInstantResponse``: one value per series."""
    out = []
    for pairs, value in values:
        labels, prom = _labels_json(pairs)
        out.append({"labels": labels, "value": value, "promLabels": prom})
    return {"series": out, "metrics": {"inspectedSpans": "0", "completedJobs": 1, "totalJobs": 1}}


def series_json(series: list[Series]) -> dict[str, Any]:
    out = []
    for s in series:
        labels, prom = _labels_json(s.labels)
        out.append({"labels": labels, "samples": [{"timestampMs": str(t // 1_000_000), "value": v} for t, v in s.samples],
                    "promLabels": prom})
    return {"series": out, "metrics": {"inspectedSpans": "0", "completedJobs": 1, "totalJobs": 1}}


_VALUE_TYPES = {"str": "string", "num": "int", "bool": "bool", "dur": "duration", "status": "keyword", "kind": "keyword"}


def _value_text(t: str, v: object) -> str:
    if t == "bool":
        return "true" if v else "false"
    if t == "dur":
        return f"{v}ns"
    return str(v)


# -- handlers ------------------------------------------------------------------------------------------


async def echo(service: QueryService, request: web.Request, path: dict[str, str]) -> web.Response:
    return web.Response(text="echo", content_type="text/plain")


async def buildinfo(service: QueryService, request: web.Request, path: dict[str, str]) -> web.Response:
    return _json({"version": TEMPO_COMPATIBLE_VERSION, "revision": f"spyglass-{__version__}", "branch": "",
                  "buildUser": "", "buildDate": "", "goVersion": ""})


async def search(service: QueryService, request: web.Request, path: dict[str, str]) -> web.Response:
    p = request.query
    query = _query(p) if p.get("q", "").strip() else _tags_query(p)
    start, end = _time_ns(p, "start"), _time_ns(p, "end")
    limit, spss = _int(p, "limit", DEFAULT_LIMIT), _int(p, "spss", DEFAULT_SPSS)
    if query.metrics is not None:
        raise BadRequest("invalid TraceQL query: a metrics query goes to /api/metrics/query_range")
    matches = await service.traceql_search(query, start, end, limit)
    return _json(search_json(matches, query, spss))


async def _trace_spans(service: QueryService, request: web.Request, path: dict[str, str]) -> list[Span]:
    trace_id = _trace_id(path["trace_id"])
    p = request.query
    trace = await service.get_trace(trace_id, raw=True, start_ns=_time_ns(p, "start"), end_ns=_time_ns(p, "end"))
    return trace.spans


def _wants_protobuf(request: web.Request) -> bool:
    return "application/protobuf" in request.headers.get("Accept", "")


def _protobuf(spans: list[Span], wrap: bool) -> web.Response:
    from spyglass.codecs.otlp_proto import encode_traces_data
    from spyglass.codecs.protowire import len_field

    body = encode_traces_data(spans).SerializeToString()
    if wrap:  # TraceByIDResponse: field 1 (trace), length-delimited
        body = len_field(b"\x0a", body)
    return web.Response(body=body, content_type="application/protobuf")


async def trace_v1(service: QueryService, request: web.Request, path: dict[str, str]) -> web.Response:
    spans = await _trace_spans(service, request, path)
    if _wants_protobuf(request):
        return _protobuf(spans, wrap=False)
    from spyglass.codecs.otlp_json import encode_traces_data

    return _json({"batches": encode_traces_data(spans)["resourceSpans"]})


async def trace_v2(service: QueryService, request: web.Request, path: dict[str, str]) -> web.Response:
    spans = await _trace_spans(service, request, path)
    if _wants_protobuf(request):
        return _protobuf(spans, wrap=True)
    from spyglass.codecs.otlp_json import encode_traces_data

    return _json({"trace": encode_traces_data(spans), "status": "COMPLETE"})


async def _tag_names(service: QueryService, request: web.Request) -> dict[str, set[str]]:
    p = request.query
    return await service.traceql_tag_names(_time_ns(p, "start"), _time_ns(p, "end"))


async def tags_v1(service: QueryService, request: web.Request, path: dict[str, str]) -> web.Response:
    names = await _tag_names(service, request)
    return _json({"tagNames": sorted(names["span"] | names["resource"])})


async def tags_v2(service: QueryService, request: web.Request, path: dict[str, str]) -> web.Response:
    scope = request.query.get("scope", "").strip()
    if scope not in ("", "all", "span", "resource", "intrinsic", *OPTIONAL_SCOPES):
        raise BadRequest(f"invalid scope {scope!r}: span, resource, event, link, instrumentation, intrinsic or all")
    names = await _tag_names(service, request)
    scopes = [{"name": s, "tags": sorted(names[s])} for s in ("span", "resource") if scope in ("", "all", s)]
    scopes += [{"name": s, "tags": sorted(names[s])} for s in OPTIONAL_SCOPES
               if scope in ("", "all", s) and (names.get(s) or scope == s)]
    if scope in ("", "all", "intrinsic"):
        scopes.append({"name": "intrinsic", "tags": INTRINSIC_TAGS})
    return _json({"scopes": scopes})


async def _values(service: QueryService, request: web.Request, path: dict[str, str]) -> list[tuple[str, object]]:
    p = request.query
    fld = _scoped_field(path["name"])
    cond: ast.Cond = ast.TRUE
    if p.get("q", "").strip():
        q = _query(p)
        if isinstance(q.spans, ast.Filter):  # Grafana sends the filter being typed, e.g. { resource.service.name="x" }
            cond = q.spans.cond
    if isinstance(fld, ast.Intrinsic) and fld.name == "status":
        return [("status", v) for v in ast.STATUS_VALUES]
    if isinstance(fld, ast.Intrinsic) and fld.name == "kind":
        return [("kind", v) for v in ast.KIND_VALUES]
    return await service.traceql_tag_values(fld, cond, _time_ns(p, "start"), _time_ns(p, "end"))


async def values_v1(service: QueryService, request: web.Request, path: dict[str, str]) -> web.Response:
    return _json({"tagValues": [_value_text(t, v) for t, v in await _values(service, request, path)]})


async def values_v2(service: QueryService, request: web.Request, path: dict[str, str]) -> web.Response:
    values = await _values(service, request, path)
    out = []
    for t, v in values:
        typ = _VALUE_TYPES.get(t, "string")
        if t == "num" and isinstance(v, float):
            typ = "float"
        out.append({"type": typ, "value": _value_text(t, v)})
    return _json({"tagValues": out})


def _metrics_window(p: Any) -> tuple[ast.Query, int, int]:
    """The metrics query and its window (default: the last hour)."""
    query = _query(p)
    if query.metrics is None:
        raise BadRequest("invalid TraceQL query: a metrics query ends with | rate(), | count_over_time() or "
                         "| quantile_over_time(duration, .99)")
    end = _time_ns(p, "end") or time.time_ns()
    start = _time_ns(p, "start") or end - 3_600_000_000_000
    if end <= start:
        raise BadRequest("invalid start/end: start must be before end")
    return query, start, end


async def query_instant(service: QueryService, request: web.Request, path: dict[str, str]) -> web.Response:
    query, start, end = _metrics_window(request.query)
    return _json(instant_json(await service.traceql_instant(query, start, end)))


async def query_range(service: QueryService, request: web.Request, path: dict[str, str]) -> web.Response:
    p = request.query
    query, start, end = _metrics_window(p)
    step_text = p.get("step", "").strip()
    step = _duration_ns(step_text, "step") if step_text else max(1_000_000_000, (end - start) // MAX_POINTS_DEFAULT // 1_000_000_000 * 1_000_000_000)
    if step <= 0:
        raise BadRequest("invalid step: must be positive")
    series = await service.traceql_metrics(query, start, end, step)
    return _json(series_json(series))


Core = Callable[[QueryService, web.Request, dict[str, str]], Awaitable[web.Response]]


async def answer(core: Core, service: QueryService, request: web.Request, path: dict[str, str]) -> web.Response:
    """Run a handler, turning failures into Tempo's plain-text error answers."""
    try:
        return await core(service, request, path)
    except web.HTTPException:
        raise
    except BadRequest as exc:
        return _text(400, str(exc))
    except TraceQLError as exc:
        return _text(400, f"invalid TraceQL query: {exc}")
    except TraceNotFoundError:
        return _text(404, "trace not found")
    except NotImplementedError as exc:
        return _text(501, str(exc))
    except Exception as exc:  # noqa: BLE001 - busy/timeout 503, others 500 and logged; never a dropped connection
        return storage_error(exc, _text)


ROUTES: list[tuple[str, Core]] = [
    ("/api/echo", echo),
    ("/api/status/buildinfo", buildinfo),
    ("/api/search", search),
    ("/api/traces/{trace_id}", trace_v1),
    ("/api/v2/traces/{trace_id}", trace_v2),
    ("/api/search/tags", tags_v1),
    ("/api/v2/search/tags", tags_v2),
    ("/api/search/tag/{name}/values", values_v1),
    ("/api/v2/search/tag/{name}/values", values_v2),
    ("/api/metrics/query_range", query_range),
    ("/api/metrics/query", query_instant),
]


def build_tempo_app(service: QueryService) -> web.Application:
    """The application of the ``--tempo-api.port`` listener."""
    app = web.Application()
    app[SERVICE] = service
    for route, core in ROUTES:
        async def handle(request: web.Request, core: Core = core) -> web.Response:
            service = request.app[SERVICE]
            refused = refuse_or_bind(service.tenancy, request, "tempo_api")  # the tenant's stores only
            if refused is not None:
                return refused
            return await answer(core, service.for_tenant(tenant_of(request)), request, dict(request.match_info))
        app.router.add_get(route, handle)
    return app


def register(router: Any, service: QueryService) -> None:
    """The same routes under ``/api/tempo`` of the Jaeger query port, for the web UI (which
    is served from that port and cannot reach another one)."""
    for route, core in ROUTES:
        async def handle(request: web.Request, params: dict[str, str], core: Core = core) -> web.Response:
            # the query port's dispatcher has bound the request's tenant already
            return await answer(core, service.for_tenant(tenant_of(request)), request, params)
        router.add("GET", "api/tempo/" + route[len("/api/"):], handle)
