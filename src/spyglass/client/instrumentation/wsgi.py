"""WSGI middleware: one server span per request.

The caller's context is extracted from the request headers (any format the tracer is
configured for; a malformed header starts a new trace). The span is active while the
application runs *and* while the server iterates the response body, so spans started by
streaming generators are children too; it finishes when the server closes the response,
as PEP 3333 requires servers to do. Tags: ``span.kind=server``, ``component=wsgi``,
``http.method``, ``http.url``, ``peer.address``, ``http.status_code`` (5xx and
exceptions also set ``error``). When the application raises before the first body chunk,
the server answers 500 (PEP 3333: headers are not sent yet), so the span records
``http.status_code=500`` too, whatever status ``start_response`` was given: the span
tells what the caller got, and a search for ``http.status_code=500`` finds it.

    app = TracingMiddleware(app, tracer)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import opentracing
from opentracing import Format

from spyglass.client.instrumentation._common import is_suppressed, resolve_tracer, status_tags, tag_error

Environ = dict[str, Any]


def environ_headers(environ: Environ) -> dict[str, str]:
    """Request headers from a WSGI environ (``HTTP_UBER_TRACE_ID`` -> ``uber-trace-id``)."""
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    if "CONTENT_TYPE" in environ:
        headers["content-type"] = environ["CONTENT_TYPE"]
    return headers


def request_url(environ: Environ) -> str:
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"
    query = environ.get("QUERY_STRING")
    return f"{scheme}://{host}{environ.get('SCRIPT_NAME', '')}{environ.get('PATH_INFO', '/')}" + (f"?{query}" if query else "")


def default_operation_name(environ: Environ) -> str:
    return f"{environ.get('REQUEST_METHOD', 'GET')} {environ.get('SCRIPT_NAME', '')}{environ.get('PATH_INFO', '/')}"


class TracingMiddleware:
    """``operation_name(environ)`` names the span (default ``"GET /path"``; return a route
    template instead when paths carry IDs, to keep per-operation sampling meaningful)."""

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        tracer: opentracing.Tracer | None = None,
        operation_name: Callable[[Environ], str] = default_operation_name,
    ) -> None:
        self.app = app
        self.tracer = tracer
        self.operation_name = operation_name

    def __call__(self, environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        if is_suppressed():
            return self.app(environ, start_response)
        tracer = resolve_tracer(self.tracer)
        try:
            parent = tracer.extract(Format.HTTP_HEADERS, environ_headers(environ))
        except Exception:  # a foreign tracer may still raise on bad headers
            parent = None
        scope = tracer.start_active_span(
            self.operation_name(environ),
            child_of=parent,
            ignore_active_span=True,  # worker threads are reused; never chain requests
            finish_on_close=True,
            tags={
                "span.kind": "server",
                "component": "wsgi",
                "http.method": environ.get("REQUEST_METHOD", "GET"),
                "http.url": request_url(environ),
                "peer.address": environ.get("REMOTE_ADDR", ""),
            },
        )
        span = scope.span

        def traced_start_response(status: str, headers: list, exc_info: Any = None) -> Any:
            status_tags(span, status.split(" ", 1)[0])
            return start_response(status, headers, exc_info)

        try:
            result = self.app(environ, traced_start_response)
        except BaseException as exc:
            tag_error(span, exc)
            status_tags(span, 500)  # nothing was sent yet: the server answers 500
            scope.close()
            raise
        return _ClosingIterable(result, scope)


class _ClosingIterable:
    """The response body; finishes the span when the server closes it."""

    def __init__(self, result: Iterable[bytes], scope: opentracing.Scope) -> None:
        self.result = result
        self.scope = scope

    def __iter__(self) -> Iterator[bytes]:
        started = False
        try:
            for chunk in self.result:
                started = True
                yield chunk
        except GeneratorExit:
            raise  # the server stopped reading (client gone): not the application's error
        except BaseException as exc:
            tag_error(self.scope.span, exc)
            if not started:  # headers go out with the first chunk: the server can still send 500
                status_tags(self.scope.span, 500)
            raise

    def close(self) -> None:
        try:
            close = getattr(self.result, "close", None)
            if close is not None:
                close()
        finally:
            self.scope.close()
