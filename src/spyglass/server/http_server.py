"""An aiohttp application served on one host and port, within ``ConnectionLimits``."""

from __future__ import annotations

import asyncio

from aiohttp import web

from spyglass.server import limits as lim
from spyglass.server import security_headers
from spyglass.server.base import Listener
from spyglass.server.limits import ConnectionLimits, ConnectionMetrics
from spyglass.server.tls import ServerTls

# Large enough for a big OTLP or Thrift batch, small enough to bound memory per request.
DEFAULT_MAX_BODY = 64 * 1024 * 1024


class _GuardedSite(web.TCPSite):
    """aiohttp's TCP site with each connection's protocol wrapped by ``limits._Guard``."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, state: lim._ListenerState,
                 tls: ServerTls | None = None, reuse_port: bool = False) -> None:
        super().__init__(runner, host, port, reuse_address=True, reuse_port=reuse_port)
        self._state = state
        self._tls = tls

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        tls: dict[str, object] = {}
        if self._tls is not None:
            # a handshake is bounded like a request's headers: a client that opens and stalls
            # holds a descriptor no longer than --server.header-timeout
            tls = {"ssl": self._tls.context(), "ssl_handshake_timeout": self._state.limits.header_timeout or None}
        self._server = await loop.create_server(
            lim.guarded_factory(self._state, server), self._host, self._port,
            backlog=self._backlog, reuse_address=self._reuse_address, reuse_port=self._reuse_port,
            **tls,  # type: ignore[arg-type]
        )


class HttpServer(Listener):
    """Serves ``app``; ``limits`` bound its connections (see ``spyglass.server.limits``) and
    ``metrics`` counts them per listener ``name``; with ``tls`` it serves HTTPS (the
    certificate reloaded when its files change, see ``spyglass.server.tls``).

    Request bodies are never inflated by aiohttp (``auto_decompress=False``): it inflates
    each chunk whole, which lets a gzip bomb take hundreds of MB before any limit is checked.
    Receivers inflate with a bound instead (``collector.receivers.body``)."""

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        app: web.Application,
        limits: ConnectionLimits | None = None,
        metrics: ConnectionMetrics | None = None,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.app = app
        self.limits = limits or ConnectionLimits()
        self.state = lim.new_state(name, self.limits, metrics)
        self.tls: ServerTls | None = None
        self._runner: web.AppRunner | None = None
        self._site: _GuardedSite | None = None
        self.reuse_port = False  # collector workers share the port (SO_REUSEPORT)

    def set_limits(self, limits: ConnectionLimits, metrics: ConnectionMetrics | None) -> None:
        """Replace the limits and metrics given at construction (before ``start``)."""
        self.limits = limits
        self.state = lim.new_state(self.name, limits, metrics)

    @property
    def open_connections(self) -> int:
        return self.state.open

    async def start(self) -> None:
        lim.install_accept_error_handler(asyncio.get_running_loop())
        if lim.track_requests not in self.app.middlewares:
            self.app.middlewares.insert(0, lim.track_requests)
        security_headers.install(self.app, hsts=self.tls is not None)
        # lingering_time bounds how long a refused request's unread body may delay stop().
        self._runner = web.AppRunner(
            self.app,
            access_log=None,
            handle_signals=False,
            lingering_time=1.0,
            keepalive_timeout=self.limits.idle_timeout,
            auto_decompress=False,
            max_line_size=lim.MAX_LINE_SIZE,
            max_field_size=lim.MAX_LINE_SIZE,
            logger=lim.ServerLog(self.state),
        )
        await self._runner.setup()
        site = _GuardedSite(self._runner, self.host, self.port, self.state, self.tls, self.reuse_port)
        await site.start()
        self._site = site
        server = site._server  # the asyncio server; aiohttp does not expose the bound port
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
            lim.register_listening_sockets(list(server.sockets), self.state)

    async def stop(self) -> None:
        if self._site is not None and self._site._server is not None:
            lim.unregister_listening_sockets(list(self._site._server.sockets))
        self._site = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
