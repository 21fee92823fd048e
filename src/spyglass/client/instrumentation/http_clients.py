"""Client spans and context injection for ``requests``, ``httpx`` and ``urllib``.

Each ``instrument_*`` patches the library's single send path once (idempotent;
``uninstrument_*`` restores it): ``requests.Session.send``, ``httpx.Client.send`` /
``httpx.AsyncClient.send`` and ``urllib.request.AbstractHTTPHandler.do_open``. For every
request a client span (``span.kind=client``, ``component``, ``http.method``,
``http.url``, ``http.status_code``; errors and 5xx set ``error``) is started as a child of
the active span, made active during the call, and injected into the request's headers in
the tracer's HTTP format; an exception is tagged by the scope as it exits. Requests made
while instrumentation is suppressed (the tracer's own sampling polls) are not traced.

    instrument_http_clients(tracer)   # all three that are installed
"""

from __future__ import annotations

import functools
from typing import Any

import opentracing
from opentracing import Format

from spyglass.client.instrumentation._common import is_suppressed, resolve_tracer, status_tags

_ORIGINALS: dict[str, tuple[Any, str, Any]] = {}


def _start(tracer: opentracing.Tracer | None, component: str, method: str, url: str) -> opentracing.Scope:
    t = resolve_tracer(tracer)
    return t.start_active_span(
        f"HTTP {method.upper()}",
        tags={"span.kind": "client", "component": component, "http.method": method.upper(), "http.url": url},
    )


def _inject(scope: opentracing.Scope, headers: Any) -> None:
    carrier: dict[str, str] = {}
    scope.span.tracer.inject(scope.span.context, Format.HTTP_HEADERS, carrier)
    for key, value in carrier.items():
        headers[key] = value


def _patch(key: str, owner: Any, name: str, wrapper: Any) -> None:
    if key in _ORIGINALS:
        return
    original = getattr(owner, name)
    _ORIGINALS[key] = (owner, name, original)
    setattr(owner, name, functools.wraps(original)(wrapper(original)))


def _unpatch(key: str) -> None:
    entry = _ORIGINALS.pop(key, None)
    if entry is not None:
        owner, name, original = entry
        setattr(owner, name, original)


# -- requests ---------------------------------------------------------------------------------
def instrument_requests(tracer: opentracing.Tracer | None = None) -> None:
    import requests

    def wrapper(original: Any) -> Any:
        def send(self: Any, request: Any, **kwargs: Any) -> Any:
            if is_suppressed():
                return original(self, request, **kwargs)
            with _start(tracer, "requests", request.method or "GET", request.url) as scope:
                _inject(scope, request.headers)
                response = original(self, request, **kwargs)
                status_tags(scope.span, response.status_code)
                return response
        return send

    _patch("requests", requests.Session, "send", wrapper)


def uninstrument_requests() -> None:
    _unpatch("requests")


# -- httpx ------------------------------------------------------------------------------------
def instrument_httpx(tracer: opentracing.Tracer | None = None) -> None:
    import httpx

    def sync_wrapper(original: Any) -> Any:
        def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            if is_suppressed():
                return original(self, request, *args, **kwargs)
            with _start(tracer, "httpx", request.method, str(request.url)) as scope:
                _inject(scope, request.headers)
                response = original(self, request, *args, **kwargs)
                status_tags(scope.span, response.status_code)
                return response
        return send

    def async_wrapper(original: Any) -> Any:
        async def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            if is_suppressed():
                return await original(self, request, *args, **kwargs)
            with _start(tracer, "httpx", request.method, str(request.url)) as scope:
                _inject(scope, request.headers)
                response = await original(self, request, *args, **kwargs)
                status_tags(scope.span, response.status_code)
                return response
        return send

    _patch("httpx.Client", httpx.Client, "send", sync_wrapper)
    _patch("httpx.AsyncClient", httpx.AsyncClient, "send", async_wrapper)


def uninstrument_httpx() -> None:
    _unpatch("httpx.Client")
    _unpatch("httpx.AsyncClient")


# -- urllib -----------------------------------------------------------------------------------
class _UrllibHeaders:
    """Setter adapter: urllib keeps headers it must not resend on redirect separately."""

    def __init__(self, request: Any) -> None:
        self.request = request

    def __setitem__(self, key: str, value: str) -> None:
        self.request.add_unredirected_header(key, value)


def instrument_urllib(tracer: opentracing.Tracer | None = None) -> None:
    import urllib.request

    def wrapper(original: Any) -> Any:
        def do_open(self: Any, http_class: Any, req: Any, **kwargs: Any) -> Any:
            if is_suppressed():
                return original(self, http_class, req, **kwargs)
            with _start(tracer, "urllib", req.get_method(), req.full_url) as scope:
                _inject(scope, _UrllibHeaders(req))
                response = original(self, http_class, req, **kwargs)
                status_tags(scope.span, response.status)
                return response
        return do_open

    _patch("urllib", urllib.request.AbstractHTTPHandler, "do_open", wrapper)


def uninstrument_urllib() -> None:
    _unpatch("urllib")


def instrument_http_clients(tracer: opentracing.Tracer | None = None) -> list[str]:
    """Instrument every one of ``urllib``, ``requests`` and ``httpx`` that is installed;
    returns the names instrumented."""
    done = []
    instrument_urllib(tracer)
    done.append("urllib")
    for name, install in (("requests", instrument_requests), ("httpx", instrument_httpx)):
        try:
            install(tracer)
        except ImportError:
            continue
        done.append(name)
    return done


def uninstrument_http_clients() -> None:
    uninstrument_urllib()
    uninstrument_requests()
    uninstrument_httpx()
