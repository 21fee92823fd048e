"""Client spans and context injection for ``requests``, ``httpx`` and ``urllib``.

Each ``instrument_*`` patches the library's single send path once (idempotent;
``uninstrument_*`` restores it): ``requests.Session.send``, ``httpx.Client.send`` /
``httpx.AsyncClient.send`` and ``urllib.request.AbstractHTTPHandler.do_open``. For every
request a client span is started as a child of the active span, made active during the
call, and injected into the request's headers in the tracer's HTTP format; an exception is
tagged by the scope as it exits. Requests made while instrumentation is suppressed (the
tracer's own sampling polls) are not traced.

Tags follow OpenTelemetry's HTTP client conventions (``http.request.method``, ``url.full``,
``server.address``, ``server.port``, ``http.response.status_code``, ``error.type``) and keep
the OpenTracing/Jaeger-era names Jaeger users search by (``http.method``, ``http.url``,
``net.peer.name``, ``net.peer.port``, ``http.status_code``, ``error=true``).

``peer.service`` names the service called, so that a downstream that is not traced itself
still appears on the dependency graph (the backend adds a link from this service to the
``peer.service`` of a client span that has no child). It comes from, first to last: the
innermost ``http_call(peer_service=...)`` block, the session (``set_session_peer_service``),
and the host mapping given to ``instrument_http_clients(peer_services=...)`` (keys
``host:port`` or ``host``). The span is named ``GET {route}`` when ``http_call(route=...)``
gives the route template, else ``GET {peer.service}``, else ``GET {host[:port]}``, so calls to
different services are told apart and names stay few (never the raw path with its IDs).

    instrument_http_clients(tracer, peer_services={"payments.internal": "payments"})
    with http_call(peer_service="billing", route="/invoices/{id}"):
        requests.get(f"{billing}/invoices/42")
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import opentracing
from opentracing import Format

from spyglass.client.instrumentation._common import is_suppressed, resolve_tracer

_ORIGINALS: dict[str, tuple[Any, str, Any]] = {}
_PEER_SERVICES: dict[str, str] = {}
_SESSION_ATTR = "_spyglass_peer_service"
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class _Call:
    peer_service: str | None = None
    route: str | None = None


_CALL: contextvars.ContextVar[_Call | None] = contextvars.ContextVar("spyglass_http_call", default=None)


@contextlib.contextmanager
def http_call(peer_service: str | None = None, route: str | None = None) -> Iterator[None]:
    """Name the service called (``peer.service``) and/or the route template (span name,
    ``url.template``) of the requests made inside the block; inner blocks win."""
    outer = _CALL.get()
    token = _CALL.set(_Call(peer_service or (outer.peer_service if outer else None),
                            route or (outer.route if outer else None)))
    try:
        yield
    finally:
        _CALL.reset(token)


def set_session_peer_service(session: Any, peer_service: str | None) -> Any:
    """Every request of this ``requests.Session`` / ``httpx.Client`` / ``httpx.AsyncClient``
    calls ``peer_service`` (None clears it); returns the session."""
    setattr(session, _SESSION_ATTR, peer_service)
    return session


def set_peer_services(mapping: Mapping[str, str]) -> None:
    """Add host -> service names (``"host:port"`` or ``"host"``; hosts in lower case)."""
    _PEER_SERVICES.update({k.lower(): v for k, v in mapping.items()})


def clear_peer_services() -> None:
    _PEER_SERVICES.clear()


def _host_port(url: str) -> tuple[str, int | None, str]:
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return "", None, ""
    shown = host if port is None or port == _DEFAULT_PORTS.get(parts.scheme.lower()) else f"{host}:{port}"
    return host, port, shown


def client_tags(method: str, url: str, session: Any = None) -> tuple[str, dict[str, Any]]:
    """The span name and the start tags of a client request (without ``component``)."""
    method = method.upper()
    host, port, shown = _host_port(url)
    call = _CALL.get()
    peer = (call.peer_service if call else None) or getattr(session, _SESSION_ATTR, None) \
        or _PEER_SERVICES.get(f"{host}:{port}") or _PEER_SERVICES.get(host)
    route = call.route if call else None
    tags: dict[str, Any] = {
        "span.kind": "client",
        "http.method": method,
        "http.request.method": method,
        "http.url": url,
        "url.full": url,
    }
    if host:
        tags["server.address"] = tags["net.peer.name"] = host
    if port is not None:
        tags["server.port"] = tags["net.peer.port"] = port
    if peer:
        tags["peer.service"] = peer
    if route:
        tags["url.template"] = route
    return f"{method} {route or peer or shown or url}", tags


def response_tags(span: opentracing.Span, status: Any) -> None:
    """Status tags, both names; 4xx and 5xx set ``error.type`` (OpenTelemetry), 5xx also
    ``error=true`` (as every Spyglass instrumentation does)."""
    try:
        code = int(status)
    except (TypeError, ValueError):
        return
    span.set_tag("http.status_code", code)
    span.set_tag("http.response.status_code", code)
    if code >= 400:
        span.set_tag("error.type", str(code))
    if code >= 500:
        span.set_tag("error", True)


def _start(tracer: opentracing.Tracer | None, component: str, method: str, url: str,
           session: Any = None) -> opentracing.Scope:
    t = resolve_tracer(tracer)
    name, tags = client_tags(method, url, session)
    tags["component"] = component
    return t.start_active_span(name, tags=tags)


@contextlib.contextmanager
def _traced(tracer: opentracing.Tracer | None, component: str, method: str, url: str,
            session: Any = None) -> Iterator[opentracing.Scope]:
    with _start(tracer, component, method, url, session) as scope:
        try:
            yield scope
        except Exception as exc:
            scope.span.set_tag("error.type", type(exc).__qualname__)
            raise


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
            with _traced(tracer, "requests", request.method or "GET", request.url, self) as scope:
                _inject(scope, request.headers)
                response = original(self, request, **kwargs)
                response_tags(scope.span, response.status_code)
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
            with _traced(tracer, "httpx", request.method, str(request.url), self) as scope:
                _inject(scope, request.headers)
                response = original(self, request, *args, **kwargs)
                response_tags(scope.span, response.status_code)
                return response
        return send

    def async_wrapper(original: Any) -> Any:
        async def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
            if is_suppressed():
                return await original(self, request, *args, **kwargs)
            with _traced(tracer, "httpx", request.method, str(request.url), self) as scope:
                _inject(scope, request.headers)
                response = await original(self, request, *args, **kwargs)
                response_tags(scope.span, response.status_code)
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
            with _traced(tracer, "urllib", req.get_method(), req.full_url) as scope:
                _inject(scope, _UrllibHeaders(req))
                response = original(self, http_class, req, **kwargs)
                response_tags(scope.span, response.status)
                return response
        return do_open

    _patch("urllib", urllib.request.AbstractHTTPHandler, "do_open", wrapper)


def uninstrument_urllib() -> None:
    _unpatch("urllib")


def instrument_http_clients(tracer: opentracing.Tracer | None = None,
                            peer_services: Mapping[str, str] | None = None) -> list[str]:
    """Instrument every one of ``urllib``, ``requests`` and ``httpx`` that is installed;
    returns the names instrumented. ``peer_services`` maps ``host:port`` or ``host`` to the
    ``peer.service`` of requests sent there (see ``set_peer_services``)."""
    if peer_services:
        set_peer_services(peer_services)
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
