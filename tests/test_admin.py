"""The admin server: health JSON as Jaeger's, Prometheus metrics, readiness."""

from __future__ import annotations

import re

import aiohttp
from prometheus_client import CollectorRegistry, Counter

from spyglass.admin import build_admin_app
from spyglass.server import HttpServer


async def test_health_metrics_and_readiness() -> None:
    registry = CollectorRegistry()
    Counter("spyglass_test_things", "things", registry=registry).inc(3)
    ready = {"value": False}
    server = HttpServer("admin", "127.0.0.1", 0, build_admin_app(registry, lambda: ready["value"]))
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{server.port}"
            async with http.get(base + "/") as resp:
                assert resp.status == 503
                assert (await resp.json())["status"] == "Server not available"
            ready["value"] = True
            async with http.get(base + "/") as resp:
                text = await resp.text()
                assert resp.status == 200
                assert re.fullmatch(
                    r'\{"status":"Server available","upSince":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ","uptime":"[0-9.]+(ns|µs|ms|s)"\}',
                    text,
                ), text
            async with http.get(base + "/metrics") as resp:
                assert resp.status == 200
                assert "spyglass_test_things_total 3.0" in await resp.text()
    finally:
        await server.stop()
