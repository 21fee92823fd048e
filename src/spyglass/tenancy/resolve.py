"""The tenant of one request, or why it has none.

Order (Jaeger's rule, plus credentials): a credential bound to a tenant decides it, and a
header naming another tenant is refused rather than silently ignored (a client that thinks
it writes to ``b`` with ``a``'s token has a bug worth hearing about). Otherwise the header
decides. With tenancy off every request is tenant ``""``, whatever it sends.
"""

from __future__ import annotations

from spyglass.security.principal import current_principal
from spyglass.tenancy.config import TenancyConfig, valid_tenant


class TenantError(Exception):
    """No usable tenant; ``kind`` picks the answer: 401/UNAUTHENTICATED for ``missing``,
    400/INVALID_ARGUMENT for ``invalid``, 403/PERMISSION_DENIED for ``refused``."""

    kind = "refused"


class TenantMissing(TenantError):
    kind = "missing"


class TenantInvalid(TenantError):
    kind = "invalid"


class TenantRefused(TenantError):
    kind = "refused"


def resolve_tenant(config: TenancyConfig, header_values: list[str]) -> str:
    """The tenant of a request carrying ``header_values`` for ``config.header`` (every
    value it sent: two different ones are refused, not guessed between)."""
    if not config.enabled:
        return ""
    values = list(dict.fromkeys(v.strip() for v in header_values if v.strip()))
    principal = current_principal()
    bound = principal.tenant if principal is not None else None
    if bound:
        if any(v != bound for v in values):
            raise TenantRefused(f"the credential of {principal.name!r} is bound to another tenant than "  # type: ignore[union-attr]
                                f"the {config.header} header names")
        tenant = bound
    elif not values:
        raise TenantMissing(f"missing tenant header {config.header!r}")
    elif len(values) > 1:
        raise TenantInvalid(f"more than one tenant in header {config.header!r}")
    else:
        tenant = values[0]
        if not valid_tenant(tenant):
            raise TenantInvalid(f"invalid tenant in header {config.header!r} (letters, digits, _ and -, at most 64)")
    if config.tenants and tenant not in config.tenants:
        raise TenantRefused(f"unknown tenant {tenant!r}" if not bound else "the credential's tenant is not allowed")
    return tenant
