"""A credential bound to a tenant decides the tenant, whatever order the app's middlewares
were added in: an authentication middleware (here a minimal one binding a ``Principal`` per
bearer token, standing in for the authentication helper's) added after the receiver was
built still runs before the tenant is resolved. Real HTTP on 127.0.0.1."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from spyglass.codecs import otlp_proto
from spyglass.collector.metrics import IngestMetrics
from spyglass.collector.processor import ProcessorConfig, SpanProcessor
from spyglass.collector.receivers import otlp_http
from spyglass.model import Resource, Span
from spyglass.security.principal import Principal, bind_principal
from spyglass.storage.api.tenants import TenantRoutingWriter
from spyglass.storage.memory import MemoryFactory
from spyglass.tenancy import TenancyConfig
from spyglass.tenancy.gate import TenancyGate
from support import wait_for

TOKENS = {"tok-acme": Principal("ci-acme", "acme", frozenset({"write"})),
          "tok-any": Principal("ops", None, frozenset({"write", "admin"}))}


@web.middleware
async def bearer(request: web.Request, handler):  # type: ignore[no-untyped-def]
    principal = TOKENS.get(request.headers.get("Authorization", "").removeprefix("Bearer "))
    bind_principal(principal)
    try:
        return await handler(request)
    finally:
        bind_principal(None)


async def test_a_token_bound_tenant_wins_and_a_contradicting_header_is_refused() -> None:
    storage = MemoryFactory()
    processor = SpanProcessor(TenantRoutingWriter(storage), IngestMetrics(), ProcessorConfig(queue_size=1000))
    processor.start()
    gate = TenancyGate(TenancyConfig(enabled=True, tenants=frozenset({"acme", "globex"})))
    app = otlp_http.build_app(processor, tenancy=gate)
    app.middlewares.append(bearer)  # added after the receiver was built
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/v1/traces"

    def body(trace: int, service: str) -> bytes:
        return otlp_proto.encode_export_request([Span(trace, 1, "op", 1_700_000_000_000_000_000, 1, Resource(service))])

    async def post(data: bytes, **headers: str) -> int:
        async with aiohttp.ClientSession() as session:
            async with session.post(url, data=data, headers={"Content-Type": "application/x-protobuf", **headers}) as r:
                return r.status

    try:
        assert await post(body(1, "by-token"), Authorization="Bearer tok-acme") == 200
        assert await post(body(2, "same"), Authorization="Bearer tok-acme", **{"x-tenant": "acme"}) == 200
        assert await post(body(3, "spoof"), Authorization="Bearer tok-acme", **{"x-tenant": "globex"}) == 403
        assert await post(body(4, "unbound"), Authorization="Bearer tok-any", **{"x-tenant": "globex"}) == 200
        assert await post(body(5, "nobody")) == 401
        wait_for(lambda: storage.for_tenant("acme").trace_reader().get_services() == ["by-token", "same"])
        wait_for(lambda: storage.for_tenant("globex").trace_reader().get_services() == ["unbound"])
        assert storage.trace_reader().get_services() == []
    finally:
        await runner.cleanup()
        processor.close()
