"""Authentication and roles for every listener (docs/security.md, "Authentication").

``principal``: who a request is from (shared with tenancy). ``htpasswd``, ``tokens``, ``oidc``:
the three kinds of credentials (``filecache`` re-reads their files). ``authenticator``: one entry
point that turns an ``Authorization`` value into a ``Principal`` or a refusal; ``policy``: the role
each route needs. ``http_auth`` (aiohttp middleware), ``grpc_auth`` (grpc.aio interceptor) and
``sessions``/``login`` (the UI's sign-in) apply it; ``setup`` wires them from the settings.
``forwarding`` and ``client_token``: credentials Spyglass itself sends (tail-sampling peers, the
agent). ``redact``: credentials kept out of logs.
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
