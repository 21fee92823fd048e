"""Sampling strategies over HTTP.

* ``build_sampling_app(provider)``: the agent's sampling port (5778). ``GET /sampling``
  answers proto-JSON, ``GET /`` the legacy Thrift JSON with integer enums (older SDKs).
* ``add_routes(app, provider)``: ``GET /api/sampling`` (proto-JSON) on the collector's
  HTTP port (14268), next to ``POST /api/traces``.

``service`` must be given exactly once, else 400 ``'service' parameter must be provided
once``; a provider failure is 500 ``collector error: ...`` (Jaeger's texts, plain text
ending in a newline as Go's ``http.Error`` writes them). Encoded answers are cached per
service until the provider's strategies change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web

from spyglass.codecs.proto.jaeger.api_v2 import sampling_pb2 as pb
from spyglass.collector.sampling.json_forms import legacy_json, proto_json
from spyglass.collector.sampling.provider import StrategyProvider
from spyglass.tenancy import web as tenancy_web
from spyglass.tenancy.gate import TenancyGate
from spyglass.tenancy.resolve import TenantError, TenantMissing

log = logging.getLogger(__name__)

_MAX_CACHED = 10_000  # distinct services; cleared beyond this, so odd names cannot grow it


def _text_error(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text + "\n", content_type="text/plain", charset="utf-8")


class _Handler:
    def __init__(self, provider: StrategyProvider, encode: Callable[[pb.SamplingStrategyResponse], bytes],
                 tenancy: TenancyGate | None = None) -> None:
        self.provider = provider
        self.encode = encode
        self.tenancy = tenancy
        self._cache: dict[tuple[str, str], bytes] = {}
        self._generation = provider.generation

    async def handle(self, request: web.Request) -> web.Response:
        services = request.query.getall("service", [])
        if len(services) != 1:
            return _text_error(400, "'service' parameter must be provided once")
        service = services[0]
        tenant = ""
        if self.tenancy is not None and self.tenancy.enabled:
            # SDKs rarely send a tenant with strategy requests: without one they get the
            # strategies every tenant shares; with one, that tenant's adaptive probabilities.
            try:
                tenant = self.tenancy.resolve(request.headers.getall(self.tenancy.config.header, []), "sampling_http")
            except TenantMissing:
                tenant = ""
            except TenantError as exc:
                return tenancy_web.refusal(exc)
        provider = self.provider
        if provider.generation != self._generation:
            self._cache = {}
            self._generation = provider.generation
        body = self._cache.get((tenant, service))
        if body is None:
            try:
                body = self.encode(provider.get_tenant_strategy(tenant, service) if tenant else provider.get_strategy(service))
            except Exception as exc:  # a provider failure is the server's, not the client's
                log.exception("sampling strategy for %r failed", service)
                return _text_error(500, f"collector error: {exc}")
            if len(self._cache) >= _MAX_CACHED:
                self._cache = {}
            self._cache[(tenant, service)] = body
        return web.Response(body=body, content_type="application/json")


def add_routes(app: web.Application, provider: StrategyProvider, tenancy: TenancyGate | None = None) -> None:
    """``GET /api/sampling?service=S`` (proto-JSON), for the collector's HTTP app."""
    app.router.add_get("/api/sampling", _Handler(provider, proto_json, tenancy).handle)


def build_sampling_app(provider: StrategyProvider, tenancy: TenancyGate | None = None) -> web.Application:
    """The agent's sampling HTTP app: ``/sampling`` (proto-JSON) and ``/`` (legacy)."""
    app = web.Application()
    app.router.add_get("/sampling", _Handler(provider, proto_json, tenancy).handle)
    app.router.add_get("/", _Handler(provider, legacy_json, tenancy).handle)
    return app
