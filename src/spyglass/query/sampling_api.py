"""Read-only sampling routes on the query HTTP port, for the UI's search page:

* ``GET /api/sampling?service=S``: the strategy SDKs get (proto-JSON, as the collector's);
* ``GET /api/sampling/summary?service=S``: ``{"data": {"type": "file"|"adaptive"|"unknown",
  "operations": {op: probability}, "strategy": ...}}``.

In all-in-one the collector's provider answers. A query-only process reads the adaptive
probabilities from the sampling store of a sqlite data dir (``sampling.db``) when there is
one, or from clickhouse's sampling tables, else answers ``type: unknown``. Served by a middleware because the query API's
``/api/{tail}`` route would otherwise take the path.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from aiohttp import web

from spyglass.collector.sampling.json_forms import proto_json
from spyglass.collector.sampling.provider import StrategyProvider
from spyglass.config import Settings
from spyglass.tenancy.sampling import qualify
from spyglass.tenancy.web import refuse_or_bind, tenant_of


def _summary(provider: StrategyProvider | None, settings: Settings, service: str, storage: Any,
             tenant: str = "") -> dict[str, Any]:
    """How ``service`` of ``tenant`` is sampled (adaptive probabilities are per tenant)."""
    key = qualify(tenant, service)
    if provider is not None:
        describe = getattr(provider, "describe", None)
        out: dict[str, Any] = describe(key) if callable(describe) else {"type": "file"}
        out["service"] = service
        out["strategy"] = json.loads(proto_json(provider.get_tenant_strategy(tenant, service)))
        return out
    store: Any = None
    if settings.storage == "sqlite" and os.path.exists(os.path.join(settings.data_dir, "sampling.db")):
        from spyglass.storage.sqlite.sampling import SqliteSamplingStore

        store = SqliteSamplingStore(settings.data_dir)
    elif settings.storage == "clickhouse" and getattr(storage, "connector", None) is not None:
        from spyglass.storage.clickhouse.sampling import ClickHouseSamplingStore

        store = ClickHouseSamplingStore(storage.connector, storage.config.database)
    if store is None:
        return {"type": "unknown", "service": service}
    try:
        latest = store.get_latest_probabilities()
    finally:
        store.close()
    if not latest:  # no collector computes adaptive probabilities here
        return {"type": "unknown", "service": service}
    return {"type": "adaptive", "service": service, "operations": dict(sorted(latest.get(key, {}).items()))}


def add_sampling_routes(app: web.Application, provider: StrategyProvider | None, settings: Settings,
                        storage: Any = None) -> None:
    base = settings.query_base_path.rstrip("/")
    if base and not base.startswith("/"):
        base = "/" + base
    strategy_path, summary_path = base + "/api/sampling", base + "/api/sampling/summary"

    @web.middleware
    async def sampling_routes(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path not in (strategy_path, summary_path):
            return await handler(request)
        if request.method != "GET":
            return web.Response(status=405, text="method not allowed\n")
        from spyglass.query.http_api import QUERY_SERVICE

        service_obj = request.app.get(QUERY_SERVICE)
        refused = refuse_or_bind(getattr(service_obj, "tenancy", None), request, "query_http", as_json=True)
        if refused is not None:
            return refused
        services = request.query.getall("service", [])
        if len(services) != 1:
            return web.Response(status=400, text="'service' parameter must be provided once\n")
        if request.path == summary_path:
            return web.json_response({"data": await asyncio.to_thread(_summary, provider, settings, services[0], storage,
                                                                      tenant_of(request))})
        if provider is None:
            return web.Response(status=404, text="sampling strategies are served by the collector\n")
        strategy = provider.get_tenant_strategy(tenant_of(request), services[0])
        return web.Response(body=proto_json(strategy), content_type="application/json")

    app.middlewares.append(sampling_routes)
