"""The query HTTP server's application: Jaeger's ``/api`` and ``/api/v3`` routes and the UI.

``build_app`` assembles an aiohttp application that answers exactly like Jaeger's query
service (spec A and B.2). The two APIs live in ``http_api_v1`` and ``http_api_v3``; this
module holds what they share:

* Routing under ``/api`` is done here, Go ``ServeMux`` style, on the raw request path:
  each path segment is percent-decoded on its own (so ``%2F`` stays inside a segment), a
  ``GET`` route also answers ``HEAD``, and every other ``/api/...`` request (unknown path
  or wrong method) gets Go's ``404 page not found``, so the UI's catch-all never answers
  for the API.
* Error answers are written the way Go's ``http.Error`` writes them: ``text/plain;
  charset=utf-8``, ``X-Content-Type-Options: nosniff``, the message plus a newline.
* Success answers are ``application/json`` written by ``spyglass.codecs.go_json``.

The ``ui`` application (when given) serves every path under ``base_path`` that is not an
API path; it receives the full request path, ``base_path`` included (``app[BASE_PATH]``).
Without a UI, ``/`` answers with a short plain-text note.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRuleMatching, MatchedSubAppResource

from spyglass.codecs import go_json
from spyglass.query.limits import QueryBusy, QueryTimeout
from spyglass.query.metrics import ROUTE, route_template
from spyglass.query.service import QueryService
from spyglass.storage.api.health import StorageUnavailable

log = logging.getLogger(__name__)

BASE_PATH = web.AppKey("spyglass_query_base_path", str)
CAPABILITIES = web.AppKey("spyglass_query_capabilities", dict)
QUERY_SERVICE = web.AppKey("spyglass_query_service", QueryService)

# /api/transform takes whole OTLP JSON files uploaded from the UI.
MAX_REQUEST_BODY = 64 * 1024 * 1024
PRETTY_INDENT = "    "
UI_NOT_BUILT = (
    "Spyglass query service\n\n"
    "The web UI is not built into this server. The Jaeger-compatible API is served under /api/.\n"
)

Params = dict[str, str]
Handler = Callable[[web.Request, Params], Awaitable[web.StreamResponse]]


# -- responses ---------------------------------------------------------------------------


def go_http_error(status: int, message: str) -> web.Response:
    """What Go's ``http.Error(w, message, status)`` sends."""
    return web.Response(
        status=status,
        body=(message + "\n").encode(),
        headers={"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"},
    )


def storage_error(e: Exception, error_response: Callable[[int, str], web.Response]) -> web.Response:
    """A failed read in each API's own error shape: 503 for a query past its deadline or refused by
    the concurrency limit (``spyglass.query.limits``, with ``Retry-After`` for the latter) or by
    storage that is unavailable (``StorageUnavailable``: a ClickHouse server or shard down, an
    outage the client may retry, as gRPC's UNAVAILABLE), 500 otherwise. A storage that does not
    answer (``ConnectionError``) is no bug, so it is logged without a traceback."""
    if isinstance(e, QueryTimeout):
        return error_response(503, str(e))
    if isinstance(e, QueryBusy):
        response = error_response(503, str(e))
        response.headers["Retry-After"] = "1"
        return response
    if isinstance(e, StorageUnavailable):
        log.error("HTTP handler, storage unavailable: %s", e)
        return error_response(503, str(e))
    log.error("HTTP handler, Internal Server Error: %s", e, exc_info=None if isinstance(e, ConnectionError) else e)
    return error_response(500, str(e))


def not_found() -> web.Response:
    """Go's ``http.NotFound``."""
    return go_http_error(404, "404 page not found")


def json_response(obj: Any, pretty: bool = False, status: int = 200) -> web.Response:
    """``obj`` as Go's ``json.Marshal`` (``MarshalIndent`` with 4 spaces when pretty)."""
    return json_bytes_response(go_json.dumps(obj, PRETTY_INDENT if pretty else ""), status)


def json_bytes_response(body: bytes, status: int = 200) -> web.Response:
    return web.Response(status=status, body=body, headers={"Content-Type": "application/json"})


# -- routing -----------------------------------------------------------------------------


def go_unescape(text: str, plus_is_space: bool = False) -> str | None:
    """Go's ``url.PathUnescape`` / ``url.QueryUnescape``; None for a malformed escape."""
    if "%" not in text and not (plus_is_space and "+" in text):
        return text
    out = bytearray()
    raw = text.encode("utf-8", errors="surrogateescape")
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == 0x25:  # %
            hex_part = raw[i + 1 : i + 3]
            if len(hex_part) < 2 or not all(chr(h) in "0123456789abcdefABCDEF" for h in hex_part):
                return None
            out.append(int(hex_part, 16))
            i += 3
            continue
        out.append(0x20 if plus_is_space and c == 0x2B else c)
        i += 1
    return out.decode("utf-8", errors="surrogateescape")


@dataclass(slots=True)
class _Route:
    method: str
    segments: tuple[str, ...]
    handler: Handler


