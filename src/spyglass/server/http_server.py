"""An aiohttp application served on one host and port."""

from __future__ import annotations

from aiohttp import web

from spyglass.server.base import Listener

# Large enough for a big OTLP or Thrift batch, small enough to bound memory per request.
DEFAULT_MAX_BODY = 64 * 1024 * 1024


class HttpServer(Listener):
    def __init__(self, name: str, host: str, port: int, app: web.Application) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.app = app
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        # lingering_time bounds how long a refused request's unread body may delay stop().
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False, lingering_time=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = site._server  # the asyncio server; aiohttp does not expose the bound port
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
