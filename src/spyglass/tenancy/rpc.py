"""Tenancy for gRPC services: the tenant from the call's metadata, or the call aborted with
UNAUTHENTICATED / INVALID_ARGUMENT / PERMISSION_DENIED and a one-line reason."""

from __future__ import annotations

import grpc

from spyglass.tenancy.gate import TenancyGate
from spyglass.tenancy.resolve import TenantError

CODES = {"missing": grpc.StatusCode.UNAUTHENTICATED, "invalid": grpc.StatusCode.INVALID_ARGUMENT,
         "refused": grpc.StatusCode.PERMISSION_DENIED}


async def tenant_of(gate: TenancyGate | None, context: grpc.aio.ServicerContext, api: str) -> str:
    """The call's tenant (``""`` without tenancy); aborts the call when it has none."""
    if gate is None or not gate.enabled:
        return ""
    header = gate.config.header
    values = [v if isinstance(v, str) else v.decode("utf-8", "replace")
              for k, v in (context.invocation_metadata() or ()) if k.lower() == header]
    try:
        return gate.resolve(values, api)
    except TenantError as exc:
        await context.abort(CODES[exc.kind], str(exc))
        raise  # not reached: abort raises
