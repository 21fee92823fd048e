"""Limits that keep a listener alive when clients are slow, idle, many or hostile.

Without them ~1,000 connections that send half a request line and wait were enough to use
every file descriptor of the process: each port stopped answering, and asyncio logged an
``accept() out of system resource`` traceback per retry. So every HTTP listener has:

* a cap on open connections (``ConnectionLimits.max_connections``): past it, a new
  connection gets ``503`` and is closed at once, so it holds a descriptor for microseconds;
  one flooded port cannot starve the others of their own caps;
* a header timeout: a request's headers must be complete within ``header_timeout`` seconds
  of the connection opening (or of the first byte of a later request), or the connection
  is closed (aiohttp has no such timeout of its own);
* an idle timeout between requests (aiohttp's ``keepalive_timeout``), and the same timeout
  for a client that stops reading its answer (a slow reader would otherwise hold the
  connection and the unsent part of the answer for ever);
* request-line and header-field size limits (aiohttp's, 8 KiB), whose errors are one
  throttled WARNING line and a counter instead of an ERROR traceback per request.

gRPC listeners get the equivalents as channel arguments (``grpc_options``). At start the
process raises its descriptor soft limit to the hard limit (``raise_nofile_limit``), and an
event-loop exception handler turns accept failures into one line per change of state
(at most one a minute per listener while it flaps).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge

from spyglass.server.quietlog import Throttle

log = logging.getLogger(__name__)

DEFAULT_MAX_CONNECTIONS = 1024
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_IDLE_TIMEOUT = 60.0
DEFAULT_MAX_CONCURRENT_RPCS = 1000
MAX_LINE_SIZE = 8190  # request line (the URL) and each header field, as aiohttp's default

_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\n"
    b"Retry-After: 1\r\nContent-Length: 25\r\n\r\ntoo many open connections"
)


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """The limits of one listener (every listener of a process shares the same values)."""

    max_connections: int = DEFAULT_MAX_CONNECTIONS
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    max_concurrent_rpcs: int = DEFAULT_MAX_CONCURRENT_RPCS


class ConnectionMetrics:
    """Per-listener connection metrics, on the registry ``/metrics`` serves."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.open = Gauge("spyglass_connections_open", "Open connections per listener", ["listener"], registry=registry)
        self.refused = Counter(
            "spyglass_connections_refused",
            "Connections closed at once because the listener had --server.max-connections open",
            ["listener"],
            registry=registry,
        )
        self.timed_out = Counter(
            "spyglass_connections_timed_out",
            "Connections closed because a request's headers did not arrive within --server.header-timeout",
            ["listener"],
            registry=registry,
        )
        self.write_stalled = Counter(
            "spyglass_connections_write_stalled",
            "Connections closed because the client read nothing of its answer for --server.idle-timeout",
            ["listener"],
            registry=registry,
        )
        self.bad_requests = Counter(
            "spyglass_http_bad_requests",
            "Requests aiohttp could not parse (URL or header too long, malformed) or whose client hung up",
            ["listener", "reason"],
            registry=registry,
        )


# -- HTTP: a protocol in front of aiohttp's, per connection ---------------------------------


class _ListenerState:
    def __init__(self, name: str, limits: ConnectionLimits, metrics: ConnectionMetrics | None) -> None:
        self.name = name
        self.limits = limits
        self.metrics = metrics
        self.open = 0
        self.refused = 0
        self.timed_out = 0
        self.accept_failing = False