@dataclass
class ApiRouter:
    """Method + path patterns (``api/traces/{traceID}``) matched segment by segment; a
    ``{name}`` segment matches one non-empty segment and is passed to the handler."""

    routes: list[_Route] = field(default_factory=list)

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append(_Route(method, tuple(pattern.strip("/").split("/")), handler))

    def resolve(self, method: str, segments: list[str]) -> tuple[Handler, Params] | None:
        for route in self.routes:
            if route.method != method and not (route.method == "GET" and method == "HEAD"):
                continue
            if len(route.segments) != len(segments):
                continue
            params: Params = {}
            for pattern, value in zip(route.segments, segments):
                if pattern.startswith("{"):
                    if not value:
                        break
                    params[pattern[1:-1]] = value
                elif pattern != value:
                    break
            else:
                return route.handler, params
        return None


class _UIRule(AbstractRuleMatching):
    """Sends every path under the base path that is not ``/api`` or below to the UI."""

    def __init__(self, base: str) -> None:
        self.base = base

    async def match(self, request: web.Request) -> bool:
        path = request.rel_url.path
        if self.base:
            if not (path == self.base or path.startswith(self.base + "/")):
                return False
            path = path[len(self.base) :]
        return not (path == "/api" or path.startswith("/api/"))

    def get_info(self) -> dict[str, Any]:
        return {"base_path": self.base}

    @property
    def canonical(self) -> str:
        return self.base or "/"


@dataclass(slots=True)
class ApiContext:
    """What handlers need besides the request."""

    service: QueryService
    now_ns: Callable[[], int] = time.time_ns

    def service_for(self, request: web.Request) -> QueryService:
        """The service over the stores of the request's tenant (``spyglass.tenancy``)."""
        from spyglass.tenancy.web import tenant_of

        return self.service.for_tenant(tenant_of(request))


def _normalize_base(base_path: str) -> str:
    base = base_path.strip()
    if not base or base == "/":
        return ""
    if not base.startswith("/"):
        base = "/" + base
    return base.rstrip("/")


def build_app(
    service: QueryService,
    *,
    base_path: str = "",
    ui: web.Application | None = None,
    archive_enabled: bool = False,
    metrics_enabled: bool = False,
) -> web.Application:
    """The query HTTP application: ``/api/*`` (spec A.1), ``/api/v3/*`` (B.2) and the UI.

    ``archive_enabled`` and ``metrics_enabled`` are the capabilities the UI is told about
    (``app[CAPABILITIES]``; archiving is also reported when the service has an archive
    writer). The archive route itself works whenever the service has an archive writer,
    and metrics answer 501 as Jaeger does without a metrics store (``service.metrics`` None).
    """
    from spyglass.query import http_api_v1, http_api_v3, tempo_api
    from spyglass.tenancy.web import refuse_or_bind

    base = _normalize_base(base_path)
    ctx = ApiContext(service)
    router = ApiRouter()
    http_api_v3.register(router, ctx)
    http_api_v1.register(router, ctx)
    tempo_api.register(router, service)

    async def dispatch(request: web.Request) -> web.StreamResponse:
        raw_path = request.raw_path.split("?", 1)[0]
        rest = raw_path[len(base) :] if base else raw_path
        segments = []
        for segment in rest.strip("/").split("/") if rest.strip("/") else []:
            decoded = go_unescape(segment)
            segments.append(segment if decoded is None else decoded)
        if rest.endswith("/") and rest != "/":
            segments.append("")
        found = router.resolve(request.method, segments)
        if found is None:
            return not_found()
        handler, params = found
        request[ROUTE] = route_template(segments, params)  # for query.metrics
        refused = refuse_or_bind(service.tenancy, request, "query_http", as_json=True)  # every /api route
        if refused is not None:
            return refused
        try:
            return await handler(request, params)
        except web.HTTPException:
            raise
        except Exception as e:  # a handler bug must not take the server down
            log.exception("query HTTP handler failed: %s %s", request.method, request.path)
            return go_http_error(500, f"internal error: {e}")

    app = web.Application(client_max_size=MAX_REQUEST_BODY)
    app[BASE_PATH] = base
    app[CAPABILITIES] = {
        "archiveStorage": archive_enabled or service.archive_enabled,
        "metricsStorage": metrics_enabled or service.metrics is not None,
    }
    app[QUERY_SERVICE] = service
    app.router.add_route("*", base + "/api", dispatch)
    app.router.add_route("*", base + "/api/{tail:.*}", dispatch)
    if ui is not None:
        # aiohttp has no public way to mount a sub-application under a custom rule (only
        # under a prefix, which cannot be "/", or a domain); _add_subapp is what both use.
        app._add_subapp(lambda: MatchedSubAppResource(_UIRule(base), ui), ui)
    else:

        async def ui_missing(request: web.Request) -> web.StreamResponse:
            return web.Response(text=UI_NOT_BUILT, content_type="text/plain")

        app.router.add_get(base + "/", ui_missing)
        if base:
            app.router.add_get(base, ui_missing)

    async def fallback(request: web.Request) -> web.StreamResponse:
        return not_found()

    app.router.add_route("*", "/{tail:.*}", fallback)
    return app
