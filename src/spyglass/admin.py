"""The admin HTTP server (Jaeger's 14269): health at ``/`` and Prometheus ``/metrics``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timezone

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from spyglass import __version__


def _compact(obj: object) -> str:
    """JSON without spaces, as Go's encoding/json writes it."""
    return json.dumps(obj, separators=(",", ":"))


def _uptime(seconds: float) -> str:
    """Uptime in Go's ``time.Duration`` text form, as Jaeger reports it."""
    from spyglass.gocompat.godur import format_duration

    return format_duration(int(seconds * 1e9))


def build_admin_app(registry: CollectorRegistry, is_ready: Callable[[], object] = lambda: True) -> web.Application:
    """``is_ready`` returns a bool, or an object with ``healthy`` and ``reason`` (a storage
    ``Health``): when not healthy the 503 body also carries the ``reason``."""
    started_wall = datetime.now(timezone.utc)
    started = time.monotonic()

    async def health(request: web.Request) -> web.Response:
        state = is_ready()
        ready = bool(getattr(state, "healthy", state))
        body = {
            "status": "Server available" if ready else "Server not available",
            "upSince": started_wall.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "uptime": _uptime(time.monotonic() - started),
        }
        reason = getattr(state, "reason", "")
        if not ready and reason:
            body["reason"] = reason
        return web.json_response(body, status=200 if ready else 503, dumps=_compact)

    async def metrics(request: web.Request) -> web.Response:
        resp = web.Response(body=generate_latest(registry))
        resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return resp

    async def version(request: web.Request) -> web.Response:
        return web.json_response({"gitCommit": "", "gitVersion": __version__, "buildDate": ""}, dumps=_compact)

    app = web.Application()
    app.router.add_get("/", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/version", version)
    return app
