"""The deep dependency graph ("DDG"): the paths of calls through one focal service.

Jaeger UI's Deep Dependency Graph shows, for a focal service (and optionally one of its
operations), every chain of calls that passes through it: the callers upstream, several
hops back, and the callees downstream, several hops on. Jaeger computes those paths in a
separate analytics service and its own ``/api/deep-dependencies`` answers sample data
(spec A.1), but the JSON shape is defined there, and this module fills it from stored
traces::

    {"dependencies": [{"path": [{"service": "frontend", "operation": "GET /"}, ...],
                       "attributes": [{"key": "exemplar_trace_id", "value": "<id>"}, ...,
                                      {"key": "count", "value": "12"}]}]}

What a path is (Spyglass's definition, documented in docs/deep-dependencies.md): in one
trace, the spans form a tree; consecutive spans of the same service are one *hop* (a
service is entered once, then its internal and client spans are part of the same hop),
named by the operation the service was entered with. Every root-to-leaf chain of hops
that contains a focal hop (the focal service, and when an operation is asked for, a hop
whose spans include that operation) is a path. Equal paths are merged: ``count`` says how
many times the path occurred, ``exemplar_trace_id`` (up to three) names traces that have
it. Paths are sorted by count, most frequent first.

Why it is bounded: the graph comes from one search of stored traces through the focal
service (``limit`` traces, newest first, default 100 and at most 1,000, within
``endTs``/``lookback`` like ``/api/dependencies``), not from a scan of all storage; hop
chains longer than ``MAX_PATH_HOPS`` are cut and at most ``MAX_PATHS`` distinct paths are
kept, so a pathological trace cannot make the answer unbounded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from aiohttp import web

from spyglass.codecs import go_json
from spyglass.model import Span, Trace, format_trace_id
from spyglass.query import http_params as hp
from spyglass.query.http_api import go_http_error, json_response
from spyglass.query.service import QueryService
from spyglass.storage.api import TraceQuery

DEFAULT_TRACES = 100
MAX_TRACES = 1000
MAX_PATH_HOPS = 64
MAX_PATHS = 5000
MAX_EXEMPLARS = 3


@dataclass(slots=True)
class _Hop:
    service: str
    operation: str
    operations: set[str]
    children: list[_Hop] = field(default_factory=list)


@dataclass(slots=True)
class _PathStats:
    count: int = 0
    exemplars: list[str] = field(default_factory=list)


def _hop_forest(spans: Sequence[Span]) -> list[_Hop]:
    """The trace's spans as trees of hops (a child span of the same service joins its
    parent's hop). Spans whose parent is missing start trees of their own."""
    by_id = {span.span_id: span for span in spans}
    children: dict[int, list[Span]] = {}
    roots: list[Span] = []
    for span in spans:
        parent = span.parent_span_id
        if parent and parent in by_id and parent != span.span_id:
            children.setdefault(parent, []).append(span)
        else:
            roots.append(span)
    forest: list[_Hop] = []
    seen: set[int] = set()
    # Iterative walk (deep traces must not hit the recursion limit); spans sorted by
    # start so paths come out in call order.
    stack: list[tuple[Span, _Hop | None]] = [(root, None) for root in sorted(roots, key=lambda s: s.start_time_ns, reverse=True)]
    while stack:
        span, parent_hop = stack.pop()
        if span.span_id in seen:  # a reference cycle
            continue
        seen.add(span.span_id)
        service = span.resource.service_name
        if parent_hop is not None and parent_hop.service == service:
            hop = parent_hop
            hop.operations.add(span.name)
        else:
            hop = _Hop(service, span.name, {span.name})
            if parent_hop is None:
                forest.append(hop)
            else:
                parent_hop.children.append(hop)
        for child in sorted(children.get(span.span_id, ()), key=lambda s: s.start_time_ns, reverse=True):
            stack.append((child, hop))
    return forest