class _Guard(asyncio.Protocol):
    """Stands between the transport and aiohttp's ``RequestHandler``: refuses connections
    over the cap before aiohttp sees them, and closes those whose headers are late. Every
    other event is passed through unchanged."""

    def __init__(self, state: _ListenerState, make_handler: Callable[[], asyncio.Protocol]) -> None:
        self.state = state
        self.make_handler = make_handler
        self.inner: Any = None
        self.transport: asyncio.Transport | None = None
        self.in_request = False
        self._timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        st = self.state
        self.transport = transport  # type: ignore[assignment]
        if st.accept_failing:
            st.accept_failing = False
            _ACCEPT_LOG.log(logging.WARNING, f"{st.name}:ok", "%s: accepting connections again", st.name)
        if st.open >= st.limits.max_connections:
            st.refused += 1
            if st.metrics is not None:
                st.metrics.refused.labels(st.name).inc()
            transport.write(_BUSY)  # type: ignore[attr-defined]
            transport.close()
            return
        st.open += 1
        if st.metrics is not None:
            st.metrics.open.labels(st.name).inc()
        self.inner = self.make_handler()
        self.inner.connection_made(transport)
        self._arm()

    def _arm(self) -> None:
        if self._timer is None and self.state.limits.header_timeout > 0:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.state.limits.header_timeout, self._headers_late)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _headers_late(self) -> None:
        self._timer = None
        if self.in_request or self.transport is None or self.transport.is_closing():
            return
        st = self.state
        st.timed_out += 1
        if st.metrics is not None:
            st.metrics.timed_out.labels(st.name).inc()
        self.transport.abort()  # nothing useful to say to a client this slow; free the fd now

    def request_started(self) -> None:
        """The headers of a request are complete (called by ``track_requests``)."""
        self.in_request = True
        self._disarm()

    def request_finished(self) -> None:
        self.in_request = False

    def data_received(self, data: bytes) -> None:
        if self.inner is None:
            return
        if not self.in_request:
            self._arm()  # the first bytes of the next request start its header clock
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()
        if self._write_timer is None and self.state.limits.idle_timeout > 0:
            loop = asyncio.get_running_loop()
            self._write_timer = loop.call_later(self.state.limits.idle_timeout, self._write_stalled)

    def resume_writing(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        if self.inner is not None:
            self.inner.resume_writing()

    def _write_stalled(self) -> None:
        """The client took nothing of its answer for the idle timeout: drop it."""
        self._write_timer = None
        if self.transport is None or self.transport.is_closing():
            return
        st = self.state
        if st.metrics is not None:
            st.metrics.write_stalled.labels(st.name).inc()
        self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        if self.inner is None:
            return
        st = self.state
        st.open -= 1
        if st.metrics is not None:
            st.metrics.open.labels(st.name).dec()
        inner, self.inner = self.inner, None
        inner.connection_lost(exc)


@web.middleware
async def track_requests(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Tells the connection's guard when a request's headers are complete (the handler
    runs) and when it is done, so the header clock stops and restarts at the right time."""
    transport = request.transport
    guard = transport.get_protocol() if transport is not None else None
    if not isinstance(guard, _Guard):
        return await handler(request)
    guard.request_started()
    try:
        return await handler(request)
    finally:
        guard.request_finished()


class ServerLog:
    """The ``logger`` given to aiohttp's request handler. aiohttp logs every unparsable
    request (a URL over 8 KiB, a bad header) and every write to a vanished client with
    ``logger.exception``: a traceback per request, which a client can repeat at will. Here
    those become a counter and one throttled WARNING line; anything else (a bug in a
    handler) keeps its traceback."""

    def __init__(self, state: _ListenerState) -> None:
        self.state = state
        self.throttle = Throttle(logging.getLogger("spyglass.server"))

    def exception(self, msg: str, *args: Any, exc_info: Any = None, **kw: Any) -> None:
        from aiohttp.http_exceptions import HttpProcessingError

        exc = exc_info if isinstance(exc_info, BaseException) else None
        if isinstance(exc, (HttpProcessingError, ConnectionError)):
            reason = type(exc).__name__
            st = self.state
            if st.metrics is not None:
                st.metrics.bad_requests.labels(st.name, reason).inc()
            from spyglass.security.redact import redact

            text = redact(str(exc).replace("\n", " "))[:200]  # aiohttp quotes the bad header line
            self.throttle.warning(f"{st.name}:{reason}", "%s: bad request (%s): %s", st.name, reason, text)
            return
        logging.getLogger("aiohttp.server").exception(msg, *args, exc_info=exc_info, **kw)

    def __getattr__(self, name: str) -> Any:  # debug, info, warning, error, isEnabledFor...
        return getattr(logging.getLogger("aiohttp.server"), name)


# -- accept() failures: one line per change of state -----------------------------------------

_SERVED: dict[int, _ListenerState] = {}  # listening socket fd -> its listener's state
# A listener near its descriptor limit flaps (one close lets one accept through), so each
# of the two lines is written at most once a minute per listener, with a count of the rest.
_ACCEPT_LOG = Throttle(log, interval=60.0)
_OUT_OF_RESOURCES = "socket.accept() out of system resource"


def register_listening_sockets(sockets: list[socket.socket], state: _ListenerState) -> None:
    for sock in sockets:
        _SERVED[sock.fileno()] = state


def unregister_listening_sockets(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        _SERVED.pop(sock.fileno(), None)


def install_accept_error_handler(loop: asyncio.AbstractEventLoop) -> None:
    """asyncio retries a failing ``accept()`` every second and reports each failure, with a
    traceback, to the loop's exception handler. This handler logs the first failure of a
    listener as one WARNING line, stays silent while it keeps failing, and the listener
    logs again when a connection gets through. Other reports go to the previous handler."""
    previous = loop.get_exception_handler()
    if getattr(previous, "_spyglass_accept", False):
        return

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") == _OUT_OF_RESOURCES:
            sock = context.get("socket")
            try:
                state = _SERVED.get(sock.fileno()) if sock is not None else None
            except (OSError, AttributeError):
                state = None
            if state is not None and state.accept_failing:
                return
            if state is not None:
                state.accept_failing = True
            name = state.name if state is not None else repr(sock)
            _ACCEPT_LOG.log(
                logging.WARNING, f"{name}:failing",
                "%s: cannot accept connections: %s; retrying every second, silent until it recovers",
                name, context.get("exception"),
            )
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    handle._spyglass_accept = True  # type: ignore[attr-defined]
    loop.set_exception_handler(handle)


# -- process-wide and gRPC ----------------------------------------------------------------------


def raise_nofile_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit (what a process may do without
    privileges) and return the (soft, hard) pair now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft, hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:  # e.g. macOS caps below an "unlimited" hard limit
        log.info("cannot raise the open-file limit from %d to %d: %s", soft, target, exc)
        return soft, hard
    return target, hard


def grpc_options(limits: ConnectionLimits) -> list[tuple[str, int]]:
    """Channel arguments giving a gRPC server the same bounds as the HTTP listeners:
    a connection cap, a handshake deadline, an idle timeout, keepalive pings that find dead
    peers, and a bound on concurrent streams per connection."""
    options = [
        ("grpc.max_allowed_incoming_connections", limits.max_connections),
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.max_concurrent_streams", 100),
    ]
    if limits.header_timeout > 0:
        options.append(("grpc.server_handshake_timeout_ms", int(limits.header_timeout * 1000)))
    if limits.idle_timeout > 0:
        options.append(("grpc.max_connection_idle_ms", int(limits.idle_timeout * 1000)))
    return options


def new_state(name: str, limits: ConnectionLimits, metrics: ConnectionMetrics | None) -> _ListenerState:
    return _ListenerState(name, limits, metrics)


def guarded_factory(state: _ListenerState, make_handler: Callable[[], asyncio.Protocol]) -> Callable[[], _Guard]:
    """A protocol factory for ``loop.create_server`` that wraps ``make_handler``'s."""
    return lambda: _Guard(state, make_handler)
