"""The authenticated caller of the current request.

Authentication middleware binds a ``Principal`` for each request; tenancy and role checks
read it. A ``ContextVar`` because each request (an aiohttp task, a gRPC call) runs in its
own context, so concurrent requests never see each other's principal.
"""

from __future__ import annotations

import contextvars
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    name: str
    tenant: str | None  # tenant the credential is bound to, None if unbound
    roles: frozenset[str]  # subset of {"read", "write", "admin"}


_CURRENT: ContextVar[Principal | None] = ContextVar("spyglass_principal", default=None)


def current_principal() -> Principal | None:
    """The principal bound to this request, None when nobody authenticated it."""
    return _CURRENT.get()


def bind_principal(principal: Principal | None) -> contextvars.Token:
    """Make ``principal`` the current one; ``_CURRENT.reset(token)`` undoes it."""
    return _CURRENT.set(principal)