def _is_focal(hop: _Hop, service: str, operation: str) -> bool:
    return hop.service == service and (not operation or operation in hop.operations)


def _leaf_paths(root: _Hop) -> Iterable[list[_Hop]]:
    """Every root-to-leaf chain of hops (cut at ``MAX_PATH_HOPS``)."""
    stack: list[tuple[_Hop, list[_Hop]]] = [(root, [root])]
    while stack:
        hop, path = stack.pop()
        if not hop.children or len(path) >= MAX_PATH_HOPS:
            yield path
            continue
        for child in reversed(hop.children):
            stack.append((child, path + [child]))


def compute_paths(traces: Iterable[Trace], service: str, operation: str = "") -> dict[str, list[dict[str, object]]]:
    """The DDG payload (Jaeger's JSON) for the focal ``service``/``operation`` from
    ``traces``."""
    merged: dict[tuple[tuple[str, str], ...], _PathStats] = {}
    for trace in traces:
        trace_hex = format_trace_id(trace.trace_id)
        for root in _hop_forest(trace.spans):
            for path in _leaf_paths(root):
                if not any(_is_focal(hop, service, operation) for hop in path):
                    continue
                key = tuple(
                    (hop.service, operation if operation and _is_focal(hop, service, operation) else hop.operation)
                    for hop in path
                )
                stats = merged.get(key)
                if stats is None:
                    if len(merged) >= MAX_PATHS:
                        continue
                    stats = merged[key] = _PathStats()
                stats.count += 1
                if len(stats.exemplars) < MAX_EXEMPLARS and trace_hex not in stats.exemplars:
                    stats.exemplars.append(trace_hex)
    ordered = sorted(merged.items(), key=lambda item: (-item[1].count, item[0]))
    return {
        "dependencies": [
            {
                "path": [{"service": svc, "operation": op} for svc, op in key],
                "attributes": [{"key": "exemplar_trace_id", "value": tid} for tid in stats.exemplars]
                + [{"key": "count", "value": str(stats.count)}],
            }
            for key, stats in ordered
        ]
    }


def _error(status: int, message: str) -> web.Response:
    body = {"data": None, "total": 0, "limit": 0, "offset": 0, "errors": [{"code": status, "msg": message}]}
    return go_http_error(status, go_json.dumps(body).decode())


def parse_limit(query: hp.Query) -> int:
    """``limit``: how many traces to read (default 100, at most 1,000)."""
    text = query.get("limit", "")
    if not text:
        return DEFAULT_TRACES
    try:
        value = int(text)
    except ValueError:
        raise hp.ParamError(f"unable to parse param 'limit': strconv.Atoi: parsing \"{text}\": invalid syntax") from None
    if value <= 0:
        raise hp.ParamError("unable to parse param 'limit': must be a positive number of traces")
    return min(value, MAX_TRACES)


async def deep_dependencies_response(request: web.Request, service: QueryService, now_ns: int) -> web.Response:
    """``GET /api/deep-dependencies?service=S[&operation=O][&endTs=MS][&lookback=MS][&limit=N]``."""
    query = request.query
    focal = query.get("service", "")
    if not focal:
        return _error(400, hp.ERR_SERVICE_REQUIRED)
    operation = query.get("operation", "")
    try:
        end_ns, lookback_ns = hp.parse_dependencies(query, now_ns)
        limit = parse_limit(query)
    except hp.ParamError as e:
        return _error(400, str(e))
    search = TraceQuery(
        service_name=focal,
        operation_name=operation,
        start_time_min_ns=max(0, end_ns - lookback_ns),
        start_time_max_ns=end_ns,
        num_traces=limit,
    )
    try:
        traces = await service.find_traces(search, raw=True)
    except Exception as e:  # storage failure: Jaeger's 500 envelope
        return _error(500, str(e))
    return json_response(compute_paths(traces, focal, operation), hp.pretty_print(query))
