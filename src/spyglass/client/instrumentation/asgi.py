"""ASGI middleware: one server span per HTTP or WebSocket connection.

ASGI servers run each connection in its own task, so the span made active here is the
parent of everything the application does for that request and is invisible to
concurrent requests. Tags as the WSGI middleware: ``span.kind=server``,
``component=asgi``, ``http.method``, ``http.url``, ``peer.address``,
``http.status_code`` (from ``http.response.start``); exceptions set ``error``, and one
raised before the response started also sets ``http.status_code=500``, the status ASGI
servers answer with then (so the span tells what the caller got).

    app = TracingASGIMiddleware(app, tracer)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import opentracing
from opentracing import Format

from spyglass.client.instrumentation._common import is_suppressed, resolve_tracer, status_tags

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def request_url(scope: Scope) -> str:
    headers = dict(scope.get("headers") or [])
    host = headers.get(b"host", b"").decode("latin-1")
    if not host and scope.get("server"):
        host = "%s:%s" % tuple(scope["server"])
    query = scope.get("query_string", b"").decode("latin-1")
    scheme = scope.get("scheme", "http")
    return f"{scheme}://{host}{scope.get('root_path', '')}{scope.get('path', '/')}" + (f"?{query}" if query else "")


def default_operation_name(scope: Scope) -> str:
    method = scope.get("method", "WEBSOCKET" if scope["type"] == "websocket" else "GET")
    return f"{method} {scope.get('root_path', '')}{scope.get('path', '/')}"


class TracingASGIMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        tracer: opentracing.Tracer | None = None,
        operation_name: Callable[[Scope], str] = default_operation_name,
    ) -> None:
        self.app = app
        self.tracer = tracer
        self.operation_name = operation_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") not in ("http", "websocket") or is_suppressed():
            await self.app(scope, receive, send)
            return
        tracer = resolve_tracer(self.tracer)
        try:
            parent = tracer.extract(Format.HTTP_HEADERS, list(scope.get("headers") or []))
        except Exception:
            parent = None
        client = scope.get("client")
        tags = {
            "span.kind": "server",
            "component": "asgi",
            "http.method": scope.get("method", "GET"),
            "http.url": request_url(scope),
            "peer.address": f"{client[0]}:{client[1]}" if client else "",
        }
        with tracer.start_active_span(self.operation_name(scope), child_of=parent, tags=tags,
                                      ignore_active_span=True) as active:
            span = active.span
            started = False

            async def traced_send(message: Message) -> None:
                nonlocal started
                if message.get("type") == "http.response.start":
                    started = True
                    status_tags(span, message.get("status"))
                await send(message)

            try:
                await self.app(scope, receive, traced_send)  # the scope's exit tags an exception as an error
            except asyncio.CancelledError:
                raise  # the server gave up on the request; it sends nothing more
            except BaseException:
                if not started and scope["type"] == "http":
                    status_tags(span, 500)  # what the server sends for an unhandled exception
                raise
