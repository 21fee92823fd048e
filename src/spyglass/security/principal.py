"""Who a request comes from: the ``Principal`` an authenticator accepted, bound to the request.

The auth middleware (aiohttp) and the gRPC interceptors bind it for the duration of one request
with ``bind_principal``; anything the request runs (a query, a receiver's store call) reads it with
``current_principal`` without it being threaded through every signature. A ``ContextVar`` is what
makes that safe: each asyncio task (one per aiohttp request, one per gRPC call) sees its own value,
and a thread started with ``contextvars.copy_context`` (``asyncio.to_thread``) inherits it.

The tenancy code reads ``current_principal().tenant`` to bind a request to the tenant its credential
is for; ``None`` (no authentication, or a credential bound to no tenant) leaves that to the tenant
header.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass

READ = "read"  # the query APIs and the UI's data
WRITE = "write"  # the receivers (ingest)
ADMIN = "admin"  # archiving traces, changing sampling configuration
ROLES = frozenset({READ, WRITE, ADMIN})


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. ``name`` is safe to log and show (a user name, a JWT subject, or a
    token's fingerprint, never the secret itself)."""

    name: str  # user name, token label or JWT subject
    tenant: str | None  # tenant the credential is bound to (tokens file / JWT claim), None if unbound
    roles: frozenset[str]  # subset of {"read", "write", "admin"}

    def has(self, role: str) -> bool:
        """Whether the principal may do what ``role`` allows."""
        return role in self.roles


_CURRENT: ContextVar[Principal | None] = ContextVar("spyglass_principal", default=None)


def current_principal() -> Principal | None:
    """The principal of the request being served; None when none was authenticated."""
    return _CURRENT.get()


def bind_principal(principal: Principal | None) -> contextvars.Token[Principal | None]:
    """Make ``principal`` the current one; give the token to ``unbind_principal`` when done."""
    return _CURRENT.set(principal)


def unbind_principal(token: contextvars.Token[Principal | None]) -> None:
    """Restore the principal that was current before ``bind_principal`` returned ``token``."""
    _CURRENT.reset(token)


def parse_roles(text: str | Iterable[str], default: frozenset[str]) -> frozenset[str]:
    """Roles from ``read,write`` (or a list of names); ``default`` for an empty value. An unknown
    name is a ``ValueError`` so a typo in a credentials file is caught at load, not at a 403."""
    items = [t.strip().lower() for t in (text.replace(" ", ",").split(",") if isinstance(text, str) else text)]
    names = frozenset(t for t in items if t)
    if not names:
        return default
    unknown = names - ROLES
    if unknown:
        raise ValueError(f"unknown role(s) {', '.join(sorted(unknown))}; known: admin, read, write")
    return names
