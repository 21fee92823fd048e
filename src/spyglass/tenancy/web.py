"""Tenancy for aiohttp apps (receivers and the query API): a middleware that resolves the
tenant before the handler runs, answering 401 / 400 / 403 with a one-line reason."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from spyglass.tenancy.gate import TenancyGate
from spyglass.tenancy.resolve import TenantError

TENANT = web.RequestKey("spyglass_tenant", str)  # what the middleware sets on each request
STATUS = {"missing": 401, "invalid": 400, "refused": 403}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def tenant_of(request: web.Request) -> str:
    """The tenant the middleware resolved (``""`` without tenancy)."""
    return request.get(TENANT, "")


def refusal(exc: TenantError, as_json: bool = False) -> web.Response:
    status = STATUS[exc.kind]
    if as_json:  # Jaeger's query API error shape
        return web.json_response({"data": None, "total": 0, "limit": 0, "offset": 0,
                                  "errors": [{"code": status, "msg": str(exc)}]}, status=status)
    return web.Response(status=status, text=f"{exc}\n")


def middleware(gate: TenancyGate, api: str, *, applies: Callable[[web.Request], bool] = lambda r: True,
               as_json: bool = False) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Resolve every request's tenant (those ``applies`` selects) into ``request[TENANT]``."""

    @web.middleware
    async def tenancy(request: web.Request, handler: Handler) -> web.StreamResponse:
        if gate.enabled and applies(request):
            try:
                request[TENANT] = gate.resolve(request.headers.getall(gate.config.header, []), api)
            except TenantError as exc:
                return refusal(exc, as_json)
        return await handler(request)

    return tenancy


def install(app: web.Application, gate: TenancyGate | None, api: str, **kwargs: object) -> None:
    if gate is not None and gate.enabled:
        app.middlewares.append(middleware(gate, api, **kwargs))  # type: ignore[arg-type]


def too_many(exc: Exception) -> web.Response:
    return web.Response(status=429, text=f"{exc}\n", headers={"Retry-After": "1"})
