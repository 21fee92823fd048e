"""Adaptive sampling per tenant.

The throughput each collector records and the probabilities the leader computes are keyed
by service; with tenants, the key is the tenant-qualified service ``tenant + SEP +
service``, so tenant ``a``'s traffic of service ``api`` never moves tenant ``b``'s
probabilities for its own ``api``. The sampling stores keep their schema (the key is still
one string), and a strategy request carrying the tenant header is answered from that
tenant's probabilities. Tenant names cannot contain ``SEP``, so the split is unambiguous.
"""

from __future__ import annotations

SEP = "\x1f"  # ASCII unit separator: never in a tenant name, unheard of in a service name


def qualify(tenant: str, service: str) -> str:
    return f"{tenant}{SEP}{service}" if tenant else service


def unqualify(key: str) -> tuple[str, str]:
    """(tenant, service) of a key ``qualify`` made."""
    tenant, sep, service = key.partition(SEP)
    return (tenant, service) if sep else ("", key)
