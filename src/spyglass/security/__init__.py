"""Authentication and roles for every listener (docs/security.md, "Authentication").

``principal``: who a request is from (shared with tenancy). ``htpasswd``, ``tokens``, ``oidc``:
the three kinds of credentials. ``authenticator``: one entry point that turns an ``Authorization``
header into a ``Principal`` or a refusal. ``http_auth`` (aiohttp middleware), ``grpc_auth``
(grpc.aio interceptor) and ``sessions``/``login`` (the UI's sign-in) apply it.
"""

from spyglass.security.principal import (
    ADMIN,
    READ,
    ROLES,
    WRITE,
    Principal,
    bind_principal,
    current_principal,
    unbind_principal,
)

__all__ = [
    "ADMIN",
    "READ",
    "ROLES",
    "WRITE",
    "Principal",
    "bind_principal",
    "current_principal",
    "unbind_principal",
]
