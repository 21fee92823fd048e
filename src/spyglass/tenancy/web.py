"""Tenancy for aiohttp apps (receivers and the query API): the tenant of a request, or the
401 / 400 / 403 answer with a one-line reason.

Handlers call ``refuse_or_bind`` first thing (before reading a body). It runs inside the
handler rather than as a middleware on purpose: whatever middlewares an app has (the
authentication that binds the caller's credential, metrics) have then all run, so a
credential's tenant is always known here, whatever order they were added in.
"""

from __future__ import annotations

from aiohttp import web

from spyglass.tenancy.gate import TenancyGate
from spyglass.tenancy.resolve import TenantError

TENANT = web.RequestKey("spyglass_tenant", str)  # set on each request by refuse_or_bind
STATUS = {"missing": 401, "invalid": 400, "refused": 403}


def tenant_of(request: web.Request) -> str:
    """The tenant ``refuse_or_bind`` found (``""`` without tenancy)."""
    return request.get(TENANT, "")


def refusal(exc: TenantError, as_json: bool = False) -> web.Response:
    status = STATUS[exc.kind]
    if as_json:  # Jaeger's query API error shape
        return web.json_response({"data": None, "total": 0, "limit": 0, "offset": 0,
                                  "errors": [{"code": status, "msg": str(exc)}]}, status=status)
    return web.Response(status=status, text=f"{exc}\n")


def refuse_or_bind(gate: TenancyGate | None, request: web.Request, api: str, *,
                   as_json: bool = False) -> web.Response | None:
    """Find the request's tenant (``tenant_of`` then returns it) and return None, or return
    the refusal to send. Without tenancy: None, tenant ``""``."""
    if gate is None or not gate.enabled or TENANT in request:
        return None
    try:
        request[TENANT] = gate.resolve(request.headers.getall(gate.config.header, []), api)
    except TenantError as exc:
        return refusal(exc, as_json)
    return None
